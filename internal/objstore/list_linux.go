package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// listUnder lists, sorted by key, the objects whose keys start with prefix in the
// folder dir (key prefix dirKey) and below it; see List.
//
// A store holds hundreds of thousands of files, and the cost is one system call
// per entry: each entry is examined with fstatat relative to its open folder
// (the kernel resolves one name, not the whole path, and no path is built), and
// each folder is opened relative to its parent without following a symbolic link,
// so that a folder replaced by a link after it was examined is refused, not
// walked. Each folder's entries are sorted by name and the folders walked in key
// order, so the listing comes out sorted without sorting it whole, and is
// assembled once, at its final size.
func (l *Local) listUnder(ctx context.Context, dir, dirKey, prefix string) ([]ObjectInfo, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if dir != l.root {
		flags |= unix.O_NOFOLLOW // checkDirs saw folders: a link now replaced one
	}
	fd, err := openDir(unix.AT_FDCWD, dir, dir, flags)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, nil // nothing stored under this prefix yet
	case err != nil:
		return nil, err
	}
	var parts [][]listed
	if err := listDir(ctx, fd, dir, dirKey, prefix, &parts); err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]ObjectInfo, 0, n)
	for _, p := range parts {
		for _, o := range p {
			out = append(out, ObjectInfo{Key: o.key, Size: o.size, ModTime: time.Unix(o.sec, int64(o.nsec))})
		}
	}
	return out, nil
}

// listed is a file found by listDir: a third of an ObjectInfo's size, as the
// listing is held twice while it is assembled.
type listed struct {
	key       string
	size, sec int64
	nsec      int32
}

// listDir lists the open folder fd, at path dir, into parts (runs of files in key
// order) and closes it.
func listDir(ctx context.Context, fd int, dir, dirKey, prefix string, parts *[][]listed) error {
	f := os.NewFile(uintptr(fd), dir)
	defer func() { _ = f.Close() }() // read-only
	if err := ctx.Err(); err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	slices.Sort(names)
	var files []listed // in name order, which is key order
	var dirs []string  // "<name>/", sorted below
	for i, name := range names {
		if i%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err // a huge folder
			}
		}
		if strings.HasPrefix(name, ".") {
			continue // hidden or temporary: nothing can name it
		}
		key := dirKey + name
		// Neither a match nor a folder that can hold one ("a/b" for prefix "a/c").
		if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key+"/") {
			continue
		}
		var st unix.Stat_t
		err := ignoringEINTR(func() error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
		if errors.Is(err, unix.ENOENT) {
			continue // deleted meanwhile
		}
		if err != nil {
			return &fs.PathError{Op: "lstat", Path: filepath.Join(dir, name), Err: err}
		}
		typ := st.Mode & unix.S_IFMT
		if typ == unix.S_IFDIR {
			dirs = append(dirs, name+"/")
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		switch {
		case typ == unix.S_IFLNK:
			return errSymlink(filepath.Join(dir, name))
		case typ != unix.S_IFREG:
			return errNotRegular(filepath.Join(dir, name), fileType(typ))
		case ValidKey(key) != nil:
			continue
		}
		if files == nil {
			files = make([]listed, 0, len(names))
		}
		sec, nsec := st.Mtim.Unix()
		files = append(files, listed{key: key, size: st.Size, sec: sec, nsec: int32(nsec)})
	}
	// A folder's keys continue its name with '/', which sorts after '-' and '.':
	// "mc/x" comes after "mc-1" and "mc.json". Files and folders are merged by that.
	slices.Sort(dirs)
	for _, d := range dirs {
		i, _ := slices.BinarySearchFunc(files, d, func(o listed, d string) int { return strings.Compare(o.key[len(dirKey):], d) })
		if i > 0 {
			*parts = append(*parts, files[:i])
			files = files[i:]
		}
		name := strings.TrimSuffix(d, "/")
		path := filepath.Join(dir, name)
		sub, err := openDir(fd, name, path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if errors.Is(err, unix.ENOENT) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if err := listDir(ctx, sub, path, dirKey+d, prefix, parts); err != nil {
			return err
		}
	}
	if len(files) > 0 {
		*parts = append(*parts, files)
	}
	return nil
}

// openDir opens the folder name relative to the folder at; errors name it by path
// and say when it is a symbolic link or a file.
func openDir(at int, name, path string, flags int) (int, error) {
	var fd int
	err := ignoringEINTR(func() error {
		var err error
		fd, err = unix.Openat(at, name, flags, 0)
		return err
	})
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, unix.ELOOP):
		return -1, errSymlink(path)
	case errors.Is(err, unix.ENOTDIR):
		// Replaced since it was examined (Linux says ENOTDIR for a link too).
		var st unix.Stat_t
		if unix.Fstatat(at, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			if typ := st.Mode & unix.S_IFMT; typ == unix.S_IFLNK {
				return -1, errSymlink(path)
			} else if typ != unix.S_IFDIR {
				return -1, fmt.Errorf("%s is not a folder (%s)", path, describeMode(fileType(typ)))
			}
		}
	}
	return -1, &fs.PathError{Op: "open", Path: path, Err: err}
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// fileType is the fs.FileMode type bits of a stat(2) file type.
func fileType(typ uint32) fs.FileMode {
	switch typ {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFREG:
		return 0
	}
	return fs.ModeIrregular
}
