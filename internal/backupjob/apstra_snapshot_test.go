package backupjob

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/apstra"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// snapshotFixture is an Apstra server with its SSH side, and a snapshot made by an
// operator before the backup (which no backup may remove).
type snapshotFixture struct {
	*apstraFixture
	ssh      *apstrasim.SSHServer
	snap     *ApstraSnapshot
	server   string // host:port of the SSH side, as errors name it
	operator string // the operator's snapshot, as on the server
}

func newSnapshotFixture(t *testing.T) *snapshotFixture {
	t.Helper()
	f := newApstraFixture(t, apstrasim.Config{})
	root := t.TempDir()
	operator := path.Join(apstraSnapshotDir, "2020-01-01_00-00-00", apstraSnapshotFile)
	local := filepath.Join(root, filepath.FromSlash(operator))
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte("an operator's snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	ssh, err := f.srv.Apstra.StartSSH(apstrasim.SSHConfig{RootDir: root, SnapshotExtra: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssh.Close() })
	return &snapshotFixture{apstraFixture: f, ssh: ssh, server: ssh.Addr(), operator: operator,
		snap: &ApstraSnapshot{Host: "127.0.0.1", Port: ssh.Port(), Username: testApstraUser, Password: testApstraPass, HostKey: ssh.AuthorizedKey()}}
}

// runCancelledWhen runs a backup with the snapshot and cancels it when ready
// returns (it is polled; the wait is for a state of the server, not a duration).
func (f *snapshotFixture) runCancelledWhen(t *testing.T, ready func() bool) error {
	t.Helper()
	c, err := apstra.New(f.hc, apstra.Config{Host: f.srv.Host, Port: f.srv.Port, Username: testApstraUser, Password: testApstraPass})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		for !ready() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err = RunApstra(ctx, f.store, ApstraRequest{Client: c, Target: Target{Host: f.srv.Host, Port: f.srv.Port}, Snapshot: f.snap})
	if err == nil {
		t.Fatal("a cancelled backup succeeded")
	}
	t.Logf("the error: %v", err)
	if strings.Contains(err.Error(), testApstraPass) {
		t.Errorf("the error holds the password: %v", err)
	}
	return err
}

// checkAfterFailure checks what a failed backup leaves: its failure record in the
// store, naming the step that failed first, no API session on the server, the
// operator's snapshot on the server.
func (f *snapshotFixture) checkAfterFailure(t *testing.T, step string) {
	t.Helper()
	st, err := f.store.Status(t.Context(), backupstore.FamilyApstra, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if a := st.LastAttempt; a.Outcome != backupstore.OutcomeFailed || a.Step != step {
		t.Errorf("last attempt %+v, want a failure at step %q", a, step)
	}
	if files := testkit.FilesUnder(t, f.root); len(files) != 1 || !strings.HasSuffix(files[0], ".failed.json") {
		t.Errorf("the cancelled backup left %v in the store, want its failure record only", files)
	}
	if n := f.srv.Apstra.OpenSessions(); n != 0 {
		t.Errorf("%d API sessions left open", n)
	}
	if !f.ssh.Exists(f.operator) {
		t.Errorf("the operator's snapshot %s was removed", f.operator)
	}
}

// ourSnapshot is the snapshot the backup's aos_backup wrote.
func (f *snapshotFixture) ourSnapshot(t *testing.T) apstrasim.Snapshot {
	t.Helper()
	snaps := f.srv.Apstra.Snapshots()
	if len(snaps) != 1 {
		t.Fatalf("aos_backup wrote %d snapshots, want 1", len(snaps))
	}
	return snaps[0]
}

// A backup cancelled while the snapshot streams into the store still removes it
// from the server: the cancellation closed the SSH connection, so the removal takes
// a new one (a second login).
func TestRunApstraCancelledDuringFetchRemovesSnapshot(t *testing.T) {
	f := newSnapshotFixture(t)
	f.ssh.SetStall(sftpserver.StallRead, false) // the fetch hangs after its first bytes
	err := f.runCancelledWhen(t, func() bool { return f.ssh.Stats().Stalls > 0 })
	snap := f.ourSnapshot(t)
	if msg := err.Error(); !strings.Contains(msg, f.server) || !strings.Contains(msg, "fetch "+snap.Path) || strings.Contains(msg, "by hand") {
		t.Errorf("error %q, want one naming the server %s and the fetch of %s, and no removal left to do", msg, f.server, snap.Path)
	}
	if f.ssh.Exists(snap.Path) || f.ssh.Exists(path.Dir(snap.Path)) {
		t.Errorf("%s (with the server's secret keys) is still on the server after a cancelled backup", snap.Path)
	}
	if n := f.ssh.Stats().Logins; n != 2 {
		t.Errorf("%d SSH logins, want 2 (the backup's, the removal's)", n)
	}
	f.checkAfterFailure(t, "fetch "+snap.Path)
}

// When the snapshot cannot be removed after a cancellation (the server refuses the
// new connection), the error says so: which server, which file to remove by hand.
func TestRunApstraCancelledSnapshotLeftIsReported(t *testing.T) {
	f := newSnapshotFixture(t)
	f.ssh.SetStall(sftpserver.StallRead, false)
	err := f.runCancelledWhen(t, func() bool {
		if f.ssh.Stats().Stalls == 0 {
			return false
		}
		f.ssh.SetRefuseAll(true)
		return true
	})
	snap := f.ourSnapshot(t)
	if msg := err.Error(); !strings.Contains(msg, f.server) || !strings.Contains(msg, "fetch "+snap.Path) ||
		!strings.Contains(msg, "remove "+snap.Path) || !strings.Contains(msg, "remove it by hand") {
		t.Errorf("error %q, want one naming the server %s, the fetch, and %s to remove by hand", msg, f.server, snap.Path)
	}
	if !f.ssh.Exists(snap.Path) {
		t.Fatalf("%s is gone, though the server refused the removal's login", snap.Path)
	}
	f.checkAfterFailure(t, "fetch "+snap.Path)
}

// A backup cancelled while aos_backup runs, before it printed the snapshot's name,
// names the snapshot folder that appeared meanwhile, to be removed by hand, and
// removes nothing: aos_backup did not say the folder is this run's, and an
// operator's own snapshot made at the same time must not be lost. When the snapshot
// is not written yet, the error says one may remain and where.
func TestRunApstraCancelledWhileAOSBackupRuns(t *testing.T) {
	t.Run("snapshot written", func(t *testing.T) {
		f := newSnapshotFixture(t)
		hold := f.ssh.HoldBackup(apstrasim.AfterSnapshot)
		defer hold.Release()
		err := f.runCancelledWhen(t, func() bool { return isClosed(hold.Reached()) })
		snap := f.ourSnapshot(t)
		if msg := err.Error(); !strings.Contains(msg, f.server) || !strings.Contains(msg, "run aos_backup") ||
			!strings.Contains(msg, path.Dir(snap.Path)) || !strings.Contains(msg, "by hand") {
			t.Errorf("error %q, want one naming the server %s, aos_backup, and the folder %s to remove by hand", msg, f.server, path.Dir(snap.Path))
		}
		if !f.ssh.Exists(snap.Path) {
			t.Errorf("%s was removed though aos_backup never said it was this run's", snap.Path)
		}
		f.checkAfterFailure(t, "run aos_backup")
	})
	t.Run("snapshot not written yet", func(t *testing.T) {
		f := newSnapshotFixture(t)
		hold := f.ssh.HoldBackup(apstrasim.BeforeSnapshot)
		defer hold.Release()
		err := f.runCancelledWhen(t, func() bool { return isClosed(hold.Reached()) })
		if msg := err.Error(); !strings.Contains(msg, f.server) || !strings.Contains(msg, "run aos_backup") ||
			!strings.Contains(msg, "may remain") || !strings.Contains(msg, apstraSnapshotDir) || !strings.Contains(msg, "by hand") {
			t.Errorf("error %q, want one naming the server %s, aos_backup, and that a snapshot may remain in %s", msg, f.server, apstraSnapshotDir)
		}
		f.checkAfterFailure(t, "run aos_backup")
	})
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// What aos_backup printed reaches an error masked first and shortened after: a
// password echoed across the cut leaves no part of itself behind.
func TestSnapshotOutputMaskedBeforeItIsShortened(t *testing.T) {
	const password = "Sudo-Pa55word-of-the-SSH-account"
	s := &snapshotConn{password: password}
	for at := 150; at <= 210; at++ {
		out := strings.Repeat("é", at/2) + strings.Repeat("x", at%2) + password + " and more output"
		got := s.said(t.Context(), []byte(out))
		if strings.Contains(got, password[:6]) || !utf8.ValidString(got) || len(got) > 203 {
			t.Fatalf("password at byte %d: %q holds part of the password, a cut character or too much", at, got)
		}
	}
}
