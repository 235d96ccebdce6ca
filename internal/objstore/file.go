package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The local backend's folder is untrusted input: anyone who can write to it can
// plant a symbolic link, a named pipe or a device there. The backend reads and
// writes it under one set of rules: no symbolic link inside the root is followed
// (the root itself may be one), only regular files are opened, never in a way that
// can block, and a listing refuses what it cannot vouch for instead of hiding it.

// symlinkRefused says why a symbolic link inside the store is refused.
const symlinkRefused = "the store follows no symbolic link inside its folder (one could lead anywhere): replace it with the folder or file itself"

func errSymlink(path string) error {
	return fmt.Errorf("%s is a symbolic link: %s", path, symlinkRefused)
}

func errNotRegular(path string, m fs.FileMode) error {
	return fmt.Errorf("%s is not a regular file (%s): the store holds only regular files and folders; remove it", path, describeMode(m))
}

// OpenRegularFile opens path for reading if it is a regular file, without blocking
// whatever it is (a named pipe would block an ordinary open until a writer came).
// With noFollow a symbolic link is refused too. Errors do not repeat the path:
// callers name it.
func OpenRegularFile(path string, noFollow bool) (*os.File, fs.FileInfo, error) {
	f, err := openNonBlocking(path, noFollow)
	if err != nil {
		if noFollow && isSymlinkLoop(err) {
			return nil, nil, errors.New("it is a symbolic link: " + symlinkRefused)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, fmt.Errorf("it is not a regular file (%s)", describeMode(fi.Mode()))
	}
	return f, fi, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return "mode " + m.String()
}
