package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// partSize is the S3 part size of the tests: the smallest S3 allows, so that
// multipart uploads happen with little data.
const partSize = objstore.MinPartSize

// env is one backend under test.
type env struct {
	store objstore.Store
	// leftovers lists what an interrupted write could have left behind: temporary
	// files (local), multipart uploads in progress (S3).
	leftovers func(t *testing.T) []string
	// everything lists every stored object by its raw name, including ones the
	// store itself would not show.
	everything func(t *testing.T) []string
	srv        *s3test.Server // S3 only
	bucket     string         // S3 only
}

// setup tunes the S3 configuration of a test.
type setup func(*objstore.S3Config)

func newLocal(t *testing.T) *env {
	root := t.TempDir()
	st, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	walk := func(t *testing.T, hidden bool) []string {
		var out []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") == hidden {
				rel, _ := filepath.Rel(root, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return &env{
		store:      st,
		leftovers:  func(t *testing.T) []string { return walk(t, true) },
		everything: func(t *testing.T) []string { return append(walk(t, false), walk(t, true)...) },
	}
}

func newS3(t *testing.T, lockBucket bool, tune ...setup) *env {
	srv := s3test.Start(t)
	bucket := "backups"
	srv.CreateBucket(t, bucket, lockBucket)
	cfg := srv.Config(bucket)
	cfg.PartSize = partSize
	for _, f := range tune {
		f(&cfg)
	}
	st, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		store:      st,
		leftovers:  func(t *testing.T) []string { return srv.OpenUploads(t, bucket) },
		everything: func(t *testing.T) []string { return srv.Keys(t, bucket) },
		srv:        srv,
		bucket:     bucket,
	}
}

// eachBackend runs f against the local backend and against S3 (versitygw).
func eachBackend(t *testing.T, f func(t *testing.T, e *env), tune ...setup) {
	t.Run("local", func(t *testing.T) { f(t, newLocal(t)) })
	t.Run("s3", func(t *testing.T) { f(t, newS3(t, false, tune...)) })
}

// data is n reproducible pseudo-random bytes.
func data(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readAll(t *testing.T, st objstore.Store, key string) ([]byte, objstore.ObjectInfo) {
	t.Helper()
	rc, info, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

// assertNothingLeft checks that no object is visible and nothing is left behind.
func assertNothingLeft(t *testing.T, e *env) {
	t.Helper()
	if got := e.everything(t); len(got) != 0 {
		t.Errorf("stored objects and files: %q, want none", got)
	}
	if got := e.leftovers(t); len(got) != 0 {
		t.Errorf("left behind: %q, want nothing", got)
	}
	list, err := e.store.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("List shows %v, want nothing", list)
	}
}

func write(t *testing.T, st objstore.Store, key string, b []byte) objstore.Written {
	t.Helper()
	w, err := st.Create(context.Background(), key)
	if err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
	defer w.Abort()
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
	res, err := w.Commit()
	if err != nil {
		t.Fatalf("commit %s: %v", key, err)
	}
	return res
}

func TestCommitMakesVisible(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := "ilo/dev1/20261125T101500.123Z-backup.bin"
		body := data(partSize+1234, 1) // multipart on S3
		w, err := e.store.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat before Commit = %v, want ErrNotFound", err)
		}
		if list, _ := e.store.List(ctx, ""); len(list) != 0 {
			t.Errorf("List before Commit = %v, want nothing", list)
		}
		res, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if res.Key != key || res.Size != int64(len(body)) || res.SHA256 != sha(body) {
			t.Errorf("Commit = %+v, want key %s size %d sha %s", res, key, len(body), sha(body))
		}
		got, info := readAll(t, e.store, key)
		if !bytes.Equal(got, body) {
			t.Errorf("read back %d bytes that differ from the %d written", len(got), len(body))
		}
		if info.Size != int64(len(body)) {
			t.Errorf("Open size = %d, want %d", info.Size, len(body))
		}
		st, err := e.store.Stat(ctx, key)
		if err != nil || st.Size != int64(len(body)) || st.ModTime.IsZero() {
			t.Errorf("Stat = %+v, %v", st, err)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after Commit = %v, want nil", err)
		}
		if _, err := e.store.Stat(ctx, key); err != nil {
			t.Errorf("Abort after Commit removed the object: %v", err)
		}
		if got := e.leftovers(t); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
	})
}

