package backupjob

// The snapshot part of an Apstra backup: `sudo aos_backup` over SSH writes Apstra's
// own disaster-recovery copy on the server, which the provider streams into the
// same run over SFTP and then removes (it holds the server's secret keys).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// snapshotFolderRE is a snapshot folder's name: only such folders are ever removed.
var snapshotFolderRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}$`)

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
	cfg      sftpverify.Config // to connect again for the cleanup
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
	cfg := sftpverify.Config{
		Addr: addr, Username: s.Username, Password: s.Password,
		HostKey: s.HostKey, HostKeyFingerprint: s.HostKeyFingerprint, InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
		Timeout: 30 * time.Second,
	}
	conn, err := sftpverify.Dial(ctx, cfg)
	if err != nil {
		return nil, &client.DeviceError{Device: server, Step: "connect for the snapshot (nothing was run on the server)", Err: err}
	}
	return &snapshotConn{conn: conn, cfg: cfg, server: server, password: s.Password}, nil
}

// take runs aos_backup, streams the snapshot into run and removes it from the
// server, also when the fetch failed or ctx ended. A removal that fails is part of
// the error, as is a snapshot that may remain because aos_backup was cut off.
func (s *snapshotConn) take(ctx context.Context, run *backupstore.Run) (err error) {
	if err := ctx.Err(); err != nil {
		return &client.DeviceError{Device: s.server, Step: "run aos_backup", Err: err, Message: "the backup ended before aos_backup ran"}
	}
	// The snapshots already there: if aos_backup ends without naming its snapshot,
	// the folders that appeared meanwhile are reported. nil: the folder cannot be read.
	before, listErr := s.snapshotNames(ctx, s.conn)
	out, err := s.conn.Run(ctx, aosBackupCommand, []byte(s.password+"\n"))
	var exited *sftpverify.CommandError
	switch {
	case errors.As(err, &exited): // a failed aos_backup may leave a partial snapshot
		err = &client.DeviceError{Device: s.server, Step: "run aos_backup", Err: err,
			Hint: "the SSH account needs sudo rights for aos_backup (with its own password, or NOPASSWD)"}
		return errors.Join(err, s.reportUnnamed(ctx, before, listErr))
	case err != nil: // cut off: aos_backup may have written, or still write, a snapshot
		err = &client.DeviceError{Device: s.server, Step: "run aos_backup", Err: err}
		return errors.Join(err, s.reportUnnamed(ctx, before, listErr))
	}
	m := snapshotNameRE.FindSubmatch(trimLines(out))
	if m == nil {
		err = &client.DeviceError{Device: s.server, Step: "run aos_backup",
			Message: fmt.Sprintf("its output names no snapshot (%q)", s.said(ctx, out))}
		return errors.Join(err, s.reportUnnamed(ctx, before, listErr))
	}
	dir := path.Join(apstraSnapshotDir, string(m[1]))
	defer func() { err = errors.Join(err, s.remove(ctx, dir)) }()
	file := path.Join(dir, apstraSnapshotFile)
	if _, err := s.conn.Fetch(ctx, file, func(r io.Reader) error {
		_, err := run.WriteFile(ctx, KindApstraSnapshot, "tar.gz", r)
		return err
	}); err != nil {
		return &client.DeviceError{Device: s.server, Step: "fetch " + file, Err: err}
	}
	return nil
}

// said is what aos_backup printed, for an error: masked (the SSH password, which
// sudo reads from the same input, and every secret of the operation) before it is
// shortened, so that no cut leaves part of an echoed secret unmasked.
func (s *snapshotConn) said(ctx context.Context, out []byte) string {
	return abbreviate(client.SecretsFrom(ctx).Scrub(client.NewSecrets(s.password).Scrub(string(out))), 200)
}

// snapshotNames lists the snapshot folders on the server (none when the snapshot
// folder does not exist yet).
func (s *snapshotConn) snapshotNames(ctx context.Context, conn *sftpverify.Client) (map[string]bool, error) {
	entries, err := conn.List(ctx, apstraSnapshotDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && snapshotFolderRE.MatchString(e.Name()) {
			names[e.Name()] = true
		}
	}
	return names, nil
}

// remove deletes the snapshot in dir, and dir. The snapshot holds the server's
// secret keys: it leaves the server whatever happened, also after ctx ended.
func (s *snapshotConn) remove(ctx context.Context, dir string) error {
	file := path.Join(dir, apstraSnapshotFile)
	err := s.cleanup(ctx, func(ctx context.Context, conn *sftpverify.Client) error {
		if err := conn.Remove(ctx, file); err != nil {
			return err
		}
		_ = conn.RemoveDir(ctx, dir) // an empty folder left behind holds nothing
		return nil
	})
	if err != nil {
		return &client.DeviceError{Device: s.server, Step: "remove " + file, Err: err,
			Hint: "the snapshot holds the server's secret keys: remove it by hand"}
	}
	return nil
}

// reportUnnamed says what an aos_backup run that ended without naming its
// snapshot may have left: the snapshot folders that were not there before it ran,
// by name, or that one may still appear. None is removed: a folder is this run's
// only when aos_backup says so, and an operator's own aos_backup (or another run)
// may have made one meanwhile; deleting that would lose a disaster-recovery copy.
func (s *snapshotConn) reportUnnamed(ctx context.Context, before map[string]bool, listErr error) error {
	mayRemain := func(why string, err error) error {
		return &client.DeviceError{Device: s.server, Step: "find the snapshot of the interrupted aos_backup", Err: err,
			Message: "a snapshot of this backup may remain in " + apstraSnapshotDir + ": " + why,
			Hint:    "it holds the server's secret keys: check the folders made at the time of this backup and remove this backup's by hand"}
	}
	if listErr != nil {
		return mayRemain(fmt.Sprintf("the folder could not be listed before aos_backup ran (%v)", listErr), listErr)
	}
	var after map[string]bool
	err := s.cleanup(ctx, func(ctx context.Context, conn *sftpverify.Client) (err error) {
		after, err = s.snapshotNames(ctx, conn)
		return err
	})
	if err != nil {
		return mayRemain(fmt.Sprintf("the folder could not be listed (%v)", err), err)
	}
	var added []string
	for name := range after {
		if !before[name] {
			added = append(added, path.Join(apstraSnapshotDir, name))
		}
	}
	if len(added) == 0 {
		return mayRemain("aos_backup had not written one when it ended, and may still write it", nil)
	}
	slices.Sort(added)
	return mayRemain(fmt.Sprintf("appeared while aos_backup ran, not removed (aos_backup did not name it): %s", strings.Join(added, ", ")), nil)
}

// cleanup runs step on a context of its own, bounded by CleanupTimeout, over the
// backup's connection or, when that one was closed (ctx ended during an
// exchange, or the connection was lost), over a new one with the same host-key
// check and credentials.
func (s *snapshotConn) cleanup(ctx context.Context, step func(context.Context, *sftpverify.Client) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	if s.conn.Lost() == nil {
		err := step(ctx, s.conn)
		if err == nil || s.conn.Lost() == nil {
			return err
		}
	}
	conn, err := sftpverify.Dial(ctx, s.cfg)
	if err != nil {
		return fmt.Errorf("connect again: %w", err)
	}
	defer func() { _ = conn.Close() }() // only used for the cleanup, whose outcome is known
	return step(ctx, conn)
}

func (s *snapshotConn) close() error { return s.conn.Close() }

// trimLines drops trailing blank lines, so the last line is aos_backup's last word.
func trimLines(b []byte) []byte { return []byte(strings.TrimRight(string(b), "\r\n \t")) }

// abbreviate shortens s to at most n bytes, cut on a character boundary.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
