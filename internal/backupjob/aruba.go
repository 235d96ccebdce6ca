// Package backupjob runs one backup of one device from start to end: the device
// protocol steps, the local store, remote verification, cleanup. It holds the order of
// the steps and what happens when one fails; it knows nothing about Terraform.
package backupjob

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/aruba"
)

// File kinds recorded in the store and in state.
const (
	KindRunningConfig    = "running-config"
	KindRunningConfigSCP = "running-config-scp"
	KindFlashArchiveSCP  = "flash-archive-scp"
	// Copies in the store of the files pushed by SCP (ArubaSCP.CopyToStore).
	KindRunningConfigFlash = "running-config-flash"
	KindFlashArchive       = "flash-archive"
)

// ArubaRequest is one conductor backup.
type ArubaRequest struct {
	Conductor *aruba.Conductor
	Target
	Name        string // folder and file-name prefix; "" means the device's hostname
	ConfigPath  string
	FlashBackup bool
	SCP         *ArubaSCP
	// IgnoreLines: running-config lines that change on every run (timestamps,
	// counters) and take no part in the comparison with the previous backup.
	IgnoreLines []*regexp.Regexp
}

// ArubaResult is what a finished backup produced.
type ArubaResult struct {
	Backup               backupstore.Backup
	Hostname             string
	RunningConfigChanged bool
	// ConfigDiff compares the running config with the previous backup's; its diff
	// is one of the backup's files.
	ConfigDiff TextDiff
	// LogoutFailed is the logout's error when the backup was committed and only
	// the logout failed: a warning, not a failed backup.
	LogoutFailed error
}

// RunAruba backs up one conductor: log in, save the running config locally (always),
// and with an SCP server: save the running config to flash, archive the flash, have the
// conductor push both under timestamped names, verify them over SFTP, clean the tar
// files from flash (also after a failure), log out (always). A failed run leaves
// nothing in the local store.
func RunAruba(ctx context.Context, store *backupstore.Store, req ArubaRequest) (ArubaResult, error) {
	var res ArubaResult
	var folder string // the device's folder: also the prefix of the SCP file names
	var previous backupstore.Backup
	var prevErr error
	cond := req.Conductor
	b, logoutFailed, err := runBackup(ctx, store, cond.Session(), req.Target, steps{
		family: backupstore.FamilyAruba,
		device: cond.Device(),
		name:   req.Name,
		prepare: func(ctx context.Context) (string, error) {
			folder = req.Name
			if folder == "" {
				hostname, err := cond.Hostname(ctx)
				if err != nil {
					return "", err
				}
				res.Hostname = hostname
				if folder, err = backupstore.SanitizeName(hostname); err != nil {
					return "", &StepError{Step: "name the backup folder",
						Err: fmt.Errorf("%s: the hostname %q cannot name a backup folder (%v); set name", cond.Device(), hostname, err)}
				}
			}
			previous, prevErr = store.Latest(ctx, backupstore.FamilyAruba, folder)
			return folder, nil
		},
		write: func(ctx context.Context, run *backupstore.Run) (map[string]string, error) {
			text, err := cond.RunningConfig(ctx)
			if err != nil {
				return nil, err
			}
			local, err := run.WriteFile(ctx, KindRunningConfig, "cfg", strings.NewReader(text))
			if err != nil {
				return nil, &StepError{Step: "store the running config", Err: fmt.Errorf("%s: store the running config: %w", cond.Device(), err)}
			}
			if req.SCP != nil {
				if err := pushToSCP(ctx, req, run, folder); err != nil {
					return nil, err
				}
			}
			// After the SCP copies, so that the diff is the backup's last file.
			if res.ConfigDiff, err = diffText(ctx, store, run, previous, prevErr, local, []byte(text), req.IgnoreLines); err != nil {
				return nil, fmt.Errorf("%s: %w", cond.Device(), err)
			}
			res.RunningConfigChanged = res.ConfigDiff.Changed
			attrs := map[string]string{"config_path": req.ConfigPath}
			if res.Hostname != "" {
				attrs["hostname"] = res.Hostname
			}
			return attrs, nil
		},
	})
	res.Backup, res.LogoutFailed = b, logoutFailed
	return res, err
}