func TestAbortLeavesNothing(t *testing.T) {
	for _, size := range []int{100, 3*partSize + 5} { // one request; multipart upload
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			eachBackend(t, func(t *testing.T, e *env) {
				w, err := e.store.Create(context.Background(), "a/b/obj")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(data(size, 2)); err != nil {
					t.Fatal(err)
				}
				if err := w.Abort(); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Commit(); err == nil {
					t.Error("Commit after Abort succeeded")
				}
				assertNothingLeft(t, e)
			})
		})
	}
}

// cancelAfter reads src and cancels ctx once n bytes went through, as a device
// connection cut in the middle of a backup would.
type cancelAfter struct {
	src    io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.src.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestInterruptedWriteLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		callAbort bool // the caller aborts (deferred); else only Commit runs
	}{{"abort", true}, {"commit", false}} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, e *env) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := e.store.Create(ctx, "ilo/dev1/big.bin")
				if err != nil {
					t.Fatal(err)
				}
				src := &cancelAfter{src: bytes.NewReader(data(6*partSize, 3)), n: 2*partSize + 100, cancel: cancel}
				_, err = io.Copy(w, src)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("write after the context was cancelled = %v, want context.Canceled", err)
				}
				if tc.callAbort {
					if err := w.Abort(); err != nil {
						t.Fatalf("Abort: %v", err)
					}
				} else if _, err := w.Commit(); !errors.Is(err, context.Canceled) {
					t.Fatalf("Commit = %v, want context.Canceled", err)
				}
				assertNothingLeft(t, e)
			})
		})
	}
}

func TestSHA256WhileStreaming(t *testing.T) {
	sizes := []int{0, 1, partSize - 1, partSize, partSize + 1, 40 << 20}
	eachBackend(t, func(t *testing.T, e *env) {
		for i, size := range sizes {
			body := data(size, uint64(10+i))
			key := fmt.Sprintf("sizes/%d.bin", size)
			res := write(t, e.store, key, body)
			if res.Size != int64(size) || res.SHA256 != sha(body) {
				t.Errorf("size %d: Commit = size %d sha %s, want %s", size, res.Size, res.SHA256, sha(body))
			}
			got, _ := readAll(t, e.store, key)
			if sha(got) != sha(body) {
				t.Errorf("size %d: stored bytes have SHA-256 %s, want %s", size, sha(got), sha(body))
			}
			if e.srv == nil {
				continue
			}
			info, err := e.store.Stat(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if want := serverChecksum(body); info.ServerChecksum != want {
				t.Errorf("size %d: server checksum %q, want %q", size, info.ServerChecksum, want)
			}
		}
	})
}

// serverChecksum is the SHA-256 checksum S3 keeps for body uploaded by the store:
// of the whole body when it fits in one part, else of the parts' digests.
func serverChecksum(body []byte) string {
	if len(body) <= partSize {
		s := sha256.Sum256(body)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	var digests []byte
	parts := 0
	for off := 0; off < len(body); off += partSize {
		s := sha256.Sum256(body[off:min(off+partSize, len(body))])
		digests = append(digests, s[:]...)
		parts++
	}
	s := sha256.Sum256(digests)
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(s[:]), parts)
}

func TestNeverOverwrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first := data(1000, 4)
		write(t, e.store, "k/obj", first)

		if _, err := e.store.Create(ctx, "k/obj"); !errors.Is(err, objstore.ErrExists) {
			t.Errorf("Create of an existing key = %v, want ErrExists", err)
		}
		if _, err := e.store.Put(ctx, "k/obj", []byte("other")); !errors.Is(err, objstore.ErrExists) {
			t.Errorf("Put of an existing key = %v, want ErrExists", err)
		}

		// Two writers race for one key: the first to commit wins, the second fails
		// and stores nothing.
		for _, size := range []int{10, partSize + 10} {
			key := fmt.Sprintf("race/%d", size)
			a, err := e.store.Create(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.store.Create(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			winner, loser := data(size, 5), data(size, 6)
			if _, err := a.Write(winner); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(loser); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Commit(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Commit(); !errors.Is(err, objstore.ErrExists) {
				t.Errorf("size %d: second Commit = %v, want ErrExists", size, err)
			}
			got, _ := readAll(t, e.store, key)
			if !bytes.Equal(got, winner) {
				t.Errorf("size %d: the second writer replaced the first one's object", size)
			}
		}
		got, _ := readAll(t, e.store, "k/obj")
		if !bytes.Equal(got, first) {
			t.Error("the object was overwritten")
		}
		if left := e.leftovers(t); len(left) != 0 {
			t.Errorf("left behind: %q", left)
		}
	})
}

func TestListPaginated(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		keys := []string{"a/b1", "a/b2/x", "a/b2/y", "a/c", "a.b", "ab/x", "b/z", "a/b3"}
		for i, k := range keys {
			if _, err := e.store.Put(ctx, k, bytes.Repeat([]byte{'x'}, i+1)); err != nil {
				t.Fatal(err)
			}
		}
		// An object being written is not listed.
		w, err := e.store.Create(ctx, "a/b4")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := w.Write([]byte("pending")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"a/", []string{"a/b1", "a/b2/x", "a/b2/y", "a/b3", "a/c"}},
			{"a/b", []string{"a/b1", "a/b2/x", "a/b2/y", "a/b3"}},
			{"a/b2/", []string{"a/b2/x", "a/b2/y"}},
			{"a", []string{"a.b", "a/b1", "a/b2/x", "a/b2/y", "a/b3", "a/c", "ab/x"}},
			{"", []string{"a.b", "a/b1", "a/b2/x", "a/b2/y", "a/b3", "a/c", "ab/x", "b/z"}},
			{"nothing/", nil},
		} {
			list, err := e.store.List(ctx, tc.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			var got []string
			for _, o := range list {
				got = append(got, o.Key)
				i := indexOf(keys, o.Key)
				if o.Size != int64(i+1) || o.ModTime.IsZero() {
					t.Errorf("List(%q): %s has size %d, mod time %v; want size %d and a time", tc.prefix, o.Key, o.Size, o.ModTime, i+1)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		}
	}, func(c *objstore.S3Config) { c.ListPageSize = 2 }) // 8 objects: 4 pages
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		write(t, e.store, "d/one", []byte("1"))
		write(t, e.store, "d/two", []byte("2"))
		if err := e.store.Delete(ctx, "d/one"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Stat(ctx, "d/one"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
		}
		if _, _, err := e.store.Open(ctx, "d/one"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Open after Delete = %v, want ErrNotFound", err)
		}
		list, err := e.store.List(ctx, "d/")
		if err != nil || len(list) != 1 || list[0].Key != "d/two" {
			t.Errorf("List after Delete = %v, %v; want d/two only", list, err)
		}
		if err := e.store.Delete(ctx, "d/one"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("second Delete = %v, want ErrNotFound", err)
		}
		// The key is free again.
		write(t, e.store, "d/one", []byte("again"))
	})
}

