package backupstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk without
// waiting. Large backups then reach the disk while they download, and the final fsync
// (still done: durability does not depend on this) has little left to do. It also
// keeps a multi-GiB download from filling the page cache with dirty pages.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
