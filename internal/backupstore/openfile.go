package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// OpenFile streams a stored file of a backup (as Latest, Get or FindByKey return
// it) and verifies it against its record while it is read: the reader never passes
// on more than the recorded size, and the read that would deliver the last bytes
// fails instead when the SHA-256 of the whole file is not the recorded one. A
// consumer that streams it into an upload therefore never sends the file's end,
// and never completes the upload, when the file was changed or corrupted after the
// backup. A file shorter than recorded fails at its end too. The caller closes the
// reader.
func (s *Store) OpenFile(ctx context.Context, f File) (io.ReadCloser, error) {
	if !f.InStore() {
		return nil, fmt.Errorf("the %s file is not in the backup store: it is a remote copy at %s", f.Kind, f.Location)
	}
	f = s.located(f)
	if !validSHA256(f.SHA256) {
		return nil, fmt.Errorf("cannot verify backup file %s: its recorded SHA-256 %q is not 64 hex digits", f.StoreLocation, abbreviate(f.SHA256))
	}
	rc, info, err := s.obj.Open(ctx, f.Key)
	if err != nil {
		return nil, fmt.Errorf("open backup file %s: %w", f.StoreLocation, err)
	}
	if info.Size != f.Size {
		_ = rc.Close()
		return nil, fmt.Errorf("backup file %s holds %d bytes but its backup record says %d: it was changed or damaged after the backup; use another backup", f.StoreLocation, info.Size, f.Size)
	}
	return &verifyingReader{src: rc, file: f, h: sha256.New()}, nil
}

// verifyingReader checks a stored file against its record while it is read.
type verifyingReader struct {
	src  io.ReadCloser
	file File
	h    hash.Hash
	n    int64
	err  error // sticky
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.n == r.file.Size {
		return 0, io.EOF // verified; never more than was recorded
	}
	if rest := r.file.Size - r.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.src.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if r.n == r.file.Size {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.file.SHA256 {
			// Withhold the last bytes: whatever consumes them must not finish.
			r.err = fmt.Errorf("backup file %s was changed or damaged after the backup: its SHA-256 is %s, but its backup record says %s; "+
				"its last bytes were withheld, so nothing that streams it can complete: use another backup", r.file.StoreLocation, got, r.file.SHA256)
			return 0, r.err
		}
		return n, nil
	}
	switch {
	case err == io.EOF:
		r.err = fmt.Errorf("backup file %s ended after %d of its %d recorded bytes: it was changed or damaged after the backup; use another backup", r.file.StoreLocation, r.n, r.file.Size)
		return n, r.err
	case err != nil:
		r.err = fmt.Errorf("read backup file %s: %w", r.file.StoreLocation, err)
		return n, r.err
	}
	return n, nil
}

func (r *verifyingReader) Close() error { return r.src.Close() }
