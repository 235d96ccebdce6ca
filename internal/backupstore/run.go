package backupstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// maxStampBumps bounds the search for a free stamp (one per millisecond).
const maxStampBumps = 100000

// Run is one backup in progress. Its files are invisible to readers until Commit
// writes the sidecar. Call Abort (for instance deferred) when the run fails: it is a
// no-op after a successful Commit. A Run's methods may be called from several
// goroutines, for different kinds.
type Run struct {
	store   *Store
	family  string
	device  string
	dir     string
	id      string
	started time.Time

	mu      sync.Mutex
	state   runState
	kinds   map[string]bool // reserved or written kinds
	files   []File          // written and added files, in order
	written []string        // local files this run renamed into place
	pending int             // WriteFile calls in flight
}

type runState int

const (
	runOpen runState = iota
	runCommitted
	runAborted
)

// Begin starts a backup run for a device: it validates the names, creates the
// device folder and reserves a unique stamp derived from started (the current time
// if zero). If the stamp is taken, by a concurrent run or an earlier one, it is
// bumped by a millisecond until a free one is found.
func (s *Store) Begin(family, device string, started time.Time) (*Run, error) {
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
	dir, err := s.storeDir(family, device)
	if err != nil {
		return nil, fmt.Errorf("backup of %s device %s: %w", family, device, err)
	}
	if err := mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("backup of %s device %s: %w", family, device, err)
	}
	t := started.Truncate(time.Millisecond)
	for range maxStampBumps {
		id := formatStamp(t)
		ok, err := reserve(dir, id)
		if err != nil {
			return nil, fmt.Errorf("backup of %s device %s: reserve run id: %w", family, device, err)
		}
		if ok {
			return &Run{
				store: s, family: family, device: device, dir: dir, id: id,
				started: started, kinds: map[string]bool{},
			}, nil
		}
		t = t.Add(time.Millisecond)
	}
	return nil, fmt.Errorf("backup of %s device %s: no free run id near %s in %s", family, device, formatStamp(started), dir)
}

// reserve takes stamp id in dir by creating "<id>.lock" exclusively. A stamp whose
// sidecar already exists is taken too: Commit renames the sidecar into place before
// it removes the lock, so one of the two is always visible.
func reserve(dir, id string) (bool, error) {
	lock := filepath.Join(dir, id+".lock")
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(lock)
		return false, err
	}
	if _, err := os.Lstat(filepath.Join(dir, id+".json")); err == nil {
		_ = os.Remove(lock)
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(lock)
		return false, err
	}
	return true, nil
}

// ID is the run's stamp, unique for its device: e.g. 20261125T101500.123Z.
func (r *Run) ID() string { return r.id }

// Dir is the device folder the run writes to.
func (r *Run) Dir() string { return r.dir }

func (r *Run) what() string {
	return fmt.Sprintf("backup %s of %s device %s", r.id, r.family, r.device)
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

// WriteFile streams src into "<id>-<kind>.<ext>" in the device folder, atomically,
// with mode 0600, and returns the file with its size and SHA-256. On error nothing is
// left on disk and the kind may be retried. Each kind is written at most once.
func (r *Run) WriteFile(ctx context.Context, kind, ext string, src io.Reader) (File, error) {
	if err := ValidName(kind); err != nil {
		return File{}, fmt.Errorf("%s: invalid file kind: %w", r.what(), err)
	}
	ext = strings.TrimPrefix(ext, ".")
	if err := validExt(ext); err != nil {
		return File{}, fmt.Errorf("%s: %w", r.what(), err)
	}
	name := r.id + "-" + kind + "." + ext
	if len(name) > 255-len(tmpPrefix)-16 {
		return File{}, fmt.Errorf("%s: file name %q is too long", r.what(), name)
	}
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

	size, sum, err := writeAtomic(ctx, r.dir, name, src)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	if err != nil {
		delete(r.kinds, kind)
		r.releaseIfAbortedLocked()
		return File{}, fmt.Errorf("%s: %s file: %w", r.what(), kind, err)
	}
	path := filepath.Join(r.dir, name)
	if r.state != runOpen { // aborted while writing: do not leave the file behind
		_ = os.Remove(path)
		r.releaseIfAbortedLocked()
		return File{}, r.checkOpenLocked()
	}
	f := File{Kind: kind, Path: path, Size: size, SHA256: sum}
	r.written = append(r.written, path)
	r.files = append(r.files, f)
	return f, nil
}

// AddFile records a remote copy (Location set, Path empty) in the run's sidecar, e.g.
// the file a conductor pushed by SCP. The location must not contain a password.
func (r *Run) AddFile(f File) error {
	if f.Path != "" {
		return fmt.Errorf("%s: AddFile records remote copies only; write local files with WriteFile", r.what())
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

// Commit writes the run's sidecar atomically, which makes the backup visible, and
// releases the run's reservation. It returns the backup as a reader would see it.
func (r *Run) Commit(host string, port int, attrs map[string]string, completed time.Time) (Backup, error) {
	if port < 0 || port > 65535 {
		return Backup{}, fmt.Errorf("%s: invalid port %d", r.what(), port)
	}
	for k := range attrs {
		if client.IsSecretKey(k) { // sidecars never hold a secret
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
	if _, err := decodeRecord(data, r.family, r.device, r.id, r.dir); err != nil {
		return Backup{}, fmt.Errorf("%s: the backup record would not be readable: %w", r.what(), err)
	}
	if _, _, err := writeAtomic(context.Background(), r.dir, r.id+".json", bytes.NewReader(data)); err != nil {
		return Backup{}, fmt.Errorf("%s: write backup record: %w", r.what(), err)
	}
	r.state = runCommitted
	// The sidecar is in place: only now may the reservation go (see reserve).
	if err := os.Remove(filepath.Join(r.dir, r.id+".lock")); err == nil {
		_ = syncDir(r.dir)
	}
	return b, nil
}

// Abort removes every file this run wrote and its reservation. It is safe after a
// failed WriteFile, idempotent, and a no-op once the run is committed.
func (r *Run) Abort() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == runCommitted {
		return nil
	}
	r.state = runAborted
	var errs []error
	for _, p := range r.written {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	r.written = nil
	r.files = nil
	// A WriteFile still in flight removes its file when it ends and releases the
	// reservation then, so that no other run can take this id while it may still
	// rename a file into place.
	if r.pending == 0 {
		if err := os.Remove(filepath.Join(r.dir, r.id+".lock")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(r.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("abort %s: %w", r.what(), err)
	}
	return nil
}

// releaseIfAbortedLocked removes the reservation of an aborted run once no WriteFile
// is in flight any more.
func (r *Run) releaseIfAbortedLocked() {
	if r.state == runAborted && r.pending == 0 {
		_ = os.Remove(filepath.Join(r.dir, r.id+".lock"))
	}
}
