//go:build unix

package objstore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openNonBlocking opens path read-only with O_NONBLOCK, so that a named pipe does
// not block the open (regular files ignore the flag), and with O_NOFOLLOW when
// noFollow.
func openNonBlocking(path string, noFollow bool) (*os.File, error) {
	flags := os.O_RDONLY | unix.O_NONBLOCK
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	return os.OpenFile(path, flags, 0)
}

func isSymlinkLoop(err error) bool { return errors.Is(err, unix.ELOOP) }

// writable reports whether this process may create entries in the folder dir,
// without writing anything.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}
