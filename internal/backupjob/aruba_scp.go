package backupjob

// The SCP part of a conductor backup: the conductor pushes its files to an SCP
// server, and the provider verifies them there over SFTP.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/sftpverify"
)

// Fixed names on the conductor's flash: there is no API to delete an arbitrary flash
// file, so each run overwrites the previous one (history lives at the destination).
const (
	flashConfigName  = "infrabackup-running.cfg"
	flashArchiveBase = "infrabackup-flash"
)

// CleanupTimeout bounds the removal of the flash archive. It runs on a context of its
// own, like logout: after a timeout or an interrupt the archive (configuration,
// certificates, keys) must still leave the conductor.
const CleanupTimeout = 30 * time.Second

// ArubaSCP says where a conductor pushes its files and how the provider checks them.
type ArubaSCP struct {
	Host      string // as configured: a name or an address
	Port      int    // SSH port the provider verifies on (conductors always push to 22)
	Username  string
	Password  string
	RemoteDir string // relative to the SCP user's home; must exist
	Verify    bool
	// CopyToStore copies every pushed file into the backup store while it is
	// verified (one SFTP read for both); it needs Verify.
	CopyToStore bool
	// Host-key checking for verification.
	HostKey               string
	HostKeyFingerprint    string
	InsecureIgnoreHostKey bool
}

// pushToSCP runs the flash and SCP steps, cleaning the tar files from flash whenever a
// flash backup was attempted. With verification on, the SFTP connection is opened
// first: a wrong host key or password then fails before the device does any work, and
// remote_dir is created (the conductor's SCP client does not create folders).
func pushToSCP(ctx context.Context, req ArubaRequest, run *backupstore.Run, device string) (err error) {
	cond := req.Conductor
	scp := req.SCP
	addr, err := ResolveSCPHost(ctx, scp.Host)
	if err != nil {
		return &client.DeviceError{Device: "SCP server " + scp.Host, Step: "resolve address", Err: err,
			Hint: "set scp.host to an address or a name this machine can resolve"}
	}
	var verifier *sftpverify.Client
	server := "SCP server " + net.JoinHostPort(addr, strconv.Itoa(scp.Port))
	if scp.Verify {
		verifier, err = sftpverify.Dial(ctx, sftpverify.Config{
			Addr: net.JoinHostPort(addr, strconv.Itoa(scp.Port)), Username: scp.Username, Password: scp.Password,
			HostKey: scp.HostKey, HostKeyFingerprint: scp.HostKeyFingerprint, InsecureIgnoreHostKey: scp.InsecureIgnoreHostKey,
			Timeout: 30 * time.Second,
		})
		if err != nil {
			return &client.DeviceError{Device: server, Step: "connect over SFTP to verify uploads", Err: err}
		}
		// Closing the verifying connection changes nothing the backup recorded.
		defer func() { _ = verifier.Close() }()
		if scp.RemoteDir != "" {
			if err := verifier.MkdirAll(ctx, scp.RemoteDir); err != nil {
				return &client.DeviceError{Device: server, Step: "create " + scp.RemoteDir, Err: err}
			}
		}
	}
	if err := cond.CopyRunningToFlash(ctx, req.ConfigPath, flashConfigName); err != nil {
		return err
	}
	type upload struct{ kind, source, dest, storeKind, ext string }
	uploads := []upload{{KindRunningConfigSCP, flashConfigName, remoteName(scp.RemoteDir, device, run.ID(), KindRunningConfig, "cfg"), KindRunningConfigFlash, "cfg"}}
	if req.FlashBackup {
		defer func() {
			// The archive is removed whatever happened after it was asked for, also
			// when ctx has ended. A cleanup failure joins the error that came first
			// (which keeps naming the step: Step reads the first): the user must
			// learn that a tar file stays on flash, whatever else went wrong.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
			defer cancel()
			if cerr := cond.TarFlashClean(cctx, req.ConfigPath); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}()
		archive, err := cond.FlashBackup(ctx, req.ConfigPath, flashArchiveBase)
		if err != nil {
			return err
		}
		uploads = append(uploads, upload{KindFlashArchiveSCP, archive, remoteName(scp.RemoteDir, device, run.ID(), "flash", "tar.gz"), KindFlashArchive, "tar.gz"})
	}
	for _, u := range uploads {
		if err := cond.CopyFlashToSCP(ctx, req.ConfigPath, aruba.SCPCopy{
			SourceFile: u.source, Host: addr, Username: scp.Username, Password: scp.Password, DestFile: u.dest,
		}); err != nil {
			return err
		}
	}
	for _, u := range uploads {
		f := backupstore.File{Kind: u.kind, Location: scpLocation(scp, addr, u.dest)}
		if verifier != nil {
			var size int64
			var sum string
			var err error
			if scp.CopyToStore {
				size, sum, err = copyToStore(ctx, verifier, run, server, u.dest, u.storeKind, u.ext)
			} else {
				size, sum, err = verifier.Hash(ctx, u.dest)
			}
			if err != nil {
				var de *client.DeviceError
				if errors.As(err, &de) {
					return err
				}
				return &client.DeviceError{Device: server, Step: "verify " + u.dest, Err: err,
					Hint: "the conductor reported the upload as done but the file cannot be read back; check scp.remote_dir and the SCP user's home"}
			}
			if size < minPlausibleSize(u.kind) {
				return &client.DeviceError{Device: server, Step: "verify " + u.dest,
					Message: fmt.Sprintf("the file holds %d bytes, too few for a %s", size, u.kind)}
			}
			f.Size, f.SHA256 = size, sum
		}
		if err := run.AddFile(f); err != nil {
			return &StepError{Step: "record the SCP copies", Err: fmt.Errorf("%s: record %s: %w", cond.Device(), f.Kind, err)}
		}
	}
	return nil
}

