package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

const (
	// maxStampBumps bounds the search for a free stamp (one per millisecond).
	maxStampBumps = 1000
	// cleanupTimeout bounds the requests that remove what a failed run wrote: they
	// run after the caller's context may have ended.
	cleanupTimeout = time.Minute
	copyBuf        = 256 << 10
)

var bufPool = sync.Pool{New: func() any { return newCopyBuffer() }}

func newCopyBuffer() *[]byte {
	b := make([]byte, copyBuf)
	return &b
}

// copyBuffer is a buffer from bufPool; put it back when done.
func copyBuffer() *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		return b
	}
	return newCopyBuffer()
}

// Run is one backup in progress. Its files are invisible to readers until Commit
// writes the record. Call Abort (for instance deferred) when the run fails: it is a
// no-op after a successful Commit. A Run's methods may be called from several
// goroutines, for different kinds.
type Run struct {
	store   *Store
	family  string
	device  string
	id      string
	started time.Time

	// ended is done once the run is aborted or committed: it stops writes in flight.
	ended     context.Context
	endWrites context.CancelFunc

	mu          sync.Mutex
	state       runState
	kinds       map[string]bool // reserved or written kinds
	files       []File          // written and added files, in order
	written     []string        // keys this run committed and has not removed
	pending     int             // WriteFile calls in flight
	recordTried bool            // Commit sent the record: it may exist
	released    bool            // the reservation is gone
}

type runState int

const (
	runOpen runState = iota
	runCommitted
	runAborted
)

// Begin starts a backup run for a device: it validates the names and reserves a
// unique run id (stamp) derived from started (the current time if zero). If the
// stamp is taken, by a concurrent run or an earlier one, it is bumped by a
// millisecond until a free one is found.
//
// Run ids are unique per device without any shared index or clock agreement: the
// reservation is an object "<id>.lock" beside the record, created only if its key
// is free (objstore never overwrites: link(2) locally, If-None-Match: * on S3). Two
// runners that back up one device in the same millisecond, on one machine or two,
// race for one key; one wins, the other moves on to the next millisecond. An id
// whose record exists is taken as well: Commit writes the record before it removes
// the reservation, so one of the two is always there. The reservation is removed
// when the run ends; under Object Lock it cannot be, and stays (invisible) until
// Prune deletes it with its backup. A run that dies without ending (a killed
// runner) leaves it too, with its files: Prune deletes both once the run is
// certainly dead (see Prune).
//
// Limit: on an S3-compatible server that does not implement conditional writes,
// objstore falls back to checking that a key is free before writing it, which
// leaves a window of one round trip in which both runners can take the same id;
// their files and records could then replace each other's. Such servers should
// not be shared by runners that back up the same device at the same moment.
func (s *Store) Begin(ctx context.Context, family, device string, started time.Time) (*Run, error) {
	if err := validFamily(family); err != nil {
		return nil, err
	}
	if err := ValidName(device); err != nil {
		return nil, fmt.Errorf("invalid device name: %w", err)
	}
	if started.IsZero() {
		started = time.Now()
	}
	started = started.UTC()
	t := started.Truncate(time.Millisecond)
	for range maxStampBumps {
		id := formatStamp(t)
		ok, err := s.reserve(ctx, family, device, id)
		if err != nil {
			return nil, fmt.Errorf("backup of %s: reserve run id: %w", what(family, device), err)
		}
		if ok {
			ended, endWrites := context.WithCancel(context.Background())
			return &Run{
				store: s, family: family, device: device, id: id, started: started,
				ended: ended, endWrites: endWrites, kinds: map[string]bool{},
			}, nil
		}
		t = t.Add(time.Millisecond)
	}
	return nil, fmt.Errorf("backup of %s: no free run id near %s in %s", what(family, device), formatStamp(started),
		s.obj.Location(strings.TrimSuffix(devicePrefix(family, device), "/")))
}

// reserve takes id by creating its reservation; see Begin.
func (s *Store) reserve(ctx context.Context, family, device, id string) (bool, error) {
	lock := reservationKey(family, device, id)
	body := fmt.Sprintf("backup run %s of %s is in progress; this reservation is removed when it ends\n", id, what(family, device))
	if _, err := s.obj.Put(ctx, lock, []byte(body)); errors.Is(err, objstore.ErrExists) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	_, err := s.obj.Stat(ctx, recordKey(family, device, id))
	if errors.Is(err, objstore.ErrNotFound) {
		return true, nil
	}
	s.removeQuietly(lock)
	if err == nil {
		return false, nil // an earlier run with this id completed
	}
	return false, err
}

// removeQuietly deletes key after the caller's context may have ended, ignoring a
// key that is gone already or kept by Object Lock.
func (s *Store) removeQuietly(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_ = s.obj.Delete(ctx, key)
}

