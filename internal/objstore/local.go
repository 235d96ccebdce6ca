package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	fileMode = 0o600
	dirMode  = 0o700
	// tmpPrefix starts the names of temporary files. Keys never have a segment
	// starting with '.', so a temporary file can never be taken for an object.
	tmpPrefix = ".tmp-"
	// writebackChunk is how much is written before writeback of it is started.
	writebackChunk = 8 << 20
)

// Local is a Store in a folder of the local file system: key "a/b/c" is the file
// <root>/a/b/c. Files are created with mode 0600 and folders with 0700. Several
// processes may share the folder. No symbolic link below the root is followed, and
// only regular files are read (see file.go).
type Local struct {
	root string // absolute
}

var _ Store = (*Local)(nil)

// NewLocal opens the store rooted at root, creating the folder if it is missing.
func NewLocal(root string) (*Local, error) {
	l, err := OpenLocal(root)
	if err != nil {
		return nil, err
	}
	if err := mkdirAll(l.root); err != nil {
		return nil, fmt.Errorf("cannot create backup folder %s: %w", l.root, err)
	}
	return l, nil
}

// OpenLocal opens the store rooted at root (made absolute) and writes nothing, as a
// plan must not: a missing folder is created by the first Create. A path that is a
// file, or a folder this process cannot write to (or, when it is missing, the
// nearest existing folder above it), is refused now, so that a plan fails before
// any work starts.
func OpenLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("backup folder must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("backup folder %q: %w", root, err)
	}
	// The folder, or the nearest existing folder above it, which Create creates in.
	existing := abs
	for {
		fi, err := os.Stat(existing)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && filepath.Dir(existing) != existing:
			existing = filepath.Dir(existing)
			continue
		case err != nil:
			return nil, fmt.Errorf("cannot use backup folder %s: %w", abs, err)
		case !fi.IsDir() && existing == abs:
			return nil, fmt.Errorf("backup folder %s is a file, not a folder: choose another path or remove the file", abs)
		case !fi.IsDir():
			return nil, fmt.Errorf("cannot create backup folder %s: %s is a file, not a folder", abs, existing)
		}
		break
	}
	if err := writable(existing); err != nil {
		if existing == abs {
			return nil, fmt.Errorf("backup folder %s is not writable (check its owner and permissions): %w", abs, err)
		}
		return nil, fmt.Errorf("cannot create backup folder %s: %s is not writable (check its owner and permissions): %w", abs, existing, err)
	}
	return &Local{root: abs}, nil
}

// Root is the store's absolute root folder.
func (l *Local) Root() string { return l.root }

// Location is the file path of key; Location("") is the root folder.
func (l *Local) Location(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// checkFoldersOf checks the folders above a valid key: none may be a symbolic link
// or anything but a folder. A missing folder fails with ErrNotFound, unless create
// is set: then it is created.
func (l *Local) checkFoldersOf(key string, create bool) error {
	return l.checkDirs(key[:max(strings.LastIndexByte(key, '/'), 0)], create)
}

// checkDirs checks the folders of the slash-separated path rel below the root, one
// by one with lstat, so that none is a symbolic link: a link to a folder elsewhere
// would make objects appear, or be written, outside the store. With create,
// missing folders (the root included) are created.
func (l *Local) checkDirs(rel string, create bool) error {
	if create {
		if _, err := os.Stat(l.root); errors.Is(err, fs.ErrNotExist) {
			if err := mkdirAll(l.root); err != nil {
				return err
			}
		}
	}
	if rel == "" {
		return nil
	}
	dir := l.root
	for seg := range strings.SplitSeq(rel, "/") {
		parent := dir
		dir = filepath.Join(dir, seg)
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) && create {
			if err = os.Mkdir(dir, dirMode); err == nil {
				if err := syncDir(parent); err != nil {
					return err
				}
				continue
			}
			if !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create folder %s: %w", dir, err)
			}
			fi, err = os.Lstat(dir) // created concurrently: check what it is
		}
		switch {
		case err != nil:
			return fmt.Errorf("folder %s: %w", dir, notFound(err))
		case fi.Mode()&fs.ModeSymlink != 0:
			return errSymlink(dir)
		case !fi.IsDir():
			return fmt.Errorf("%s is not a folder (%s)", dir, describeMode(fi.Mode()))
		}
	}
	return nil
}

// Check verifies that a file can be created in the root folder, creating the
// folder if it is missing.
func (l *Local) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.checkDirs("", true); err != nil {
		return fmt.Errorf("cannot create backup folder %s: %w", l.root, err)
	}
	probe, err := os.CreateTemp(l.root, tmpPrefix+"probe-*")
	if err != nil {
		return fmt.Errorf("backup folder %s is not writable (check its owner and permissions): %w", l.root, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	return nil
}

// Create starts a temporary file beside the object's final path.
func (l *Local) Create(ctx context.Context, key string) (Writer, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	final := l.Location(key)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s: %w", final, err)
	}
	if err := l.checkFoldersOf(key, true); err != nil {
		return nil, fmt.Errorf("create %s: %w", final, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("create %s: %w", final, ErrExists)
	}
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(final)+"-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", final, err)
	}
	if err := f.Chmod(fileMode); err != nil { // CreateTemp uses 0600 already; be explicit
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	return &localWriter{ctx: ctx, key: key, final: final, tmp: f.Name(), f: f, h: sha256.New()}, nil
}

