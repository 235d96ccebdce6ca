package backupstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

var t0 = time.Date(2026, 11, 25, 10, 15, 0, 123_456_789, time.UTC)

var bg = context.Background()

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// dirNames lists a local folder's entries (nil if it does not exist).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func commitOne(t *testing.T, s *Store, family, device, host string, started time.Time, data []byte) Backup {
	t.Helper()
	r, err := s.Begin(bg, family, device, started)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteFile(bg, "config", "cfg", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	b, err := r.Commit(bg, host, 443, map[string]string{"serial": "SN1"}, started.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readFile reads a stored file through OpenFile, which verifies it.
func readFile(t *testing.T, s *Store, f File) []byte {
	t.Helper()
	rc, err := s.OpenFile(bg, f)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpen(t *testing.T) {
	base := t.TempDir()
	// Creating a missing folder is Begin's job (TestOpenDoesNotWrite).
	s, err := Open(filepath.Join(base, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != filepath.Join(base, "a", "b") || s.Location() != s.Root() {
		t.Errorf("Root() = %q, Location() = %q", s.Root(), s.Location())
	}

	t.Chdir(base)
	s, err = Open("rel")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(s.Root()) || s.Root() != filepath.Join(base, "rel") {
		t.Errorf("Root() = %q, want absolute %s", s.Root(), filepath.Join(base, "rel"))
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file); err == nil || !strings.Contains(err.Error(), "is a file, not a folder") {
		t.Errorf("Open(file) error = %v, want 'is a file, not a folder'", err)
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := Open(filepath.Join(file, "sub")); err == nil || !strings.Contains(err.Error(), "is a file, not a folder") {
		t.Errorf("Open(file/sub) error = %v, want 'is a file, not a folder'", err)
	}

	if os.Geteuid() != 0 { // root can write anywhere
		ro := filepath.Join(base, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ro); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("Open(read-only) error = %v, want 'not writable'", err)
		}
		if _, err := Open(filepath.Join(ro, "missing")); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("Open(missing in read-only) error = %v, want 'not writable'", err)
		}
	}
}

func TestNewOnS3(t *testing.T) {
	ts := openS3(t, false)
	if ts.Root() != "" {
		t.Errorf("Root() = %q on S3, want empty", ts.Root())
	}
	if want := "s3://" + ts.bucket + "/" + testPrefix; ts.Location() != want {
		t.Errorf("Location() = %q, want %q", ts.Location(), want)
	}
	if err := ts.Check(bg); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestWriteFileExactBytesShaSizeMode(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID() != "20261125T101500.123Z" {
			t.Errorf("ID() = %q", r.ID())
		}
		data := randBytes(6<<20+12345, 1) // not a multiple of the copy buffer; two parts on S3
		f, err := r.WriteFile(bg, "flash", ".tar.gz", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		key := "aruba/mc1/20261125T101500.123Z-flash.tar.gz"
		if f.Key != key || f.Kind != "flash" || f.Location != "" || f.StoreLocation != ts.wantLocation(key) || !f.InStore() {
			t.Errorf("file = %+v, want key %s at %s", f, key, ts.wantLocation(key))
		}
		if ts.local() != (f.Path == f.StoreLocation) || (!ts.local() && f.Path != "") {
			t.Errorf("path = %q, want the local path on the local backend only", f.Path)
		}
		if f.Size != int64(len(data)) || f.SHA256 != hexSHA(data) {
			t.Errorf("size/sha = %d/%s, want %d/%s", f.Size, f.SHA256, len(data), hexSHA(data))
		}
		if got := ts.read(t, key); !bytes.Equal(got, data) {
			t.Error("stored content differs from the source")
		}
		if ts.local() {
			if m := mode(t, f.Path); m != 0o600 {
				t.Errorf("file mode %o, want 600", m)
			}
			for _, d := range []string{filepath.Join(ts.root, "aruba"), r.Dir()} {
				if m := mode(t, d); m != 0o700 {
					t.Errorf("folder %s mode %o, want 700", d, m)
				}
			}
		}
		// an empty source is a valid (empty) file
		f2, err := r.WriteFile(bg, "empty", "txt", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		if f2.Size != 0 || f2.SHA256 != hexSHA(nil) {
			t.Errorf("empty file = %+v", f2)
		}
		// a kind is written once per run
		if _, err := r.WriteFile(bg, "flash", "tar.gz", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "already part of this run") {
			t.Errorf("second flash write error = %v", err)
		}
		for _, bad := range []struct{ kind, ext string }{{"../x", "gz"}, {"a/b", "gz"}, {"", "gz"}, {"ok", ""}, {"ok", "../gz"}, {"ok", "a/b"}} {
			if _, err := r.WriteFile(bg, bad.kind, bad.ext, strings.NewReader("x")); err == nil {
				t.Errorf("WriteFile(%q, %q) succeeded", bad.kind, bad.ext)
			}
		}
		if got := ts.leftovers(t); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
	})
}

var errBoom = errors.New("boom: connection reset")

// failAfter yields n bytes, then fails.
type failAfter struct{ n int }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errBoom
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestWriteFileReaderFailsMidStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.WriteFile(bg, "config", "json", &failAfter{n: 7<<20 + 7}) // past the first part on S3
		if !errors.Is(err, errBoom) {
			t.Fatalf("error = %v, want errBoom", err)
		}
		if !strings.Contains(err.Error(), "after 7340039 bytes") {
			t.Errorf("error does not say how far it got: %v", err)
		}
		if got := ts.names(t, FamilyILO, "ilo1"); !slices.Equal(got, []string{r.ID() + ".lock"}) {
			t.Errorf("folder after failed write = %v, want only the reservation", got)
		}
		if got := ts.leftovers(t); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
		// the kind can be retried after a failure
		if _, err := r.WriteFile(bg, "config", "json", strings.NewReader("{}")); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if err := r.Abort(); err != nil {
			t.Fatal(err)
		}
		ts.assertNothingLeft(t, FamilyILO, "ilo1")
	})
}

// cancelOnRead cancels its context on the second read and keeps producing data.
type cancelOnRead struct {
	cancel context.CancelFunc
	reads  int
}

func (c *cancelOnRead) Read(p []byte) (int, error) {
	c.reads++
	if c.reads == 2 {
		c.cancel()
	}
	return len(p), nil // endless
}

func TestWriteFileContextCancelled(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		src := &cancelOnRead{cancel: cancel}
		_, err = r.WriteFile(ctx, "flash", "tar.gz", src)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if src.reads > 3 {
			t.Errorf("kept reading %d times after cancel", src.reads)
		}
		if got := ts.names(t, FamilyAruba, "mc1"); !slices.Equal(got, []string{r.ID() + ".lock"}) {
			t.Errorf("folder after cancelled write = %v, want only the reservation", got)
		}
		// already cancelled before the first byte
		_, err = r.WriteFile(ctx, "flash", "tar.gz", strings.NewReader("data"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}

		// deadline
		dctx, dcancel := context.WithTimeout(bg, 20*time.Millisecond)
		defer dcancel()
		_, err = r.WriteFile(dctx, "flash", "tar.gz", slowReader{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want DeadlineExceeded", err)
		}
		if got := ts.names(t, FamilyAruba, "mc1"); !slices.Equal(got, []string{r.ID() + ".lock"}) {
			t.Errorf("folder after timed-out write = %v", got)
		}
		if got := ts.leftovers(t); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
	})
}

type slowReader struct{}

func (slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return copy(p, "slow"), nil
}

func TestAbortRemovesFilesAndIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"flash", "config"} {
			if _, err := r.WriteFile(bg, k, "bin", strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.AddFile(File{Kind: "remote", Location: "scp://u@10.0.0.1/b/f.tar.gz", Size: 4}); err != nil {
			t.Fatal(err)
		}
		if got := ts.names(t, FamilyAruba, "mc1"); len(got) != 3 {
			t.Fatalf("expected 2 files + reservation, got %v", got)
		}
		if err := r.Abort(); err != nil {
			t.Fatal(err)
		}
		ts.assertNothingLeft(t, FamilyAruba, "mc1")
		if err := r.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if _, err := r.WriteFile(bg, "x", "bin", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "aborted") {
			t.Errorf("WriteFile after Abort: %v", err)
		}
		if _, err := r.Commit(bg, "h", 1, nil, time.Time{}); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		// the stamp is free again
		r2, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if r2.ID() != r.ID() {
			t.Errorf("aborted stamp not reused: %s vs %s", r2.ID(), r.ID())
		}
	})
}

