//go:build unix

package objstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// promptly fails the test when f does not return: opening a named pipe blocks
// until a writer comes, which is never.
func promptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hangs", what)
	}
}

func wantErrContaining(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want an error containing %q", what, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s = %v, want an error containing %q", what, err, p)
		}
	}
}

// A symbolic link below the root is never followed: not as the object itself, not
// as a folder on the way to it. Every operation that meets one says so, and a
// listing fails rather than hiding what the link stands for.
func TestLocalRefusesSymbolicLinks(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		link string // below the root, pointing at outside
		key  string // a key reached through the link
	}{
		{"folder", "d/sub", "d/sub/secret"},
		{"top folder", "d", "d/secret"},
		{"object", "d/obj", "d/obj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			st, err := objstore.NewLocal(root)
			if err != nil {
				t.Fatal(err)
			}
			linkPath := filepath.Join(root, filepath.FromSlash(tc.link))
			if err := os.MkdirAll(filepath.Dir(linkPath), 0o700); err != nil {
				t.Fatal(err)
			}
			target := outside
			if tc.name == "object" {
				target = filepath.Join(outside, "secret")
			}
			if err := os.Symlink(target, linkPath); err != nil {
				t.Fatal(err)
			}
			_, _, err = st.Open(ctx, tc.key)
			wantErrContaining(t, "Open", err, "symbolic link")
			_, err = st.Stat(ctx, tc.key)
			if tc.name == "object" {
				wantErrContaining(t, "Stat", err, "a symbolic link")
			} else {
				wantErrContaining(t, "Stat", err, linkPath, "symbolic link")
			}
			_, err = st.List(ctx, "")
			wantErrContaining(t, "List", err, linkPath, "symbolic link")
			_, err = st.List(ctx, tc.link+"/")
			wantErrContaining(t, "List below the link", err, "symbolic link")
			if tc.name != "object" {
				_, err = st.Put(ctx, tc.link+"/new", []byte("x"))
				wantErrContaining(t, "Put through the link", err, linkPath, "symbolic link")
				if _, err := os.Lstat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
					t.Error("Put wrote through the link, outside the store")
				}
				err = st.Delete(ctx, tc.key)
				wantErrContaining(t, "Delete through the link", err, "symbolic link")
			}
			if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
				t.Errorf("the file outside the store is gone: %v", err)
			}
		})
	}
	t.Run("root through a link", func(t *testing.T) {
		real := t.TempDir()
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		st, err := objstore.NewLocal(link)
		if err != nil {
			t.Fatal(err)
		}
		write(t, st, "d/x", []byte("x"))
		if list, err := st.List(ctx, "d/"); err != nil || len(list) != 1 {
			t.Errorf("List through a linked root = %v, %v", list, err)
		}
		if got, _ := readAll(t, st, "d/x"); string(got) != "x" {
			t.Errorf("read %q", got)
		}
	})
}

// A named pipe (or socket, or device) is no object: a listing fails naming it, and
// opening it neither blocks nor succeeds.
func TestLocalRefusesSpecialFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, "d/real", []byte("x"))
	fifo := filepath.Join(root, "d", "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	promptly(t, "List", func() {
		_, err := st.List(ctx, "d/")
		wantErrContaining(t, "List", err, fifo, "not a regular file (a named pipe)")
	})
	if list, err := st.List(ctx, "e/"); err != nil || len(list) != 0 {
		t.Errorf("List of another prefix = %v, %v; want nothing and no error", list, err)
	}
	promptly(t, "Open", func() {
		_, _, err := st.Open(ctx, "d/pipe.json")
		wantErrContaining(t, "Open", err, "not a regular file")
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Open of a named pipe = %v, want ErrNotFound", err)
		}
	})
	if _, err := st.Put(ctx, "d/pipe.json", []byte("x")); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("Put over a named pipe = %v, want ErrExists", err)
	}
}

// OpenLocal writes nothing, as plans must not; it refuses a file and a folder it
// cannot write to before any work starts. The first Create makes the folders.
func TestOpenLocalWritesNothing(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "a", "b")
	st, err := objstore.OpenLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenLocal created folders: %v", err)
	}
	if list, err := st.List(context.Background(), "x/"); err != nil || len(list) != 0 {
		t.Errorf("List of a missing store = %v, %v", list, err)
	}
	if _, err := st.Stat(context.Background(), "x/y"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat in a missing store = %v, want ErrNotFound", err)
	}
	write(t, st, "x/y", []byte("y"))
	for _, d := range []string{filepath.Join(base, "a"), root, filepath.Join(root, "x")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want a folder with mode 700", d, fi, err)
		}
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = objstore.OpenLocal(file)
	wantErrContaining(t, "OpenLocal(file)", err, "is a file, not a folder")
	_, err = objstore.OpenLocal(filepath.Join(file, "sub"))
	wantErrContaining(t, "OpenLocal(file/sub)", err, "is a file, not a folder")
	if _, err := objstore.OpenLocal(""); err == nil {
		t.Error(`OpenLocal("") succeeded`)
	}
	if os.Geteuid() != 0 { // root can write anywhere
		ro := filepath.Join(base, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		_, err = objstore.OpenLocal(ro)
		wantErrContaining(t, "OpenLocal(read-only)", err, "not writable")
		_, err = objstore.OpenLocal(filepath.Join(ro, "missing"))
		wantErrContaining(t, "OpenLocal(missing in read-only)", err, "not writable")
	}
}

// List returns keys in byte order across folders: a folder's keys continue its
// name with '/', which sorts after '-', '.' and digits' neighbours, so "mc-1" and
// "mc.json" come before "mc/x", and "mc/x-1" before "mc/x/deep".
func TestLocalListSortedAcrossFolders(t *testing.T) {
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"mc/x/deep", "mc-1/y", "mc.json", "mc_2/z", "mc0", "mc/x.json", "mc/x-1", "mc/x_", "mc/x0/a",
		"A/b", "a/b", "a-b", "a.b/c", "a0", "mc-1.json", "mc/x-/q", "zz",
	}
	for _, k := range keys {
		write(t, st, k, []byte(k))
	}
	sorted := slices.Sorted(slices.Values(keys))
	for _, prefix := range []string{"", "mc", "mc/", "mc/x", "mc/x/", "mc-", "a", "zz", "mc/x-"} {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		list, err := st.List(context.Background(), prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		var got []string
		for _, o := range list {
			got = append(got, o.Key)
			if o.Size != int64(len(o.Key)) || o.ModTime.IsZero() {
				t.Errorf("List(%q): %s has size %d, mod time %v", prefix, o.Key, o.Size, o.ModTime)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) =\n%q\nwant\n%q", prefix, got, want)
		}
	}
}