func TestInvalidKeysNeverReachStorage(t *testing.T) {
	bad := []string{"", "/abs", "../up", "a/../b", "a/./b", "a//b", "a/", `a\b`, ".hidden", "a/.tmp-x",
		"-opt", "a b", "a\x00b", "ü", "a/" + strings.Repeat("x", 256)}
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, key := range bad {
			if _, err := e.store.Create(ctx, key); err == nil {
				t.Errorf("Create(%q) succeeded", key)
			}
			if _, err := e.store.Put(ctx, key, []byte("x")); err == nil {
				t.Errorf("Put(%q) succeeded", key)
			}
			if _, _, err := e.store.Open(ctx, key); err == nil || errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Open(%q) = %v, want a key error", key, err)
			}
			if _, err := e.store.Stat(ctx, key); err == nil || errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Stat(%q) = %v, want a key error", key, err)
			}
			if err := e.store.Delete(ctx, key); err == nil || errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Delete(%q) = %v, want a key error", key, err)
			}
		}
		for _, prefix := range []string{"../", "/a", "a//", `a\`} {
			if _, err := e.store.List(ctx, prefix); err == nil {
				t.Errorf("List(%q) succeeded", prefix)
			}
		}
		assertNothingLeft(t, e)
	})
}

func TestLocalFilesArePrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	st, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, "ilo/dev1/x.bin", data(10, 7))
	if _, err := st.Put(context.Background(), "ilo/dev1/x.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		"ilo":             0o700,
		"ilo/dev1":        0o700,
		"ilo/dev1/x.bin":  0o600,
		"ilo/dev1/x.json": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if got := st.Location("ilo/dev1/x.bin"); got != filepath.Join(root, "ilo", "dev1", "x.bin") {
		t.Errorf("Location = %s", got)
	}
}

func TestLocalSkipsForeignFiles(t *testing.T) {
	root := t.TempDir()
	st, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, "d/real", []byte("x"))
	// Regular files the store did not write and nothing can name: a hidden
	// (temporary) file, a file whose name is not a valid key.
	for _, name := range []string{".tmp-crashed-123", "bad name"} {
		if err := os.WriteFile(filepath.Join(root, "d", name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Key != "d/real" {
		t.Errorf("List = %v, want d/real only", list)
	}
}
