package backupstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The store is untrusted input: anyone who can write to the backup folder can put a
// named pipe, a symbolic link or a forged record there. Every lookup reads it through
// the helpers below, under one set of rules:
//
//   - no symbolic link inside the store is followed (the root itself may be one);
//   - only regular files are read, and opening one never blocks (a named pipe would
//     block until a writer came);
//   - a record is at most MaxRecordSize bytes, on write as on read.

// MaxRecordSize is the largest backup record (sidecar) the store writes or reads;
// real ones are a few KiB.
const MaxRecordSize = 1 << 20

// symlinkRefused says why a symbolic link inside the store is refused.
const symlinkRefused = "the backup store follows no symbolic link inside it (one could lead anywhere): replace it with the folder or file itself"

func errSymlink(path string) error {
	return fmt.Errorf("%s is a symbolic link: %s", path, symlinkRefused)
}

// storeDir returns <root>/<parts...>, refusing any part that is a symbolic link or
// not a folder. A part that does not exist is fine: nothing is stored there yet.
func (s *Store) storeDir(parts ...string) (string, error) {
	dir := s.root
	for _, p := range parts {
		dir = filepath.Join(dir, p)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return filepath.Join(append([]string{s.root}, parts...)...), nil
		case err != nil:
			return "", fmt.Errorf("backup folder %s: %w", dir, err)
		case fi.Mode()&os.ModeSymlink != 0:
			return "", errSymlink(dir)
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder (%s)", dir, describeMode(fi.Mode()))
		}
	}
	return dir, nil
}

// openRegular opens path for reading if it is a regular file, without blocking
// whatever it is. With noFollow, a symbolic link is refused too. Errors do not
// repeat the path: callers name it.
func openRegular(path string, noFollow bool) (*os.File, os.FileInfo, error) {
	f, err := openNonBlocking(path, noFollow)
	if err != nil {
		if noFollow && isSymlinkLoop(err) {
			return nil, nil, errors.New("it is a symbolic link: " + symlinkRefused)
		}
		var pe *os.PathError
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

// readRecord reads one record file under the store's rules.
func readRecord(path string) ([]byte, error) {
	f, _, err := openRegular(path, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if err := checkRecordSize(len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

func checkRecordSize(n int) error {
	if n > MaxRecordSize {
		return fmt.Errorf("the record is larger than the %d bytes a backup record may hold", MaxRecordSize)
	}
	return nil
}

// decodeRecord checks a record's size and content: the one test a record passes on
// write (Commit) and on read (lookups).
func decodeRecord(data []byte, family, device, id, dir string) (Backup, error) {
	if err := checkRecordSize(len(data)); err != nil {
		return Backup{}, err
	}
	return parseSidecar(data, family, device, id, dir)
}

func describeMode(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return "mode " + m.String()
}
