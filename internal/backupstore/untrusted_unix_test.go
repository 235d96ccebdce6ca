//go:build unix

package backupstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// The local backend's own dangers: named pipes, symbolic links, permissions.

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every lookup refuses, without opening it for long, a record that is a named pipe
// (or any other non-regular file); so does VerifyFile.
func TestLookupsNeverHangOnNonRegularRecords(t *testing.T) {
	ts := openLocal(t)
	s := ts.Store
	older := commitOne(t, s, FamilyILO, "ilo1", "ilo1.example.com", t0, []byte("good"))
	dir := filepath.Join(s.Root(), "ilo", "ilo1")
	id := formatStamp(t0.Add(time.Hour))
	fifo := filepath.Join(dir, id+".json")
	mkfifo(t, fifo)
	file := filepath.Join(dir, id+"-config.cfg")
	if err := os.WriteFile(file, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s = %v, want an error naming %s as not a regular file", what, err, fifo)
		}
	}
	testkit.Returns(t, "FindByPath", func() { _, _, err := s.FindByPath(file); check("FindByPath", err) })
	testkit.Returns(t, "Latest", func() {
		b, err := s.Latest(bg, FamilyILO, "ilo1")
		if err == nil && b.ID == older.ID {
			t.Errorf("Latest returned the older backup %s as the latest", b.ID)
		}
		check("Latest", err)
	})
	testkit.Returns(t, "LatestByHost", func() { _, err := s.LatestByHost(bg, FamilyILO, "ilo1.example.com"); check("LatestByHost", err) })
	testkit.Returns(t, "Prune", func() { _, err := s.Prune(bg, FamilyILO, "ilo1", Policy{KeepLast: 1}, "", t0); check("Prune", err) })

	// A recorded file replaced by a named pipe.
	s2 := openLocal(t).Store
	b := commitOne(t, s2, FamilyILO, "ilo1", "h", t0, []byte("good"))
	if err := os.Remove(b.Files[0].Path); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, b.Files[0].Path)
	testkit.Returns(t, "VerifyFile", func() {
		if err := VerifyFile(b.Files[0].Path, b.Files[0].SHA256); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("VerifyFile(named pipe) = %v, want 'not a regular file'", err)
		}
	})
	testkit.Returns(t, "FindByPath", func() {
		if _, _, err := s2.FindByPath(b.Files[0].Path); err == nil {
			t.Error("FindByPath accepted a recorded file replaced by a named pipe")
		}
	})
	testkit.Returns(t, "OpenFile", func() {
		if _, err := s2.OpenFile(bg, b.Files[0]); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("OpenFile(named pipe) = %v, want 'not a regular file'", err)
		}
	})
}