// ID is the run's stamp, unique for its device: e.g. 20261125T101500.123Z.
func (r *Run) ID() string { return r.id }

// Dir names the device folder the run writes to: a local path or an s3:// URL.
func (r *Run) Dir() string {
	return r.store.obj.Location(strings.TrimSuffix(devicePrefix(r.family, r.device), "/"))
}

func (r *Run) what() string {
	return fmt.Sprintf("backup %s of %s", r.id, what(r.family, r.device))
}

func (r *Run) checkOpenLocked() error {
	switch r.state {
	case runCommitted:
		return fmt.Errorf("%s is already committed", r.what())
	case runAborted:
		return fmt.Errorf("%s was aborted", r.what())
	}
	return nil
}

// WriteFile streams src into "<id>-<kind>.<ext>" in the device's folder, computing
// its size and SHA-256 while it streams, and returns the file. The file is complete
// or absent: on error (src failing, ctx ending, the store failing) nothing of it is
// left and the kind may be retried. Each kind is written at most once. Abort stops a
// WriteFile in flight.
func (r *Run) WriteFile(ctx context.Context, kind, ext string, src io.Reader) (File, error) {
	if err := ValidName(kind); err != nil {
		return File{}, fmt.Errorf("%s: invalid file kind: %w", r.what(), err)
	}
	ext = strings.TrimPrefix(ext, ".")
	if err := validExt(ext); err != nil {
		return File{}, fmt.Errorf("%s: %w", r.what(), err)
	}
	key := FileKey{Family: r.family, Device: r.device, ID: r.id, Name: kind + "." + ext}.String()
	r.mu.Lock()
	if err := r.checkOpenLocked(); err != nil {
		r.mu.Unlock()
		return File{}, err
	}
	if r.kinds[kind] {
		r.mu.Unlock()
		return File{}, fmt.Errorf("%s: file kind %q is already part of this run", r.what(), kind)
	}
	r.kinds[kind] = true
	r.pending++
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ended, cancel)()
	written, err := r.store.write(ctx, key, src)

	r.mu.Lock()
	r.pending--
	if err == nil && r.state == runOpen {
		f := r.store.located(File{Kind: kind, Key: key, Size: written.Size, SHA256: written.SHA256})
		r.written = append(r.written, key)
		r.files = append(r.files, f)
		r.mu.Unlock()
		return f, nil
	}
	delete(r.kinds, kind)
	stateErr := r.checkOpenLocked()
	release := r.releaseLocked()
	r.mu.Unlock()
	if err == nil { // aborted while writing: do not leave the file behind
		r.store.removeQuietly(key)
	}
	if release {
		r.store.removeQuietly(reservationKey(r.family, r.device, r.id))
	}
	if stateErr != nil {
		return File{}, stateErr
	}
	return File{}, fmt.Errorf("%s: %s file: %w", r.what(), kind, err)
}

// write streams src into a new object at key.
func (s *Store) write(ctx context.Context, key string, src io.Reader) (objstore.Written, error) {
	w, err := s.obj.Create(ctx, key)
	if err != nil {
		return objstore.Written{}, err
	}
	defer func() { _ = w.Abort() }() // a no-op after Commit
	bp := copyBuffer()
	defer bufPool.Put(bp)
	buf := *bp
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return objstore.Written{}, fmt.Errorf("writing %s stopped: %w", s.obj.Location(key), err)
		}
		n, rerr := fill(ctx, src, buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return objstore.Written{}, err
			}
			size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if errors.Is(rerr, context.Canceled) || errors.Is(rerr, context.DeadlineExceeded) {
			return objstore.Written{}, fmt.Errorf("writing %s stopped: %w", s.obj.Location(key), rerr)
		}
		if rerr != nil {
			return objstore.Written{}, fmt.Errorf("reading data for %s failed after %d bytes: %w", s.obj.Location(key), size, rerr)
		}
	}
	return w.Commit()
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

