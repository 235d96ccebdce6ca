//go:build unix

package backupstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every lookup refuses, without opening it for long, a record that is a named pipe
// (or any other non-regular file); so does VerifyFile.
func TestLookupsNeverHangOnNonRegularRecords(t *testing.T) {
	s := openStore(t)
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
		b, err := s.Latest(FamilyILO, "ilo1")
		if err == nil && b.ID == older.ID {
			t.Errorf("Latest returned the older backup %s as the latest", b.ID)
		}
		check("Latest", err)
	})
	testkit.Returns(t, "LatestByHost", func() { _, err := s.LatestByHost(FamilyILO, "ilo1.example.com"); check("LatestByHost", err) })

	// A recorded file replaced by a named pipe.
	s2 := openStore(t)
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
}

// A symbolic link inside the store (a device folder, a family folder, a record) is
// refused by every lookup and by Begin, with an error that says so. The root itself
// may be reached through one.
func TestSymlinksInsideTheStoreRefusedEverywhere(t *testing.T) {
	t.Run("device folder", func(t *testing.T) {
		s := openStore(t)
		real := commitOne(t, s, FamilyAruba, "mc-real", "10.0.0.1", t0, []byte("cfg"))
		if err := os.Symlink("mc-real", filepath.Join(s.Root(), "aruba", "mc-link")); err != nil {
			t.Fatal(err)
		}
		assertSymlinkRefused(t, s, "mc-link", filepath.Join(s.Root(), "aruba", "mc-link", filepath.Base(real.Files[0].Path)))
	})
	t.Run("device folder outside the store", func(t *testing.T) {
		s := openStore(t)
		other := openStore(t)
		b := commitOne(t, other, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		if err := os.MkdirAll(filepath.Join(s.Root(), "aruba"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(other.Root(), "aruba", "mc1"), filepath.Join(s.Root(), "aruba", "mc1")); err != nil {
			t.Fatal(err)
		}
		assertSymlinkRefused(t, s, "mc1", filepath.Join(s.Root(), "aruba", "mc1", filepath.Base(b.Files[0].Path)))
	})
	t.Run("family folder", func(t *testing.T) {
		s := openStore(t)
		other := openStore(t)
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
		s := openStore(t)
		b := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		dir := filepath.Join(s.Root(), "aruba", "mc1")
		newer := formatStamp(t0.Add(time.Hour))
		if err := os.Symlink(b.ID+".json", filepath.Join(dir, newer+".json")); err != nil {
			t.Fatal(err)
		}
		_, err := s.Latest(FamilyAruba, "mc1")
		if err == nil || !strings.Contains(err.Error(), newer+".json") || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Latest with a symlinked record = %v, want an error naming it", err)
		}
	})
	t.Run("root through a link", func(t *testing.T) {
		s := openStore(t)
		b := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(s.Root(), link); err != nil {
			t.Fatal(err)
		}
		viaLink, err := Open(link)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := viaLink.Latest(FamilyAruba, "mc1"); err != nil || got.ID != b.ID {
			t.Errorf("Latest through a linked root = %v %v", got.ID, err)
		}
		if _, err := viaLink.Begin(FamilyAruba, "mc1", t0.Add(time.Hour)); err != nil {
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
	_, err := s.Latest(FamilyAruba, device)
	refused("Latest", err)
	_, err = s.LatestByHost(FamilyAruba, "10.0.0.1")
	refused("LatestByHost", err)
	_, _, err = s.FindByPath(file)
	refused("FindByPath", err)
	_, err = s.Begin(FamilyAruba, device, t0.Add(time.Hour))
	refused("Begin", err)
}

// A record newer than the answer that cannot be used makes the lookup fail with an
// error naming it: returning an older backup would present it as the latest.
func TestNewerUnusableRecordIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, newer Backup)
		reason string
	}{
		{"not JSON", func(t *testing.T, dir string, b Backup) { writeRecord(t, dir, b.ID, "{not json") }, "not a valid backup record"},
		{"empty", func(t *testing.T, dir string, b Backup) { writeRecord(t, dir, b.ID, "") }, "not a valid backup record"},
		{"file missing", func(t *testing.T, dir string, b Backup) {
			if err := os.Remove(b.Files[0].Path); err != nil {
				t.Fatal(err)
			}
		}, "unusable"},
		{"file truncated", func(t *testing.T, dir string, b Backup) {
			if err := os.WriteFile(b.Files[0].Path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file of 3 bytes"},
		{"unreadable", func(t *testing.T, dir string, b Backup) {
			if os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			if err := os.Chmod(filepath.Join(dir, b.ID+".json"), 0); err != nil {
				t.Fatal(err)
			}
		}, "permission denied"},
		{"newer format", func(t *testing.T, dir string, b Backup) {
			data, _ := encodeSidecar(b)
			writeRecord(t, dir, b.ID, strings.Replace(string(data), `"format_version": 1`, `"format_version": 2`, 1))
		}, "format_version 2"},
		{"another device's record", func(t *testing.T, dir string, b Backup) {
			b.Device = "mc2"
			data, _ := encodeSidecar(b)
			writeRecord(t, dir, b.ID, string(data))
		}, "but is stored as"},
		{"too large", func(t *testing.T, dir string, b Backup) {
			writeRecord(t, dir, b.ID, strings.Repeat(" ", MaxRecordSize+1))
		}, "larger than"},
		{"a file outside its folder", func(t *testing.T, dir string, b Backup) {
			b.Files[0].Path = "/etc/passwd"
			data, _ := encodeSidecar(b)
			writeRecord(t, dir, b.ID, string(data))
		}, "does not belong to run"},
		{"a folder named like a record", func(t *testing.T, dir string, b Backup) {
			if err := os.Remove(filepath.Join(dir, b.ID+".json")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, b.ID+".json"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			older := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("old"))
			newer := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0.Add(time.Hour), []byte("new"))
			dir := filepath.Join(s.Root(), "aruba", "mc1")
			tc.damage(t, dir, newer)
			record := filepath.Join(dir, newer.ID+".json")
			for what, lookup := range map[string]func() (Backup, error){
				"Latest":       func() (Backup, error) { return s.Latest(FamilyAruba, "mc1") },
				"LatestByHost": func() (Backup, error) { return s.LatestByHost(FamilyAruba, "10.0.0.1") },
			} {
				b, err := lookup()
				if err == nil {
					t.Errorf("%s returned %s (the older backup is %s) despite the newer unusable record", what, b.ID, older.ID)
					continue
				}
				if errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), record) || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s error = %v\nwant one naming %s and saying %q", what, err, record, tc.reason)
				}
			}
		})
	}
	// What is not a record is still ignored: runs that never completed, temporary,
	// lock and unrelated files; and older damage never hides a newer good backup.
	t.Run("not records", func(t *testing.T) {
		s := openStore(t)
		damaged := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0.Add(-time.Hour), []byte("old"))
		writeRecord(t, filepath.Join(s.Root(), "aruba", "mc1"), damaged.ID, "{not json")
		good := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("good"))
		dir := filepath.Join(s.Root(), "aruba", "mc1")
		r, err := s.Begin(FamilyAruba, "mc1", t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.WriteFile(context.Background(), "config", "cfg", strings.NewReader("new")); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{
			"README.txt": "hello", ".tmp-20261125T120000.000Z.json-123": "{}", "20261125T120000.000Z.json.bak": "{}", "29991231T235959.999Z.lock": "",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Latest(FamilyAruba, "mc1"); err != nil || got.ID != good.ID {
			t.Errorf("Latest = %v %v, want %s", got.ID, err, good.ID)
		}
		if got, err := s.LatestByHost(FamilyAruba, "10.0.0.1"); err != nil || got.ID != good.ID {
			t.Errorf("LatestByHost = %v %v, want %s", got.ID, err, good.ID)
		}
	})
	// A damaged record that names another host is not a candidate of LatestByHost.
	t.Run("another host's damaged record", func(t *testing.T) {
		s := openStore(t)
		want := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("good"))
		other := commitOne(t, s, FamilyAruba, "mc2", "10.0.0.2", t0.Add(time.Hour), []byte("other"))
		if err := os.Remove(other.Files[0].Path); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LatestByHost(FamilyAruba, "10.0.0.1"); err != nil || got.ID != want.ID {
			t.Errorf("LatestByHost = %v %v, want %s", got.ID, err, want.ID)
		}
	})
}