// A symbolic link inside the store (a device folder, a family folder, a record) is
// refused by every lookup and by Begin, with an error that says so. The root itself
// may be reached through one.
func TestSymlinksInsideTheStoreRefusedEverywhere(t *testing.T) {
	t.Run("device folder", func(t *testing.T) {
		s := openLocal(t).Store
		real := commitOne(t, s, FamilyAruba, "mc-real", "10.0.0.1", t0, []byte("cfg"))
		if err := os.Symlink("mc-real", filepath.Join(s.Root(), "aruba", "mc-link")); err != nil {
			t.Fatal(err)
		}
		assertSymlinkRefused(t, s, "mc-link", filepath.Join(s.Root(), "aruba", "mc-link", filepath.Base(real.Files[0].Path)))
	})
	t.Run("device folder outside the store", func(t *testing.T) {
		s := openLocal(t).Store
		other := openLocal(t).Store
		b := commitOne(t, other, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		if err := os.MkdirAll(filepath.Join(s.Root(), "aruba"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(other.Root(), "aruba", "mc1"), filepath.Join(s.Root(), "aruba", "mc1")); err != nil {
			t.Fatal(err)
		}
		assertSymlinkRefused(t, s, "mc1", filepath.Join(s.Root(), "aruba", "mc1", filepath.Base(b.Files[0].Path)))
		// Nothing was written through the link either.
		if got := dirNames(t, filepath.Join(other.Root(), "aruba", "mc1")); len(got) != 2 {
			t.Errorf("the linked folder now holds %v", got)
		}
	})
	t.Run("family folder", func(t *testing.T) {
		s := openLocal(t).Store
		other := openLocal(t).Store
		b := commitOne(t, other, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		if err := os.MkdirAll(s.Root(), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(other.Root(), "aruba"), filepath.Join(s.Root(), "aruba")); err != nil {
			t.Fatal(err)
		}
		assertSymlinkRefused(t, s, "mc1", filepath.Join(s.Root(), "aruba", "mc1", filepath.Base(b.Files[0].Path)))
	})
	t.Run("record", func(t *testing.T) {
		s := openLocal(t).Store
		b := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		dir := filepath.Join(s.Root(), "aruba", "mc1")
		newer := formatStamp(t0.Add(time.Hour))
		if err := os.Symlink(b.ID+".json", filepath.Join(dir, newer+".json")); err != nil {
			t.Fatal(err)
		}
		_, err := s.Latest(bg, FamilyAruba, "mc1")
		if err == nil || !strings.Contains(err.Error(), newer+".json") || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Latest with a symlinked record = %v, want an error naming it", err)
		}
	})
	t.Run("root through a link", func(t *testing.T) {
		s := openLocal(t).Store
		b := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(s.Root(), link); err != nil {
			t.Fatal(err)
		}
		viaLink, err := Open(link)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := viaLink.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != b.ID {
			t.Errorf("Latest through a linked root = %v %v", got.ID, err)
		}
		if _, err := viaLink.Begin(bg, FamilyAruba, "mc1", t0.Add(time.Hour)); err != nil {
			t.Errorf("Begin through a linked root: %v", err)
		}
	})
}

func assertSymlinkRefused(t *testing.T, s *Store, device, file string) {
	t.Helper()
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s = %v, want an error saying the store refuses the symbolic link", what, err)
		}
	}
	_, err := s.Latest(bg, FamilyAruba, device)
	refused("Latest", err)
	_, err = s.LatestByHost(bg, FamilyAruba, "10.0.0.1")
	refused("LatestByHost", err)
	_, _, err = s.FindByPath(file)
	refused("FindByPath", err)
	_, err = s.Begin(bg, FamilyAruba, device, t0.Add(time.Hour))
	refused("Begin", err)
	_, err = s.Prune(bg, FamilyAruba, device, Policy{KeepLast: 1}, "", t0)
	refused("Prune", err)
}

// A record the process may not read is an error naming it (not a reason to answer
// with an older backup).
func TestUnreadableNewerRecord(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	ts := openLocal(t)
	commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("old"))
	newer := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0.Add(time.Hour), []byte("new"))
	if err := os.Chmod(ts.SidecarPath(newer), 0); err != nil {
		t.Fatal(err)
	}
	_, err := ts.Latest(bg, FamilyAruba, "mc1")
	if err == nil || !strings.Contains(err.Error(), ts.SidecarPath(newer)) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Latest = %v, want an error naming the unreadable record", err)
	}
}

// An empty folder named like a record holds no record: it is ignored, as a deleted
// record would be (anyone who can create it could as well delete the record).
func TestEmptyFolderNamedLikeARecord(t *testing.T) {
	ts := openLocal(t)
	good := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("good"))
	if err := os.Mkdir(filepath.Join(ts.root, "aruba", "mc1", formatStamp(t0.Add(time.Hour))+".json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != good.ID {
		t.Errorf("Latest = %v %v, want %s", got.ID, err, good.ID)
	}
}

// Open only reads: plan and refresh must not write. A missing folder stays missing
// until the first backup creates it; an existing one is left untouched.
func TestOpenDoesNotWrite(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "a", "backups")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created folders: %v", err)
	}
	if _, err := s.Latest(bg, FamilyAruba, "mc1"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Latest in a missing store = %v, want ErrNoBackup", err)
	}
	if _, err := s.LatestByHost(bg, FamilyAruba, "h"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("LatestByHost in a missing store = %v, want ErrNoBackup", err)
	}
	commitOne(t, s, FamilyAruba, "mc1", "h", t0, []byte("cfg"))
	for _, d := range []string{filepath.Join(base, "a"), root, filepath.Join(root, "aruba"), filepath.Join(root, "aruba", "mc1")} {
		if m := mode(t, d); m != 0o700 {
			t.Errorf("%s has mode %o, want 700", d, m)
		}
	}

	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(root, old, old); err != nil {
		t.Fatal(err)
	}
	before := dirNames(t, root)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) || !bytes.Equal([]byte(strings.Join(dirNames(t, root), "/")), []byte(strings.Join(before, "/"))) {
		t.Errorf("Open wrote into the existing store (modified %v)", fi.ModTime())
	}
}