// An Abort during a WriteFile stops it: the write ends with an error and leaves
// nothing, and the reservation goes once it has ended.
func TestAbortStopsWriteInFlight(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := r.WriteFile(bg, "backup", "bin", &signalReader{started: started})
			done <- err
		}()
		<-started
		if err := r.Abort(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "aborted") {
				t.Errorf("WriteFile in flight during Abort = %v, want an error saying the run was aborted", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Abort did not stop the WriteFile in flight")
		}
		ts.assertNothingLeft(t, FamilyILO, "ilo1")
	})
}

// signalReader is endless and closes started on its first read.
type signalReader struct {
	started chan struct{}
	once    sync.Once
}

func (s *signalReader) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	time.Sleep(time.Millisecond)
	return len(p), nil
}

func TestCommitThenLatest(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		older := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.1.1.1", t0.Add(-time.Hour), []byte("old"))

		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		flash := randBytes(100_000, 2)
		ff, err := r.WriteFile(bg, "flash", "tar.gz", bytes.NewReader(flash))
		if err != nil {
			t.Fatal(err)
		}
		remote := File{Kind: "flash-remote", Location: "scp://backup@10.9.9.9/mc1/flash.tar.gz", Size: ff.Size, SHA256: strings.ToUpper(ff.SHA256)}
		if err := r.AddFile(remote); err != nil {
			t.Fatal(err)
		}
		if b, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || b.ID != older.ID {
			t.Errorf("uncommitted run visible: Latest = %s, %v", b.ID, err)
		}
		attrs := map[string]string{"serial": "CN123", "firmware": "8.10.0.7", "hostname": "mc-01"}
		completed := t0.Add(42 * time.Second)
		b, err := r.Commit(bg, "10.1.1.1", 4343, attrs, completed)
		if err != nil {
			t.Fatal(err)
		}
		attrs["serial"] = "mutated" // Commit keeps its own copy
		if b.Attributes["serial"] != "CN123" {
			t.Error("Commit did not copy the attributes")
		}
		for _, s := range []*Store{ts.Store, ts.second(t)} { // this runner and another one
			got, err := s.Latest(bg, FamilyAruba, "mc1")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != r.ID() || got.Family != "aruba" || got.Device != "mc1" || got.Host != "10.1.1.1" || got.Port != 4343 {
				t.Errorf("Latest = %+v", got)
			}
			if !got.StartedAt.Equal(t0) || !got.CompletedAt.Equal(completed) || got.CompletedAt.Location() != time.UTC {
				t.Errorf("times = %v / %v", got.StartedAt, got.CompletedAt)
			}
			remote.SHA256 = strings.ToLower(remote.SHA256)
			if !slices.Equal(got.Files, []File{ff, remote}) || !slices.Equal(b.Files, got.Files) {
				t.Errorf("files = %+v\nwant %+v", got.Files, []File{ff, remote})
			}
			if f, ok := got.File("flash"); !ok || f != ff {
				t.Errorf("File(flash) = %+v, %v", f, ok)
			}
			if _, ok := got.File("nope"); ok {
				t.Error("File(nope) found")
			}
			if got.Attributes["serial"] != "CN123" || len(got.Attributes) != 3 {
				t.Errorf("attributes = %v", got.Attributes)
			}
			if !bytes.Equal(readFile(t, s, ff), flash) {
				t.Error("OpenFile returned other bytes")
			}
			if byID, err := s.Get(bg, FamilyAruba, "mc1", r.ID()); err != nil || !slices.Equal(byID.Files, got.Files) {
				t.Errorf("Get = %+v, %v", byID, err)
			}
		}

		// the record: shape, no reservation left
		if want := ts.wantLocation("aruba/mc1/" + r.ID() + ".json"); ts.SidecarPath(b) != want {
			t.Errorf("SidecarPath = %s, want %s", ts.SidecarPath(b), want)
		}
		if ts.local() {
			if m := mode(t, ts.SidecarPath(b)); m != 0o600 {
				t.Errorf("sidecar mode %o", m)
			}
		}
		if slices.Contains(ts.names(t, FamilyAruba, "mc1"), r.ID()+".lock") {
			t.Error("reservation left after Commit")
		}
		raw := ts.read(t, b.RecordKey())
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"format_version", "family", "device", "host", "port", "id", "started_at", "completed_at", "files", "attributes"} {
			if _, ok := m[k]; !ok {
				t.Errorf("sidecar lacks %q: %s", k, raw)
			}
		}
		if m["format_version"] != float64(1) || m["id"] != r.ID() || m["completed_at"] != "2026-11-25T10:15:42.123456789Z" {
			t.Errorf("sidecar = %s", raw)
		}
		files := m["files"].([]any)
		f0 := files[0].(map[string]any)
		if f0["key"] != ff.Key || f0["sha256"] != ff.SHA256 || f0["location"] != nil {
			t.Errorf("sidecar file 0 = %v", f0)
		}
		// Local records keep the absolute path too, which is what older versions read.
		if (ts.local() && f0["path"] != ff.Path) || (!ts.local() && f0["path"] != nil) {
			t.Errorf("sidecar file 0 path = %v", f0["path"])
		}
		if f1 := files[1].(map[string]any); f1["location"] != remote.Location || f1["path"] != nil || f1["key"] != nil {
			t.Errorf("sidecar file 1 = %v", f1)
		}

		// committed runs ignore Abort and refuse more work
		if err := r.Abort(); err != nil {
			t.Errorf("Abort after Commit: %v", err)
		}
		if got := ts.read(t, ff.Key); !bytes.Equal(got, flash) {
			t.Error("Abort after Commit removed a file")
		}
		if _, err := r.Commit(bg, "h", 1, nil, time.Time{}); err == nil {
			t.Error("second Commit succeeded")
		}
		if err := r.AddFile(File{Kind: "z", Location: "scp://h/z"}); err == nil {
			t.Error("AddFile after Commit succeeded")
		}
	})
}

