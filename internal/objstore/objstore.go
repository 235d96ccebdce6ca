// Package objstore stores immutable objects (named byte streams) under slash-separated
// keys, in a local folder or in an S3-compatible bucket, behind one interface.
//
// It is the blob layer beneath the backup store: it knows nothing of devices or
// backups, only of keys and bytes. Its guarantees are the same on both backends:
//
//   - an object becomes visible only when its writer commits; a writer that is
//     aborted, or whose context ends, leaves nothing behind (S3: the multipart upload
//     is aborted);
//   - objects are never overwritten: creating a key that exists fails with ErrExists
//     (local: link(2) of a synced temporary file; S3: If-None-Match: *);
//   - the size and SHA-256 of every object are computed while it streams, and on S3
//     the SHA-256 is also sent as the object's checksum so that the server verifies
//     what it stored (per part for multipart uploads);
//   - memory stays bounded whatever the object's size.
//
// Keys are checked by ValidKey before they reach a path or a request. The local
// backend's folder is untrusted input (see file.go): no symbolic link below its
// root is followed, and only regular files are opened, without blocking.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store holds immutable objects. Implementations are safe for concurrent use.
type Store interface {
	// Create starts a new object at key. Nothing is visible until Commit. ctx governs
	// the whole write, Commit included. It fails with ErrExists when key is taken.
	Create(ctx context.Context, key string) (Writer, error)
	// Put writes a small object held in memory: Create, Write and Commit in one call.
	Put(ctx context.Context, key string, data []byte) (Written, error)
	// Open streams an object. The caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes an object. A missing key fails with ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, sorted by key, with
	// size and modification time, from one listing (no read per object). Entries
	// that no key can name are skipped; the local backend fails, naming it, when it
	// meets a symbolic link or anything else that is neither a regular file nor a
	// folder, rather than hide what it may stand for.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object from view. A missing key fails with ErrNotFound; an
	// object under Object Lock retention or legal hold fails with *RetainedError and
	// is left as it is.
	Delete(ctx context.Context, key string) error
	// Check verifies that the store can be used (folder writable; bucket reachable
	// with these credentials), for a clear error before any work starts.
	Check(ctx context.Context) error
	// Location names an object for people: a file path or an s3:// URL.
	// Location("") names the store itself (its folder, or s3://bucket/prefix/).
	Location(key string) string
}

// Writer streams one new object. Exactly one of Commit and Abort ends it; calling
// Abort after Commit (for instance deferred) does nothing. A Writer is used by one
// goroutine at a time.
type Writer interface {
	io.Writer
	// Commit makes the object visible, atomically, and reports what was stored. On
	// failure nothing is visible and the writer is aborted.
	Commit() (Written, error)
	// Abort discards everything written. It also works after ctx has ended.
	Abort() error
}

// Written describes an object just committed.
type Written struct {
	Key    string
	Size   int64
	SHA256 string // lower-case hex, computed while streaming
}

// ObjectInfo describes a stored object. List fills Key, Size and ModTime only.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ServerChecksum is the SHA-256 checksum the server stored and verified, as S3
	// reports it: base64 of the object's SHA-256 for an object written in one
	// request; for a multipart object, base64 of the SHA-256 of its parts' SHA-256
	// digests followed by "-<parts>". Empty on the local backend and when the
	// server keeps none.
	ServerChecksum string
	// LockMode and RetainUntil are the object's Object Lock retention (S3 only).
	LockMode    string
	RetainUntil time.Time
	LegalHold   bool
}

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrExists is returned (wrapped) when creating an object whose key is taken.
var ErrExists = errors.New("object already exists")

// RetainedError reports an object that Object Lock protects from deletion.
type RetainedError struct {
	Location    string
	Mode        string    // GOVERNANCE or COMPLIANCE; empty for a legal hold only
	RetainUntil time.Time // zero when only a legal hold applies or the server did not say
	LegalHold   bool
}

func (e *RetainedError) Error() string {
	switch {
	case e.LegalHold:
		return fmt.Sprintf("%s is under an Object Lock legal hold and cannot be deleted until the hold is removed", e.Location)
	case e.RetainUntil.IsZero():
		return fmt.Sprintf("%s is protected by Object Lock and cannot be deleted yet", e.Location)
	default:
		return fmt.Sprintf("%s is under Object Lock %s retention until %s and cannot be deleted before then",
			e.Location, e.Mode, e.RetainUntil.UTC().Format(time.RFC3339))
	}
}