// copyToStore reads the pushed file at dest over SFTP once, verifying it and
// streaming it into run as storeKind. The SHA-256 the store computed must be the one
// read on the SFTP server. A failed copy fails the backup (the run is then aborted,
// so nothing of it stays visible).
func copyToStore(ctx context.Context, verifier *sftpverify.Client, run *backupstore.Run, server, dest, storeKind, ext string) (int64, string, error) {
	var stored backupstore.File
	var storeErr error
	size, sum, err := verifier.Read(ctx, dest, func(r io.Reader) error {
		stored, storeErr = run.WriteFile(ctx, storeKind, ext, r)
		return storeErr
	})
	switch {
	case err != nil && storeErr != nil && errors.Is(err, storeErr) && ctx.Err() == nil: // the deadline ends both sides: not the store's doing
		return 0, "", &client.DeviceError{Device: server, Step: "copy " + dest + " into the backup store", Err: storeErr,
			Hint: "the file on the SCP server is intact; nothing of this backup was kept in the store: check the store and retry, or set scp.copy_to_store = false"}
	case err != nil:
		return 0, "", err
	case stored.SHA256 != sum || stored.Size != size:
		return 0, "", &client.DeviceError{Device: server, Step: "copy " + dest + " into the backup store",
			Message: fmt.Sprintf("the store received %d bytes with SHA-256 %s, but %d bytes with SHA-256 %s were read on the SCP server", stored.Size, stored.SHA256, size, sum)}
	}
	return size, sum, nil
}

func minPlausibleSize(kind string) int64 {
	if kind == KindFlashArchiveSCP {
		return 20 // a gzip header and trailer alone take 18 bytes
	}
	return 1
}

// remoteName is the destination of one upload, relative to the SCP user's home. The
// conductor does not create folders, so files are named, not nested, per device.
func remoteName(dir, device, stamp, kind, ext string) string {
	name := fmt.Sprintf("%s_%s-%s.%s", device, stamp, kind, ext)
	if dir == "" || dir == "." {
		return name
	}
	return path.Join(dir, name)
}

func scpLocation(scp *ArubaSCP, addr, dest string) string {
	host := addr
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("scp://%s@%s/%s", scp.Username, host, strings.TrimPrefix(dest, "/"))
}

// ResolveSCPHost turns an SCP server name into an address (the conductor API accepts
// only addresses), preferring IPv4.
func ResolveSCPHost(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", errors.New("the name resolves to no address")
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	return addrs[0].IP.String(), nil
}
