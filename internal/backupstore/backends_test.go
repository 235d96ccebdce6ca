package backupstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// testPrefix is the key prefix of every S3 store in these tests: the layout lives
// below it.
const testPrefix = "site-a/backups"

// One versitygw for the package, started by the first S3 test; each test gets a
// fresh bucket.
var shared struct {
	once sync.Once
	srv  *s3test.Server
	ca   *devicesim.CA
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func sharedServer(t *testing.T) (*s3test.Server, *devicesim.CA) {
	t.Helper()
	shared.once.Do(func() {
		if shared.ca, shared.err = devicesim.NewCA(); shared.err != nil {
			return
		}
		// The server and its folder serve every test of the package and are removed in
		// TestMain: a t.TempDir would be removed with the first test that asked.
		if shared.dir, shared.err = os.MkdirTemp("", "backupstore-s3-"); shared.err != nil { //nolint:usetesting // see above
			return
		}
		shared.srv, shared.err = s3test.Launch(shared.ca, shared.dir)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv, shared.ca
}

// tstore is a store under test with raw access to its backend, to look behind the
// store's back and to damage it.
type tstore struct {
	*Store
	backend string // "local" or "s3"
	root    string // local only
	srv     *s3test.Server
	bucket  string
	cfg     objstore.S3Config // s3 only: the store's configuration
}

func (ts *tstore) local() bool { return ts.backend == "local" }

// openLocal is a store in a new local folder.
func openLocal(t *testing.T) *tstore {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	return &tstore{Store: s, backend: "local", root: s.Root()}
}

// openS3 is a store in a fresh bucket of the shared server (with Object Lock when
// lockBucket), configured by tune.
func openS3(t *testing.T, lockBucket bool, tune ...func(*objstore.S3Config)) *tstore {
	t.Helper()
	srv, _ := sharedServer(t)
	bucket := srv.NewBucket(t, lockBucket)
	cfg := srv.Config(bucket)
	cfg.Prefix = testPrefix
	cfg.PartSize = objstore.MinPartSize
	for _, f := range tune {
		f(&cfg)
	}
	return &tstore{Store: newS3Store(t, cfg), backend: "s3", srv: srv, bucket: bucket, cfg: cfg}
}

func newS3Store(t *testing.T, cfg objstore.S3Config) *Store {
	t.Helper()
	obj, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return New(obj)
}

// eachBackend runs f against a local folder and against a fresh S3 bucket.
func eachBackend(t *testing.T, f func(t *testing.T, ts *tstore)) {
	t.Run("local", func(t *testing.T) { f(t, openLocal(t)) })
	t.Run("s3", func(t *testing.T) { f(t, openS3(t, false)) })
}

// second is another store on the same folder or bucket: another runner.
func (ts *tstore) second(t *testing.T) *Store {
	t.Helper()
	if ts.local() {
		s, err := Open(ts.root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return newS3Store(t, ts.cfg)
}

func (ts *tstore) rawKey(key string) string { return testPrefix + "/" + key }

// keys lists every key stored below prefix, as the store names them, reservations
// included: local files but hidden (temporary) ones; every object in the bucket.
func (ts *tstore) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	if ts.local() {
		err := filepath.WalkDir(ts.root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == ts.root {
				return fs.SkipAll
			}
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return err
			}
			rel, _ := filepath.Rel(ts.root, p)
			out = append(out, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		for _, k := range ts.srv.Keys(t, ts.bucket) {
			out = append(out, strings.TrimPrefix(k, testPrefix+"/"))
		}
	}
	var match []string
	for _, k := range out {
		if strings.HasPrefix(k, prefix) {
			match = append(match, k)
		}
	}
	slices.Sort(match)
	return match
}

// names lists what is stored in a device's folder, by name.
func (ts *tstore) names(t *testing.T, family, device string) []string {
	t.Helper()
	var out []string
	for _, k := range ts.keys(t, devicePrefix(family, device)) {
		out = append(out, strings.TrimPrefix(k, devicePrefix(family, device)))
	}
	return out
}

// leftovers lists what an interrupted write could leave behind: temporary files
// (local), multipart uploads in progress (S3).
func (ts *tstore) leftovers(t *testing.T) []string {
	t.Helper()
	if !ts.local() {
		return ts.srv.OpenUploads(t, ts.bucket)
	}
	var out []string
	_ = filepath.WalkDir(ts.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// put writes data at key behind the store's back, replacing what is there.
func (ts *tstore) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if ts.local() {
		p := filepath.Join(ts.root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	_, err := ts.srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(ts.bucket), Key: aws.String(ts.rawKey(key)), Body: bytes.NewReader(data),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// remove deletes key behind the store's back.
func (ts *tstore) remove(t *testing.T, key string) {
	t.Helper()
	if ts.local() {
		if err := os.Remove(filepath.Join(ts.root, filepath.FromSlash(key))); err != nil {
			t.Fatal(err)
		}
		return
	}
	_, err := ts.srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{
		Bucket: aws.String(ts.bucket), Key: aws.String(ts.rawKey(key)),
	})
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// read returns the bytes stored at key, read behind the store's back.
func (ts *tstore) read(t *testing.T, key string) []byte {
	t.Helper()
	if ts.local() {
		b, err := os.ReadFile(filepath.Join(ts.root, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out, err := ts.srv.Client().GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(ts.bucket), Key: aws.String(ts.rawKey(key)),
	})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantLocation is where the store says key is.
func (ts *tstore) wantLocation(key string) string {
	if ts.local() {
		return filepath.Join(ts.root, filepath.FromSlash(key))
	}
	return "s3://" + ts.bucket + "/" + ts.rawKey(key)
}

// assertNothingVisible checks that a device has no backup and that nothing is
// stored under its folder nor left behind.
func (ts *tstore) assertNothingLeft(t *testing.T, family, device string) {
	t.Helper()
	if got := ts.names(t, family, device); len(got) != 0 {
		t.Errorf("stored for %s/%s: %q, want nothing", family, device, got)
	}
	if got := ts.leftovers(t); len(got) != 0 {
		t.Errorf("left behind: %q, want nothing", got)
	}
	if b, err := ts.Latest(context.Background(), family, device); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Latest = %s, %v; want ErrNoBackup", b.ID, err)
	}
}
