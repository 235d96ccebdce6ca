package backupjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

// KindILOBackup is the kind of an iLO configuration backup file in the store and in state.
const KindILOBackup = "ilo-backup"

// ILOBackupExt is the extension of an iLO backup file in the store (the iLO's own
// files end in .bak too).
const ILOBackupExt = "bak"

// Attribute keys an iLO backup records in the store (never secrets).
const (
	AttrSerial             = "serial"
	AttrGeneration         = "generation"
	AttrFirmware           = "firmware"
	AttrModel              = "model"
	AttrDeviceFileName     = "device_file_name"
	AttrDeviceFileLocation = "device_file_location"
	// AttrProtected is "true" when the backup was taken with a backup password (it
	// then restores only with that password). The key avoids the word "password":
	// the store refuses secret-looking keys.
	AttrProtected = "protected"
)

// ILORequest is one iLO backup.
type ILORequest struct {
	ILO *redfish.Client
	Target
	// Name is the device folder and file-name prefix; "" means ILODeviceName of the
	// serial number the iLO reports (the host when it reports none).
	Name string
	// BackupPassword, when set, makes the iLO encrypt the backup with it (≤ 32
	// characters). It is never stored or logged.
	BackupPassword string
}

// ILOResult is what a finished iLO backup produced.
type ILOResult struct {
	Backup  backupstore.Backup
	Manager redfish.Manager
	// DeviceFileName is the name the iLO gave the backup in its NAND
	// (HPE_<serial>_<YYYYMMDD>_<HHMM>.bak): recorded as data, never used as a path.
	DeviceFileName string
	// DeviceFileLocation is the checked path the backup was downloaded from.
	DeviceFileLocation string
	PasswordProtected  bool
	// LogoutFailed is the logout's error when the backup was committed and only
	// the logout failed: a warning, not a failed backup.
	LogoutFailed error
}

// ILODeviceName is the default backup folder of an iLO: its server's serial number,
// made safe for file names. A backup restores only onto the hardware it was taken
// from, so the serial keeps each server's backups together even when its iLO changes
// address. When the iLO reports no serial (seen after a system board replacement),
// the host is used.
func ILODeviceName(serial, host string) (string, error) {
	if strings.TrimSpace(serial) != "" {
		if name, err := backupstore.SanitizeName(serial); err == nil {
			return name, nil
		}
	}
	name, err := backupstore.SanitizeName(host)
	if err != nil {
		return "", fmt.Errorf("neither the serial number %q nor the host %q can name a backup folder (%v); set name", serial, host, err)
	}
	return name, nil
}

// RunILO backs up one iLO: log in, discover the manager and its backup service, read
// the service (which makes the iLO write a fresh backup to its NAND), check the
// location it offers (a same-origin path only: nothing is written for any other),
// stream the download into the local store (temporary file, SHA-256 while streaming,
// fsync, rename, mode 0600), record the backup, log out (always). A failed run leaves
// nothing in the local store.
func RunILO(ctx context.Context, store *backupstore.Store, req ILORequest) (ILOResult, error) {
	rc := req.ILO
	if err := redfish.ValidateBackupPassword(req.BackupPassword); err != nil {
		return ILOResult{}, fmt.Errorf("%s: %w", rc.Device(), err)
	}
	var res ILOResult
	var svc redfish.BackupService
	b, logoutFailed, err := runBackup(ctx, store, rc.Session(), req.Target, steps{
		family: backupstore.FamilyILO,
		device: rc.Device(),
		name:   req.Name,
		prepare: func(ctx context.Context) (string, error) {
			mgr, err := rc.Discover(ctx)
			if err != nil {
				return "", err
			}
			res.Manager = mgr
			folder := req.Name
			if folder == "" {
				if folder, err = ILODeviceName(mgr.Serial, req.Host); err != nil {
					return "", &StepError{Step: "name the backup folder", Err: fmt.Errorf("%s: %w", rc.Device(), err)}
				}
			}
			// Reading the service triggers the backup on the iLO. The location it
			// offers is device text: it is checked before anything is written locally.
			if svc, err = rc.ReadBackupService(ctx); err != nil {
				return folder, err
			}
			location, err := redfish.ResolveBackupLocation(svc.BackupFileLocation)
			if err != nil {
				return folder, &client.DeviceError{Device: rc.Device(), Step: "read backup service", Message: err.Error(),
					Hint: "nothing was downloaded or written; this is not what an HPE iLO sends: check that the address is the iLO and that nothing between rewrites its answers"}
			}
			res.DeviceFileLocation = location
			res.DeviceFileName = path.Base(location)
			return folder, nil
		},
		write: func(ctx context.Context, run *backupstore.Run) (map[string]string, error) {
			if err := download(ctx, rc, run, svc.BackupFileLocation, req.BackupPassword); err != nil {
				return nil, err
			}
			res.PasswordProtected = req.BackupPassword != ""
			return map[string]string{
				AttrSerial:             res.Manager.Serial,
				AttrGeneration:         res.Manager.Generation,
				AttrFirmware:           res.Manager.Firmware,
				AttrModel:              res.Manager.Model,
				AttrDeviceFileName:     res.DeviceFileName,
				AttrDeviceFileLocation: res.DeviceFileLocation,
				AttrProtected:          strconv.FormatBool(res.PasswordProtected),
			}, nil
		},
	})
	res.Backup, res.LogoutFailed = b, logoutFailed
	return res, err
}

// download streams the iLO's backup file at location into run, and checks that it
// arrived whole: as long as the iLO announced, and not empty.
func download(ctx context.Context, rc *redfish.Client, run *backupstore.Run, location, password string) error {
	body, size, err := rc.OpenBackup(ctx, location, password)
	if err != nil {
		return err
	}
	src := &downloadReader{r: body}
	file, err := run.WriteFile(ctx, KindILOBackup, ILOBackupExt, src)
	// Everything was read, or the write failed: either way the body is done with,
	// and a failure to close it changes nothing in what was stored.
	_ = body.Close()
	if err != nil {
		if src.err != nil {
			return &client.DeviceError{Device: rc.Device(), Step: "download backup", Err: src.err,
				Message: fmt.Sprintf("the download broke after %d bytes: %v", src.n, src.err),
				Hint:    "nothing was kept; retry (check the network path to the iLO if it repeats)"}
		}
		return &StepError{Step: "store the backup", Err: fmt.Errorf("%s: store the backup: %w", rc.Device(), err)}
	}
	if size >= 0 && file.Size != size {
		return &client.DeviceError{Device: rc.Device(), Step: "download backup",
			Message: fmt.Sprintf("the iLO announced %d bytes but sent %d", size, file.Size),
			Hint:    "nothing was kept; retry"}
	}
	if file.Size == 0 {
		return &client.DeviceError{Device: rc.Device(), Step: "download backup",
			Message: "the iLO sent an empty backup file", Hint: "nothing was kept; retry, and reset the iLO if it repeats"}
	}
	return nil
}

// downloadReader remembers a failure of the download itself (as opposed to the local
// write), so the error can name the right step.
type downloadReader struct {
	r   io.Reader
	n   int64
	err error
}

func (d *downloadReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		d.err = err
	}
	return n, err
}