func writeRecord(t *testing.T, dir, id, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// One size limit for records: what Commit writes, lookups read back; what they
// would refuse, Commit refuses, and the run can still be aborted cleanly.
func TestRecordSizeLimitSameOnWriteAndRead(t *testing.T) {
	s := openStore(t)
	commit := func(attrSize int) (Backup, error) {
		r, err := s.Begin(FamilyAruba, "mc1", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Abort()
		if _, err := r.WriteFile(context.Background(), "config", "cfg", strings.NewReader("cfg")); err != nil {
			t.Fatal(err)
		}
		return r.Commit("10.0.0.1", 4343, map[string]string{"note": strings.Repeat("n", attrSize)}, time.Time{})
	}
	_, err := commit(MaxRecordSize)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Commit of a record over the limit = %v, want a refusal", err)
	}
	if _, err := s.Latest(FamilyAruba, "mc1"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("after the refused Commit, Latest = %v, want ErrNoBackup", err)
	}
	for _, n := range names(t, filepath.Join(s.Root(), "aruba", "mc1")) {
		t.Errorf("the refused Commit left %s behind", n)
	}
	b, err := commit(MaxRecordSize - 4096)
	if err != nil {
		t.Fatalf("Commit just under the limit: %v", err)
	}
	if got, err := s.Latest(FamilyAruba, "mc1"); err != nil || got.ID != b.ID || len(got.Attributes["note"]) != MaxRecordSize-4096 {
		t.Errorf("a committed record is not read back: %v %v", got.ID, err)
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
	if _, err := s.Latest(FamilyAruba, "mc1"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Latest in a missing store = %v, want ErrNoBackup", err)
	}
	if _, err := s.LatestByHost(FamilyAruba, "h"); !errors.Is(err, ErrNoBackup) {
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
	before := names(t, root)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) || !bytes.Equal([]byte(strings.Join(names(t, root), "/")), []byte(strings.Join(before, "/"))) {
		t.Errorf("Open wrote into the existing store (modified %v)", fi.ModTime())
	}
}
