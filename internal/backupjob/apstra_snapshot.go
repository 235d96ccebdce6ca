package backupjob

// The snapshot part of an Apstra backup: `sudo aos_backup` over SSH writes Apstra's
// own disaster-recovery copy on the server, which the provider streams into the
// same run over SFTP and then removes (it holds the server's secret keys).

import (
	"context"
	"fmt"
	"io"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/sftpverify"
)

// Where aos_backup writes: <snapshotDir>/<YYYY-MM-DD_hh-mm-ss>/aos.data.tar.gz.
const (
	apstraSnapshotDir  = "/var/lib/aos/snapshot"
	apstraSnapshotFile = "aos.data.tar.gz"
)

// aosBackupCommand runs aos_backup as root; sudo reads the account's password from
// stdin (-S) and prints no prompt (an empty -p). Without a password entry in sudoers for
// the account, the password on stdin is simply not read.
const aosBackupCommand = "sudo -S -p '' aos_backup"

// snapshotNameRE is the snapshot's name as aos_backup prints it; only a name of this
// form becomes part of a remote path.
var snapshotNameRE = regexp.MustCompile(`New AOS snapshot: ([0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2})\s*$`)

// ApstraSnapshot says how to reach the Apstra server over SSH.
type ApstraSnapshot struct {
	Host     string // "" means the API's host
	Port     int    // 22 when 0
	Username string
	Password string // the SSH password, also given to sudo
	// Host-key checking, as for an Aruba SCP server (sftpverify.Config).
	HostKey               string
	HostKeyFingerprint    string
	InsecureIgnoreHostKey bool
}

// snapshotConn is the SSH connection a backup takes its snapshot over.
type snapshotConn struct {
	conn     *sftpverify.Client
	server   string
	password string
}

func dialSnapshot(ctx context.Context, apiHost string, s *ApstraSnapshot) (*snapshotConn, error) {
	host, port := s.Host, s.Port
	if host == "" {
		host = apiHost
	}
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	server := "apstra server " + addr + " over SSH"
	conn, err := sftpverify.Dial(ctx, sftpverify.Config{
		Addr: addr, Username: s.Username, Password: s.Password,
		HostKey: s.HostKey, HostKeyFingerprint: s.HostKeyFingerprint, InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		return nil, &client.DeviceError{Device: server, Step: "connect for the snapshot (nothing was run on the server)", Err: err}
	}
	return &snapshotConn{conn: conn, server: server, password: s.Password}, nil
}

// take runs aos_backup, streams the snapshot into run and removes it from the
// server, also when the fetch failed.
func (s *snapshotConn) take(ctx context.Context, run *backupstore.Run) (err error) {
	out, err := s.conn.Run(ctx, aosBackupCommand, []byte(s.password+"\n"))
	if err != nil {
		return &client.DeviceError{Device: s.server, Step: "run aos_backup", Err: err,
			Hint: "the SSH account needs sudo rights for aos_backup (with its own password, or NOPASSWD)"}
	}
	m := snapshotNameRE.FindSubmatch(trimLines(out))
	if m == nil {
		return &client.DeviceError{Device: s.server, Step: "run aos_backup",
			Message: fmt.Sprintf("its output names no snapshot (%q)", abbreviate(string(out), 200))}
	}
	dir := path.Join(apstraSnapshotDir, string(m[1]))
	file := path.Join(dir, apstraSnapshotFile)
	defer func() {
		// The snapshot holds the server's secret keys: it leaves the server whatever
		// happened, also after ctx ended, without hiding an earlier error.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		defer cancel()
		rerr := s.conn.Remove(cctx, file)
		if rerr == nil {
			_ = s.conn.RemoveDir(cctx, dir) // an empty folder left behind holds nothing
		}
		if rerr != nil && err == nil {
			err = &client.DeviceError{Device: s.server, Step: "remove " + file, Err: rerr,
				Hint: "the snapshot holds the server's secret keys: remove it by hand"}
		}
	}()
	if _, err := s.conn.Fetch(ctx, file, func(r io.Reader) error {
		_, err := run.WriteFile(ctx, KindApstraSnapshot, "tar.gz", r)
		return err
	}); err != nil {
		return &client.DeviceError{Device: s.server, Step: "fetch " + file, Err: err}
	}
	return nil
}

func (s *snapshotConn) close() error { return s.conn.Close() }

// trimLines drops trailing blank lines, so the last line is aos_backup's last word.
func trimLines(b []byte) []byte { return []byte(strings.TrimRight(string(b), "\r\n \t")) }

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
