package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

const (
	fileMode = 0o600
	dirMode  = 0o700
	// tmpPrefix marks temporary files; readers skip names starting with '.'.
	tmpPrefix = ".tmp-"
	copyBuf   = 256 << 10
	// writebackChunk is how much is written before writeback of it is started.
	writebackChunk = 8 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// writeAtomic streams src into dir/name: a temporary file in dir is written while the
// SHA-256 and size are computed, synced, closed, renamed to name, and dir is synced.
// On any error (src failing, ctx cancelled, disk full) nothing is left behind: neither
// the temporary file nor, if the rename already happened, the final file.
func writeAtomic(ctx context.Context, dir, name string, src io.Reader) (size int64, sum string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return 0, "", fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	final := filepath.Join(dir, name)
	renamed := false
	defer func() {
		if err == nil {
			return
		}
		if f != nil {
			_ = f.Close()
		}
		_ = os.Remove(tmp)
		if renamed {
			_ = os.Remove(final)
		}
	}()
	if err = f.Chmod(fileMode); err != nil { // CreateTemp uses 0600 already; be explicit
		return 0, "", fmt.Errorf("chmod %s: %w", tmp, err)
	}

	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var flushed int64 // bytes whose writeback was started
	for {
		if err = ctx.Err(); err != nil {
			return 0, "", fmt.Errorf("writing %s stopped: %w", final, err)
		}
		n, rerr := fill(ctx, src, buf)
		if n > 0 {
			if _, err = f.Write(buf[:n]); err != nil {
				return 0, "", fmt.Errorf("write %s: %w", final, err)
			}
			h.Write(buf[:n])
			size += int64(n)
			if size-flushed >= writebackChunk {
				startWriteback(f, flushed, size-flushed)
				flushed = size
			}
		}
		if rerr == io.EOF {
			break
		}
		if errors.Is(rerr, context.Canceled) || errors.Is(rerr, context.DeadlineExceeded) {
			err = rerr
			return 0, "", fmt.Errorf("writing %s stopped: %w", final, err)
		}
		if rerr != nil {
			err = rerr
			return 0, "", fmt.Errorf("reading data for %s failed after %d bytes: %w", final, size, err)
		}
	}
	if err = f.Sync(); err != nil {
		return 0, "", fmt.Errorf("sync %s: %w", final, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return 0, "", fmt.Errorf("close %s: %w", final, err)
	}
	if err = ctx.Err(); err != nil {
		return 0, "", fmt.Errorf("writing %s stopped: %w", final, err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return 0, "", fmt.Errorf("rename %s to %s: %w", tmp, final, err)
	}
	renamed = true
	if err = syncDir(dir); err != nil {
		return 0, "", err
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
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
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, os.ErrExist) { // created concurrently
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

// fill reads into buf until it is full, src ends (io.EOF) or fails, or ctx ends.
// Network readers hand back one TLS record (16 KiB) at a time; writing and hashing
// whole buffers instead costs far fewer system calls on multi-GiB backups.
func fill(ctx context.Context, src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