// Put writes data as a new object.
func (l *Local) Put(ctx context.Context, key string, data []byte) (Written, error) {
	return putWith(ctx, l, key, data)
}

// putWith is Put on top of Create, for backends that have nothing better.
func putWith(ctx context.Context, s Store, key string, data []byte) (Written, error) {
	w, err := s.Create(ctx, key)
	if err != nil {
		return Written{}, err
	}
	defer func() { _ = w.Abort() }()
	if _, err := w.Write(data); err != nil {
		return Written{}, err
	}
	return w.Commit()
}

// Open opens the object's file without blocking and without following a symbolic
// link; anything but a regular file is refused.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	p := l.Location(key)
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", p, err)
	}
	if err := l.checkFoldersOf(key, false); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", p, err)
	}
	f, fi, err := OpenRegularFile(p, true)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err) // a link, a pipe, a folder: no object
		}
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", p, notFound(err))
	}
	return f, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Stat describes the object's file.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return ObjectInfo{}, err
	}
	p := l.Location(key)
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", p, err)
	}
	if err := l.checkFoldersOf(key, false); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return l.stat(key, p)
}

func (l *Local) stat(key, p string) (ObjectInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", p, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%s is not a regular file (%s): %w", p, describeMode(fi.Mode()), ErrNotFound)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// notFound adds ErrNotFound to a file-system error that says the file is missing.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// List walks the folder holding prefix. Hidden and temporary files, and files
// whose names are not valid keys, are skipped: nothing can name them. A symbolic
// link, a named pipe or anything else that is neither a regular file nor a folder
// fails the listing with an error naming it, rather than being hidden: it could
// stand in for an object (a link to a folder elsewhere, a pipe named like a record).
func (l *Local) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, err
	}
	fail := func(err error) ([]ObjectInfo, error) {
		return nil, fmt.Errorf("list %s with prefix %q: %w", l.root, prefix, err)
	}
	start, dirKey := l.root, ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		if err := l.checkDirs(prefix[:i], false); errors.Is(err, ErrNotFound) {
			return nil, nil // nothing stored under this prefix yet
		} else if err != nil {
			return fail(err)
		}
		start, dirKey = filepath.Join(l.root, filepath.FromSlash(prefix[:i])), prefix[:i+1]
	}
	out, err := l.listUnder(ctx, start, dirKey, prefix)
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// Delete removes the object's file and syncs its folder.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	p := l.Location(key)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if err := l.checkFoldersOf(key, false); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if _, err := l.stat(key, p); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete %s: %w", p, notFound(err))
	}
	return syncDir(filepath.Dir(p))
}

// localWriter writes a temporary file in the object's folder; Commit links it to
// the final name, which fails if that name exists, so nothing is ever replaced.
type localWriter struct {
	ctx     context.Context
	key     string
	final   string
	tmp     string
	f       *os.File // nil once closed
	h       hash.Hash
	size    int64
	flushed int64 // bytes whose writeback was started
	done    bool
	err     error // first write error; the writer is unusable after it
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: the writer is already committed or aborted", w.final)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("writing %s stopped: %w", w.final, err)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write %s: %w", w.final, err)
		return n, w.err
	}
	if w.size-w.flushed >= writebackChunk {
		startWriteback(w.f, w.flushed, w.size-w.flushed)
		w.flushed = w.size
	}
	return n, nil
}

func (w *localWriter) Commit() (res Written, err error) {
	if w.done {
		return Written{}, fmt.Errorf("commit %s: the writer is already committed or aborted", w.final)
	}
	defer func() {
		if err != nil {
			_ = w.Abort()
		}
	}()
	if w.err != nil {
		return Written{}, w.err
	}
	if err := w.f.Sync(); err != nil {
		return Written{}, fmt.Errorf("sync %s: %w", w.final, err)
	}
	err = w.f.Close()
	w.f = nil
	if err != nil {
		return Written{}, fmt.Errorf("close %s: %w", w.final, err)
	}
	if err := w.ctx.Err(); err != nil {
		return Written{}, fmt.Errorf("writing %s stopped: %w", w.final, err)
	}
	if err := os.Link(w.tmp, w.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Written{}, fmt.Errorf("create %s: %w", w.final, ErrExists)
		}
		return Written{}, fmt.Errorf("link %s to %s: %w", w.tmp, w.final, err)
	}
	w.done = true
	_ = os.Remove(w.tmp)
	if err := syncDir(filepath.Dir(w.final)); err != nil {
		_ = os.Remove(w.final)
		return Written{}, err
	}
	return Written{Key: w.key, Size: w.size, SHA256: hex.EncodeToString(w.h.Sum(nil))}, nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	if err := os.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove temporary file %s: %w", w.tmp, err)
	}
	return nil
}

// syncDir fsyncs a folder so that entries created, renamed or removed in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder %s to sync it: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents with mode 0700, syncing each parent
// whose entries changed so that the new folders survive a crash.
func mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists but is not a folder", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) { // created concurrently
			if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
				return nil
			}
		}
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	if parent != dir {
		return syncDir(parent)
	}
	return nil
}
