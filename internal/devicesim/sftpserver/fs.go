package sftpserver

import (
	"errors"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/pkg/sftp"
)

// fsHandler serves SFTP requests from an os.Root, so no path (.., absolute or
// relative symlinks) can leave the root directory.
type fsHandler struct {
	s  *Server
	cs *connState
}

func (s *Server) handlers(cs *connState) sftp.Handlers {
	h := &fsHandler{s: s, cs: cs}
	return sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}
}

// rel maps a client path ("/a/b", "a/b", "../a") to a name relative to the root.
// Client paths are cleaned as absolute paths first, so ".." stops at "/".
func rel(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

// fsErr turns an os.Root error into one the SFTP client understands without exposing
// anything but the client-visible name.
func fsErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrExist), errors.Is(err, os.ErrPermission):
		return err
	case strings.Contains(err.Error(), "escapes"):
		// os.Root refuses a path that leaves the root (e.g. through a symlink).
		return os.ErrPermission
	}
	return err
}

// Fileread opens a file for reading.
func (h *fsHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	f, err := h.s.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, fsErr(err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		_ = f.Close()
		return nil, errors.New("is a directory")
	}
	if stall, silent := h.s.stallsAt(StallRead); stall {
		return &stallingReader{File: f, h: h, silent: silent}, nil
	}
	return f, nil
}

// stallingReader answers reads of the first StallReadAfter bytes only (StallRead).
type stallingReader struct {
	*os.File
	h      *fsHandler
	silent bool
}

func (r *stallingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > StallReadAfter {
		r.h.s.stall(r.h.cs, r.silent)
		return 0, errors.New("stalled")
	}
	return r.File.ReadAt(p, off)
}

// Filewrite opens a file for writing (an upload).
func (h *fsHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.open(r)
}

// OpenFile opens a file for reading and writing (pkg/sftp's Client.Create does that).
func (h *fsHandler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.open(r)
}

func (h *fsHandler) open(r *sftp.Request) (*uploadFile, error) {
	pf := r.Pflags()
	flags := os.O_WRONLY
	if pf.Read {
		flags = os.O_RDWR
	}
	if pf.Creat {
		flags |= os.O_CREATE
	}
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	// Append is deliberately not mapped to O_APPEND: writes come as WriteAt.
	f, err := h.s.root.OpenFile(rel(r.Filepath), flags, 0o644)
	if err != nil {
		return nil, fsErr(err)
	}
	return &uploadFile{File: f, s: h.s}, nil
}

// uploadFile counts itself as an upload when closed.
type uploadFile struct {
	*os.File
	s    *Server
	once sync.Once
}

func (u *uploadFile) Close() error {
	err := u.File.Close()
	u.once.Do(func() { u.s.uploads.Add(1) })
	return err
}

// Filecmd handles Setstat, Rename, Rmdir, Mkdir, Remove; links are refused.
func (h *fsHandler) Filecmd(r *sftp.Request) error {
	root := h.s.root
	name := rel(r.Filepath)
	switch r.Method {
	case "Setstat":
		flags := r.AttrFlags()
		attrs := r.Attributes()
		if flags.Size {
			f, err := root.OpenFile(name, os.O_WRONLY, 0)
			if err != nil {
				return fsErr(err)
			}
			err = f.Truncate(int64(attrs.Size))
			_ = f.Close()
			if err != nil {
				return err
			}
		}
		if flags.Permissions {
			if err := root.Chmod(name, attrs.FileMode().Perm()); err != nil {
				return fsErr(err)
			}
		}
		if flags.Acmodtime {
			if err := root.Chtimes(name, attrs.AccessTime(), attrs.ModTime()); err != nil {
				return fsErr(err)
			}
		}
		return nil
	case "Rename":
		// SFTP rename (protocol v3) does not overwrite an existing target.
		if _, err := root.Lstat(rel(r.Target)); err == nil {
			return os.ErrExist
		}
		return fsErr(root.Rename(name, rel(r.Target)))
	case "PosixRename":
		return fsErr(root.Rename(name, rel(r.Target)))
	case "Rmdir":
		st, err := root.Lstat(name)
		if err != nil {
			return fsErr(err)
		}
		if !st.IsDir() || name == "." {
			return os.ErrInvalid
		}
		return fsErr(root.Remove(name))
	case "Remove":
		st, err := root.Lstat(name)
		if err != nil {
			return fsErr(err)
		}
		if st.IsDir() {
			return os.ErrInvalid
		}
		return fsErr(root.Remove(name))
	case "Mkdir":
		if stall, silent := h.s.stallsAt(StallMkdir); stall {
			h.s.stall(h.cs, silent)
			return errors.New("stalled")
		}
		return fsErr(root.Mkdir(name, 0o755))
	case "Link", "Symlink":
		return os.ErrPermission
	}
	return sftp.ErrSSHFxOpUnsupported
}

// Filelist handles List and Stat; Readlink is not supported.
func (h *fsHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	root := h.s.root
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		d, err := root.Open(name)
		if err != nil {
			return nil, fsErr(err)
		}
		defer func() { _ = d.Close() }() // a folder, only listed
		entries, err := d.ReadDir(-1)
		if err != nil {
			return nil, fsErr(err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		infos := make([]os.FileInfo, 0, len(entries))
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			infos = append(infos, info)
		}
		return listerAt(infos), nil
	case "Stat":
		st, err := root.Stat(name)
		if err != nil {
			return nil, fsErr(err)
		}
		return listerAt{st}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(ls []os.FileInfo, offset int64) (int, error) {
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[offset:])
	if n < len(ls) {
		return n, io.EOF
	}
	return n, nil
}