// AddFile records a remote copy (Location set, Key and Path empty) in the run's
// record, e.g. the file a conductor pushed by SCP. The location must not contain a
// password.
func (r *Run) AddFile(f File) error {
	if f.Key != "" || f.Path != "" || f.StoreLocation != "" {
		return fmt.Errorf("%s: AddFile records remote copies only; write files into the store with WriteFile", r.what())
	}
	f.SHA256 = strings.ToLower(f.SHA256)
	if err := checkFile(f, false); err != nil {
		return fmt.Errorf("%s: %w", r.what(), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkOpenLocked(); err != nil {
		return err
	}
	if r.kinds[f.Kind] {
		return fmt.Errorf("%s: file kind %q is already part of this run", r.what(), f.Kind)
	}
	r.kinds[f.Kind] = true
	r.files = append(r.files, f)
	return nil
}

// Commit writes the run's record, which makes the backup visible, and releases the
// run's reservation. It returns the backup as a reader would see it. If it fails,
// the run stays open: Abort removes what it wrote.
func (r *Run) Commit(ctx context.Context, host string, port int, attrs map[string]string, completed time.Time) (Backup, error) {
	if port < 0 || port > 65535 {
		return Backup{}, fmt.Errorf("%s: invalid port %d", r.what(), port)
	}
	for k := range attrs {
		if client.IsSecretKey(k) {
			return Backup{}, fmt.Errorf("%s: attribute %q looks like a secret; secrets are never stored in backup records", r.what(), k)
		}
	}
	if completed.IsZero() {
		completed = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkOpenLocked(); err != nil {
		return Backup{}, err
	}
	if r.pending > 0 {
		return Backup{}, fmt.Errorf("%s: cannot commit while files are still being written", r.what())
	}
	if len(r.files) == 0 {
		return Backup{}, fmt.Errorf("%s: nothing to commit, no file was written or added", r.what())
	}
	b := Backup{
		Family:      r.family,
		Device:      r.device,
		Host:        host,
		Port:        port,
		ID:          r.id,
		StartedAt:   r.started,
		CompletedAt: completed.UTC(),
		Files:       append([]File(nil), r.files...),
		Attributes:  maps.Clone(attrs),
	}
	if b.Attributes == nil {
		b.Attributes = map[string]string{}
	}
	data, err := encodeSidecar(b)
	if err != nil {
		return Backup{}, fmt.Errorf("%s: %w", r.what(), err)
	}
	// A record that lookups would refuse is refused here, before it is visible.
	if _, err := decodeRecord(data, r.family, r.device, r.id); err != nil {
		return Backup{}, fmt.Errorf("%s: the backup record would not be readable: %w", r.what(), err)
	}
	r.recordTried = true
	if _, err := r.store.obj.Put(ctx, b.RecordKey(), data); err != nil {
		return Backup{}, fmt.Errorf("%s: write backup record: %w", r.what(), err)
	}
	r.state = runCommitted
	r.endWrites()
	// The record is in place: only now may the reservation go (see Begin).
	if r.releaseLocked() {
		r.store.removeQuietly(reservationKey(r.family, r.device, r.id))
	}
	return b, nil
}

// Abort removes every file this run wrote, then its reservation. If Commit sent
// the record and failed (its answer lost, say), the record is removed first, so
// that no record ever names a missing file. It is safe after a failed WriteFile,
// idempotent, and a no-op once the run is committed. A file that Object Lock keeps
// stays, invisible: no record names it. Abort works after the caller's context has
// ended.
func (r *Run) Abort() error {
	r.mu.Lock()
	if r.state == runCommitted {
		r.mu.Unlock()
		return nil
	}
	r.state = runAborted
	r.endWrites()
	recordTried := r.recordTried
	keys := r.written
	r.files = nil
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	obj := r.store.obj
	if recordTried {
		err := obj.Delete(ctx, recordKey(r.family, r.device, r.id))
		var retained *objstore.RetainedError
		switch {
		case errors.As(err, &retained):
			// The record was stored and cannot go: the backup is complete and
			// stays, whole, with its files.
			r.mu.Lock()
			r.written, r.recordTried = nil, false
			r.mu.Unlock()
			return fmt.Errorf("abort %s: its record was written before the failure and Object Lock keeps it (%v): the backup is complete and stays visible", r.what(), err)
		case err != nil && !errors.Is(err, objstore.ErrNotFound):
			// The record may be visible: removing its files would break it.
			return fmt.Errorf("abort %s: remove the backup record: %w; its files were left so that the record, if it was stored, stays usable: run Abort again", r.what(), err)
		}
		r.mu.Lock()
		r.recordTried = false
		r.mu.Unlock()
	}
	var errs []error
	var left []string
	for _, key := range keys {
		err := obj.Delete(ctx, key)
		var retained *objstore.RetainedError
		switch {
		case err == nil, errors.Is(err, objstore.ErrNotFound):
		case errors.As(err, &retained):
			errs = append(errs, fmt.Errorf("%w; it stays, invisible, since no record names it", err))
		default:
			errs = append(errs, err)
			left = append(left, key)
		}
	}
	r.mu.Lock()
	r.written = left // retried by another Abort
	release := len(left) == 0 && r.releaseLocked()
	r.mu.Unlock()
	if release {
		r.store.removeQuietly(reservationKey(r.family, r.device, r.id))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("abort %s: %w", r.what(), err)
	}
	return nil
}

// releaseLocked reports whether the caller should remove the reservation now: once
// the run is committed or aborted and no WriteFile is in flight, since one still
// writing could otherwise create a file under an id another run has taken.
func (r *Run) releaseLocked() bool {
	if r.released || r.state == runOpen || r.pending > 0 {
		return false
	}
	r.released = true
	return true
}