// A record written before keys existed (path only) still reads, on the local
// backend, resolved against the store: a moved store keeps working.
func TestLegacyRecordWithPathOnly(t *testing.T) {
	ts := openLocal(t)
	b := commitOne(t, ts.Store, FamilyAruba, "mc1", "h", t0, []byte("cfg"))
	legacy := b
	legacy.Files = []File{{Kind: "config", Path: "/old/place/aruba/mc1/" + b.ID + "-config.cfg", Size: 3, SHA256: b.Files[0].SHA256}}
	data, err := encodeSidecar(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"key"`) {
		t.Fatalf("legacy record has a key: %s", data)
	}
	ts.put(t, b.RecordKey(), data)
	got, err := ts.Latest(bg, FamilyAruba, "mc1")
	if err != nil {
		t.Fatal(err)
	}
	if f := got.Files[0]; f.Key != b.Files[0].Key || f.Path != b.Files[0].Path {
		t.Errorf("legacy file = %+v, want key %s at %s", f, b.Files[0].Key, b.Files[0].Path)
	}
}

func TestCommitAndAddFileRefuseBadInput(t *testing.T) {
	ts := openLocal(t)
	r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	if _, err := r.Commit(bg, "h", 443, nil, time.Time{}); err == nil || !strings.Contains(err.Error(), "nothing to commit") {
		t.Errorf("empty Commit: %v", err)
	}
	err = r.AddFile(File{Kind: "remote", Location: "scp://user:hunter2@10.0.0.1/dir/file"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("AddFile with password: %v", err)
	}
	for _, f := range []File{
		{Kind: "r", Location: ""},
		{Kind: "r", Location: "not a url"},
		{Kind: "../r", Location: "scp://h/f"},
		{Kind: "r", Location: "scp://h/f", SHA256: "zz"},
		{Kind: "r", Location: "scp://h/f", Size: -1},
		{Kind: "r", Path: "/etc/passwd", SHA256: hexSHA(nil)},
		{Kind: "r", Key: "ilo/ilo1/x", SHA256: hexSHA(nil)},
	} {
		if err := r.AddFile(f); err == nil {
			t.Errorf("AddFile(%+v) succeeded", f)
		}
	}
	if _, err := r.WriteFile(bg, "bios", "json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"password", "ilo_Password", "api_token", "Secret"} {
		if _, err := r.Commit(bg, "h", 443, map[string]string{k: "v"}, time.Time{}); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Errorf("Commit with attribute %q: %v", k, err)
		}
	}
	if _, err := r.Commit(bg, "h", 70000, nil, time.Time{}); err == nil {
		t.Error("Commit with port 70000 succeeded")
	}
	if _, err := r.Commit(bg, "h", 443, nil, time.Time{}); err != nil {
		t.Errorf("valid Commit after refused ones: %v", err)
	}
}

func TestBeginValidates(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		for _, c := range []struct{ fam, dev string }{
			{"cisco", "x"}, {"", "x"}, {"../aruba", "x"}, {"aruba", "../x"}, {"aruba", ".."}, {"aruba", "a/b"}, {"aruba", ""},
		} {
			if _, err := ts.Begin(bg, c.fam, c.dev, t0); err == nil {
				t.Errorf("Begin(%q, %q) succeeded", c.fam, c.dev)
			}
		}
		if got := ts.keys(t, ""); len(got) != 0 {
			t.Errorf("refused Begin created %v", got)
		}
		if _, err := ts.Latest(bg, "aruba", "../../etc"); err == nil || errors.Is(err, ErrNoBackup) {
			t.Errorf("Latest with traversal: %v", err)
		}
	})
}

func TestSameMillisecondGetsDistinctIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		other := ts.second(t) // another runner on the same folder or bucket
		r1, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := other.Begin(bg, FamilyAruba, "mc1", t0.Add(100*time.Microsecond)) // same millisecond
		if err != nil {
			t.Fatal(err)
		}
		if r1.ID() != "20261125T101500.123Z" || r2.ID() != "20261125T101500.124Z" {
			t.Errorf("ids = %s, %s", r1.ID(), r2.ID())
		}
		// a committed stamp stays taken after its reservation is gone
		if _, err := r1.WriteFile(bg, "c", "txt", strings.NewReader("1")); err != nil {
			t.Fatal(err)
		}
		if _, err := r1.Commit(bg, "h", 1, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		r3, err := other.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if r3.ID() != "20261125T101500.125Z" {
			t.Errorf("third id = %s", r3.ID())
		}
		// another device is independent
		r4, err := ts.Begin(bg, FamilyAruba, "mc2", t0)
		if err != nil {
			t.Fatal(err)
		}
		if r4.ID() != r1.ID() {
			t.Errorf("other device id = %s", r4.ID())
		}
	})
}

func TestConcurrentRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		runners := []*Store{ts.Store, ts.second(t)} // two runners share the store
		devices := []string{"mc1", "mc2", "mc3", "ilo-a"}
		const perDevice = 8
		type result struct {
			b    Backup
			data []byte
		}
		var mu sync.Mutex
		var results []result
		var wg sync.WaitGroup
		errs := make(chan error, len(devices)*perDevice)
		for di, dev := range devices {
			for i := range perDevice {
				wg.Go(func() {
					s := runners[i%2]
					data := randBytes(200_000+i*1000, uint64(di*100+i))
					r, err := s.Begin(bg, FamilyAruba, dev, t0) // all in the same millisecond
					if err != nil {
						errs <- err
						return
					}
					defer r.Abort()
					if _, err := r.WriteFile(bg, "flash", "tar.gz", iotestHalfReader(data)); err != nil {
						errs <- err
						return
					}
					b, err := r.Commit(bg, "host-"+dev, 22, map[string]string{"n": fmt.Sprint(i)}, time.Time{})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					results = append(results, result{b, data})
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(results) != len(devices)*perDevice {
			t.Fatalf("%d runs landed, want %d", len(results), len(devices)*perDevice)
		}
		ids := map[string]bool{}
		for _, res := range results {
			key := res.b.Device + "/" + res.b.ID
			if ids[key] {
				t.Errorf("duplicate id %s", key)
			}
			ids[key] = true
			f, _ := res.b.File("flash")
			if got := readFile(t, ts.Store, f); !bytes.Equal(got, res.data) || f.SHA256 != hexSHA(res.data) {
				t.Errorf("%s: content corrupted", key)
			}
			fb, ff, err := ts.FindByKey(bg, f.Key)
			if err != nil || fb.ID != res.b.ID || ff != f {
				t.Errorf("FindByKey(%s) = %s, %v", f.Key, fb.ID, err)
			}
			if ts.local() {
				if err := VerifyFile(f.Path, f.SHA256); err != nil {
					t.Error(err)
				}
				fb, ff, err := ts.FindByPath(f.Path)
				if err != nil || fb.ID != res.b.ID || ff != f {
					t.Errorf("FindByPath(%s) = %s, %v", f.Path, fb.ID, err)
				}
			}
		}
		for _, dev := range devices {
			got := ts.names(t, FamilyAruba, dev)
			if len(got) != 2*perDevice {
				t.Errorf("%s holds %d entries, want %d: %v", dev, len(got), 2*perDevice, got)
			}
			for _, n := range got {
				if strings.HasSuffix(n, ".lock") {
					t.Errorf("%s: leftover %s", dev, n)
				}
			}
			b, err := ts.Latest(bg, FamilyAruba, dev)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("20261125T101500.%03dZ", 123+perDevice-1); b.ID != want {
				t.Errorf("%s: Latest = %s, want %s", dev, b.ID, want)
			}
		}
		if got := ts.leftovers(t); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
	})
}

// iotestHalfReader returns data in small uneven chunks to exercise the copy loop.
func iotestHalfReader(data []byte) io.Reader { return &chunky{data: data} }

type chunky struct {
	data []byte
	n    int
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.n++
	k := min(len(p), len(c.data), 1000+c.n*37)
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestLatestByHost(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		commitOne(t, ts.Store, FamilyILO, "old-name", "ilo.example.com", t0, []byte("1"))
		want := commitOne(t, ts.Store, FamilyILO, "new-name", "ilo.example.com", t0.Add(time.Minute), []byte("2"))
		commitOne(t, ts.Store, FamilyILO, "other", "other.example.com", t0.Add(time.Hour), []byte("3"))
		commitOne(t, ts.Store, FamilyAruba, "mc", "ilo.example.com", t0.Add(2*time.Hour), []byte("4"))
		got, err := ts.LatestByHost(bg, FamilyILO, "ILO.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got.Device != "new-name" || got.ID != want.ID {
			t.Errorf("LatestByHost = %s/%s, want new-name/%s", got.Device, got.ID, want.ID)
		}
		if _, err := ts.LatestByHost(bg, FamilyILO, "nobody"); !errors.Is(err, ErrNoBackup) {
			t.Errorf("unknown host: %v", err)
		}
		if _, err := ts.LatestByHost(bg, FamilyAruba, "other.example.com"); !errors.Is(err, ErrNoBackup) {
			t.Errorf("host of another family: %v", err)
		}
	})
	for _, ts := range []*tstore{openLocal(t), openS3(t, false)} {
		if _, err := ts.LatestByHost(bg, FamilyILO, "x"); !errors.Is(err, ErrNoBackup) {
			t.Errorf("%s: empty store: %v", ts.backend, err)
		}
	}
}

func TestFindByKeyAndGet(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		b := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
		f := b.Files[0]
		gotB, gotF, err := ts.FindByKey(bg, f.Key)
		if err != nil || gotB.ID != b.ID || gotF != f {
			t.Fatalf("FindByKey = %s %+v %v", gotB.ID, gotF, err)
		}
		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		inc, err := r.WriteFile(bg, "config", "cfg", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		stray := "aruba/mc1/" + b.ID + "-stray.bin"
		ts.put(t, stray, []byte("x"))
		for _, key := range []string{
			inc.Key, // incomplete run
			stray,   // not recorded
			"aruba/mc1/../../etc/passwd",
			"aruba/mc1",
			"aruba/mc1/README",
			b.RecordKey(),
			"cisco/mc1/" + b.ID + "-config.cfg",
			"aruba/mc2/" + b.ID + "-config.cfg",
		} {
			if _, _, err := ts.FindByKey(bg, key); !errors.Is(err, ErrNoBackup) {
				t.Errorf("FindByKey(%s) = %v, want ErrNoBackup", key, err)
			}
		}
		if _, _, err := ts.FindByKey(bg, inc.Key); err == nil || !strings.Contains(err.Error(), "never completed") {
			t.Errorf("incomplete run error = %v", err)
		}
		if got, err := ts.Get(bg, FamilyAruba, "mc1", b.ID); err != nil || got.ID != b.ID {
			t.Errorf("Get = %v %v", got.ID, err)
		}
		if _, err := ts.Get(bg, FamilyAruba, "mc1", r.ID()); !errors.Is(err, ErrNoBackup) {
			t.Errorf("Get of an incomplete run = %v, want ErrNoBackup", err)
		}
		if _, err := ts.Get(bg, FamilyAruba, "mc1", "../x"); err == nil || errors.Is(err, ErrNoBackup) {
			t.Errorf("Get with a bad id = %v", err)
		}
	})
}

func TestFindByPath(t *testing.T) {
	ts := openLocal(t)
	s := ts.Store
	b := commitOne(t, s, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
	f := b.Files[0]
	gotB, gotF, err := s.FindByPath(f.Path)
	if err != nil || gotB.ID != b.ID || gotF != f {
		t.Fatalf("FindByPath = %s %+v %v", gotB.ID, gotF, err)
	}
	// a relative path works too
	t.Chdir(filepath.Join(s.Root(), "aruba"))
	if _, gotF, err := s.FindByPath(filepath.Join("mc1", filepath.Base(f.Path))); err != nil || gotF != f {
		t.Errorf("relative FindByPath = %+v %v", gotF, err)
	}
	// through a symbolic link to the store
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(s.Root(), link); err != nil {
		t.Fatal(err)
	}
	if _, gotF, err := s.FindByPath(filepath.Join(link, "aruba", "mc1", filepath.Base(f.Path))); err != nil || gotF != f {
		t.Errorf("FindByPath via symlink = %+v %v", gotF, err)
	}

	r, err := s.Begin(bg, FamilyAruba, "mc1", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	inc, err := r.WriteFile(bg, "config", "cfg", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(s.Root(), "aruba", "mc1", b.ID+"-stray.bin")
	if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "x.cfg")
	for _, p := range []string{
		inc.Path, // incomplete run
		stray,    // not recorded
		outside,  // outside the store
		filepath.Join(s.Root(), "aruba", "mc1", "..", "..", "..", "etc", "passwd"),
		filepath.Join(s.Root(), "aruba", "mc1"),
		filepath.Join(s.Root(), "aruba", "mc1", "README"),
		filepath.Join(s.Root(), "cisco", "mc1", filepath.Base(f.Path)),
	} {
		if _, _, err := s.FindByPath(p); !errors.Is(err, ErrNoBackup) {
			t.Errorf("FindByPath(%s) = %v, want ErrNoBackup", p, err)
		}
	}
	if _, _, err := s.FindByPath(inc.Path); err == nil || !strings.Contains(err.Error(), "never completed") {
		t.Errorf("incomplete run error = %v", err)
	}
	// On S3 there are no local paths.
	s3s := openS3(t, false)
	if _, _, err := s3s.FindByPath(f.Path); !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "s3://") {
		t.Errorf("FindByPath on S3 = %v, want ErrNoBackup naming the bucket", err)
	}
}

func TestVerifyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	data := randBytes(1<<20+3, 9)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := hexSHA(data)
	if err := VerifyFile(p, sum); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(p, strings.ToUpper(sum)); err != nil {
		t.Errorf("upper-case hash: %v", err)
	}
	other := hexSHA([]byte("other"))
	err := VerifyFile(p, other)
	if err == nil || !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "corrupt or was changed") {
		t.Errorf("mismatch error = %v", err)
	}
	if err := VerifyFile(p, "abc"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("bad hash error = %v", err)
	}
	if err := VerifyFile(filepath.Join(dir, "missing"), sum); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v", err)
	}
}

func TestValidName(t *testing.T) {
	ok := []string{"a", "mc1", "MC-01.example.com", "a_b", "0", strings.Repeat("x", 64), "a..b"}
	for _, s := range ok {
		if err := ValidName(s); err != nil {
			t.Errorf("ValidName(%q) = %v", s, err)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		".":                     "start with '.'",
		"..":                    "start with '.'",
		"../x":                  "'/'",
		"a/b":                   "'/'",
		"\\x":                   "'\\\\'",
		"-rf":                   "start with '-'",
		".hidden":               "start with '.'",
		"a b":                   "' '",
		"a\x00b":                "'\\x00'",
		"caf\u00e9":             "'é'",
		strings.Repeat("x", 65): "at most 64",
		"C:":                    "':'",
	}
	for s, want := range bad {
		err := ValidName(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidName(%q) = %v, want an error mentioning %s", s, err, want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	cases := map[string]string{
		"mc-01":                 "mc-01",
		"mc 01/core":            "mc_01_core",
		"../x":                  "_._x",
		"a/b":                   "a_b",
		"\\x":                   "_x",
		".hidden":               "_hidden",
		"-rf":                   "_rf",
		"café":                  "caf_",
		"a\xffb":                "a_b",
		"x..":                   "x..",
		"...a":                  "_..a",
		strings.Repeat("y", 70): strings.Repeat("y", 64),
		strings.Repeat("é", 70): strings.Repeat("_", 64),
	}
	for in, want := range cases {
		got, err := SanitizeName(in)
		if err != nil || got != want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err == nil {
			if verr := ValidName(got); verr != nil {
				t.Errorf("SanitizeName(%q) = %q fails ValidName: %v", in, got, verr)
			}
		}
	}
	for _, in := range []string{"", ".", "..", "...", strings.Repeat(".", 100)} {
		if got, err := SanitizeName(in); err == nil {
			t.Errorf("SanitizeName(%q) = %q, want an error", in, got)
		}
	}
}

// TestWriteMemoryBounded checks that a large stream is not held in memory: writing
// 64 MiB allocates far less than that (the benchmark measures the same for 256 MiB).
// On S3, a writer holds up to Concurrency+1 part buffers.
func TestWriteMemoryBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		limit := uint64(4 << 20)
		if !ts.local() {
			limit = uint64(objstore.DefaultConcurrency+1)*objstore.MinPartSize + 12<<20
		}
		r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Abort()
		const n = 64 << 20
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, err := r.WriteFile(bg, "flash", "bin", &patternReader{left: n})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != n {
			t.Fatalf("size %d", f.Size)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
			t.Errorf("writing %d MiB allocated %d MiB (limit %d MiB): the stream is being buffered", n>>20, alloc>>20, limit>>20)
		}
	})
}

// patternReader produces left bytes of a fixed pattern without allocating.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	k := len(b)
	if int64(k) > p.left {
		k = int(p.left)
	}
	for i := range b[:k] {
		b[i] = byte(i)
	}
	p.left -= int64(k)
	return k, nil
}

func BenchmarkWriteFile256MiB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	const n = 256 << 20
	b.SetBytes(n)
	b.ReportAllocs()
	start := t0
	for i := 0; b.Loop(); i++ {
		r, err := s.Begin(bg, FamilyAruba, "bench", start.Add(time.Duration(i)*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.WriteFile(bg, "flash", "bin", &patternReader{left: n}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := r.Abort(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// TestParseFileKey: the key of every file a run writes parses back into its parts;
// a key the store would not write is refused with the part that is wrong.
func TestParseFileKey(t *testing.T) {
	ts := openLocal(t)
	b := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("cfg"))
	f := b.Files[0]
	k, err := ParseFileKey(f.Key)
	if err != nil || k.Family != FamilyAruba || k.Device != "mc1" || k.ID != b.ID || k.String() != f.Key ||
		!strings.HasPrefix(k.Name, f.Kind+".") {
		t.Fatalf("ParseFileKey(%s) = %+v, %v", f.Key, k, err)
	}
	for key, want := range map[string]string{
		"aruba/mc1/../../etc/passwd":         "segment starting with '.'",
		"/aruba/mc1/" + b.ID + "-config.cfg": "empty segment",
		"aruba/mc1":                          "has 2 parts",
		"cisco/mc1/" + b.ID + "-config.cfg":  `unknown device family "cisco"`,
		"aruba/" + strings.Repeat("m", 65) + "/" + b.ID + "-config.cfg": "device name",
		"aruba/mc1/README":                   `file name "README" does not start with a backup id`,
		"aruba/mc1/20261399T000000.000Z-x.y": "does not start with a backup id",
	} {
		if _, err := ParseFileKey(key); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFileKey(%s) = %v, want an error saying %q", key, err, want)
		}
	}
	if err := ValidID(b.ID); err != nil {
		t.Errorf("ValidID(%s) = %v", b.ID, err)
	}
	if err := ValidID("2026-11-25"); err == nil || !strings.Contains(err.Error(), "20261125T101500.123Z") {
		t.Errorf("ValidID of a date = %v", err)
	}
}
