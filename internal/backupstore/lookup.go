package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// listing is one listing of a device's folder, or of a family's: every object under
// it by key, and the run ids that have a record, and the ids of failure records, by
// device.
type listing struct {
	objects  map[string]objstore.ObjectInfo
	records  map[string][]string // device -> ids, newest first
	failures map[string][]string // device -> ids of failure records, newest first
	// sorted, when objects is nil, holds the objects sorted by key (Fleet's
	// listing, which a map of every key would make far larger).
	sorted []objstore.ObjectInfo
}

// object looks a listed object up by key.
func (l listing) object(key string) (objstore.ObjectInfo, bool) {
	if l.objects != nil {
		o, ok := l.objects[key]
		return o, ok
	}
	i, ok := slices.BinarySearchFunc(l.sorted, key, func(o objstore.ObjectInfo, k string) int { return strings.Compare(o.Key, k) })
	if !ok {
		return objstore.ObjectInfo{}, false
	}
	return l.sorted[i], true
}

// list lists family/ or family/device/ once. An entry named like a record counts as
// one whatever it is (a key below "<id>.json/", which a local folder named like a
// record holds, too): reading it tells whether it is usable.
func (s *Store) list(ctx context.Context, family, device string) (listing, error) {
	prefix := family + "/"
	if device != "" {
		prefix = devicePrefix(family, device)
	}
	objs, err := s.obj.List(ctx, prefix)
	if err != nil {
		return listing{}, err
	}
	l := listing{objects: make(map[string]objstore.ObjectInfo, len(objs)), records: map[string][]string{}, failures: map[string][]string{}}
	for _, o := range objs {
		l.objects[o.Key] = o
		device, id, isFailure, ok := parseRecordKey(o.Key)
		switch {
		case !ok: // unrelated, reservations, backup files
		case isFailure:
			l.failures[device] = append(l.failures[device], id)
		default:
			l.records[device] = append(l.records[device], id)
		}
	}
	for device, ids := range l.records {
		l.records[device] = newestFirst(ids)
	}
	for device, ids := range l.failures {
		l.failures[device] = newestFirst(ids)
	}
	return l, nil
}

// parseRecordKey tells whether key, below a family's folder, names a backup record
// (<family>/<device>/<id>.json) or a failure record (<id>.failed.json), or an entry
// below a folder named like one (which a local folder holds): reading it tells
// whether it is usable. Reservations, backup files and anything else are not records.
func parseRecordKey(key string) (device, id string, isFailure, ok bool) {
	_, rest, ok1 := strings.Cut(key, "/")
	device, name, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || ValidName(device) != nil {
		return "", "", false, false
	}
	name, _, _ = strings.Cut(name, "/")
	if id, ok := strings.CutSuffix(name, failureSuffix); ok && validStamp(id) {
		return device, id, true, true
	}
	if id, ok := strings.CutSuffix(name, recordSuffix); ok && validStamp(id) {
		return device, id, false, true
	}
	return "", "", false, false
}

// newestFirst sorts ids newest first, once each: a folder named like a record
// lists once per entry below it.
func newestFirst(ids []string) []string {
	slices.Sort(ids)
	slices.Reverse(ids)
	return slices.Compact(ids)
}

// candidate is a record that may hold a complete backup.
type candidate struct {
	family, device, id string
}

func (c candidate) key() string { return recordKey(c.family, c.device, c.id) }

// recordError is a record that cannot be used.
type recordError struct {
	kind     string // "backup record" when empty, or "failure record"
	location string
	err      error
}

func (e *recordError) Error() string {
	kind := e.kind
	if kind == "" {
		kind = "backup record"
	}
	return fmt.Sprintf("%s %s cannot be used: %v", kind, e.location, e.err)
}

func (e *recordError) Unwrap() error { return e.err }

// load reads and checks one record, and that every stored file it names is listed
// with the recorded size. Any problem makes the backup unusable. The record's bytes
// come back whenever they could be read, for callers that look into a damaged one.
func (s *Store) load(ctx context.Context, c candidate, l listing) (Backup, []byte, error) {
	loc := s.obj.Location(c.key())
	data, err := s.readRecord(ctx, c.key())
	if err != nil {
		return Backup{}, nil, &recordError{location: loc, err: err}
	}
	b, err := decodeRecord(data, c.family, c.device, c.id)
	if err != nil {
		return Backup{}, data, &recordError{location: loc, err: err}
	}
	for i, f := range b.Files {
		if !f.InStore() {
			continue
		}
		f = s.located(f)
		b.Files[i] = f
		o, ok := l.object(f.Key)
		if !ok {
			return Backup{}, data, &recordError{location: loc, err: fmt.Errorf("recorded %s file %s is unusable: it is missing", f.Kind, f.StoreLocation)}
		}
		if o.Size != f.Size {
			return Backup{}, data, &recordError{location: loc, err: fmt.Errorf("recorded %s file %s is unusable: it holds %d bytes, not the %d recorded", f.Kind, f.StoreLocation, o.Size, f.Size)}
		}
	}
	return b, data, nil
}

// first returns the first candidate (they are ordered newest first) that loads and
// satisfies keep. A candidate that cannot be used ends the search with an error
// naming it, unless notAnAnswer says (from its bytes, if they could be read) that it
// certainly is not one: skipping it would present an older backup as the latest.
func (s *Store) first(ctx context.Context, cands []candidate, l listing, keep func(Backup) bool, notAnAnswer func([]byte) bool, what string) (Backup, error) {
	for _, c := range cands {
		b, data, err := s.load(ctx, c, l)
		if err != nil {
			if ctx.Err() != nil {
				return Backup{}, err
			}
			if notAnAnswer != nil && data != nil && notAnAnswer(data) {
				continue
			}
			return Backup{}, fmt.Errorf("cannot tell which backup of %s is the latest: %w. "+
				"Repair it, or move it out of the backup store if it is damaged, and retry", what, err)
		}
		if keep == nil || keep(b) {
			return b, nil
		}
	}
	return Backup{}, fmt.Errorf("%w: no complete backup of %s in %s", ErrNoBackup, what, s.Location())
}

// Latest returns the newest complete backup of a device, from one listing of its
// folder, reading records newest first until one is usable. Runs that never
// completed (no record), reservations, temporary and unrelated files are ignored; a
// newer record that cannot be used is an error that names it.
// errors.Is(err, ErrNoBackup) when there is none.
func (s *Store) Latest(ctx context.Context, family, device string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if err := ValidName(device); err != nil {
		return Backup{}, fmt.Errorf("invalid device name: %w", err)
	}
	w := what(family, device)
	l, err := s.list(ctx, family, device)
	if err != nil {
		return Backup{}, fmt.Errorf("list backups of %s: %w", w, err)
	}
	var cands []candidate
	for _, id := range l.records[device] {
		cands = append(cands, candidate{family, device, id})
	}
	return s.first(ctx, cands, l, nil, nil, w)
}

// Get returns the complete backup of a device with run id id (a restore names a
// backup this way). errors.Is(err, ErrNoBackup) when there is none; a record that
// cannot be used is an error naming it.
func (s *Store) Get(ctx context.Context, family, device, id string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if err := ValidName(device); err != nil {
		return Backup{}, fmt.Errorf("invalid device name: %w", err)
	}
	if err := ValidID(id); err != nil {
		return Backup{}, err
	}
	w := what(family, device)
	l, err := s.list(ctx, family, device)
	if err != nil {
		return Backup{}, fmt.Errorf("list backups of %s: %w", w, err)
	}
	if !slices.Contains(l.records[device], id) {
		return Backup{}, fmt.Errorf("%w: %s holds no complete backup %s of %s", ErrNoBackup, s.Location(), id, w)
	}
	b, _, err := s.load(ctx, candidate{family, device, id}, l)
	if err != nil {
		return Backup{}, fmt.Errorf("backup %s of %s: %w", id, w, err)
	}
	return b, nil
}

// LatestByHost returns the newest complete backup, across every device of family
// (one listing of the family's folder), whose recorded host equals host
// (case-insensitively). A newer record that cannot be used is an error, unless it
// still says it is another host's.
func (s *Store) LatestByHost(ctx context.Context, family, host string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if host == "" {
		return Backup{}, errors.New("host must not be empty")
	}
	l, err := s.list(ctx, family, "")
	if err != nil {
		return Backup{}, fmt.Errorf("list %s backups: %w", family, err)
	}
	var cands []candidate
	for device, ids := range l.records {
		for _, id := range ids {
			cands = append(cands, candidate{family, device, id})
		}
	}
	// Newest first across devices; ties broken by device name for a stable answer.
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := strings.Compare(b.id, a.id); c != 0 {
			return c
		}
		return strings.Compare(a.device, b.device)
	})
	isHost := func(b Backup) bool { return strings.EqualFold(b.Host, host) }
	return s.first(ctx, cands, l, isHost, func(data []byte) bool { return namesAnotherHost(data, host) },
		fmt.Sprintf("%s host %s", family, host))
}

// namesAnotherHost reports whether an unusable record still reads as a record of
// another host than host: it is then no candidate, whatever else is wrong with it.
func namesAnotherHost(data []byte, host string) bool {
	var rec struct {
		Host *string `json:"host"`
	}
	if json.Unmarshal(data, &rec) != nil || rec.Host == nil {
		return false
	}
	return !strings.EqualFold(*rec.Host, host)
}

// FindByKey returns the complete backup that records the stored file at key
// (<family>/<device>/<id>-<kind>.<ext>) and that file's entry, e.g. to restore it.
// errors.Is(err, ErrNoBackup) when no complete backup records it.
func (s *Store) FindByKey(ctx context.Context, key string) (Backup, File, error) {
	loc := key
	if objstore.ValidKey(key) == nil {
		loc = s.obj.Location(key)
	}
	k, err := ParseFileKey(key)
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("%w: %s is not a backup file in the store %s (%v)", ErrNoBackup, abbreviate(loc), s.Location(), err)
	}
	family, device, id := k.Family, k.Device, k.ID
	l, err := s.list(ctx, family, device)
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("%s: %w", loc, err)
	}
	if !slices.Contains(l.records[device], id) {
		return Backup{}, File{}, fmt.Errorf("%w: %s belongs to backup run %s, which never completed", ErrNoBackup, loc, id)
	}
	b, _, err := s.load(ctx, candidate{family, device, id}, l)
	var rerr *recordError
	switch {
	case errors.As(err, &rerr):
		return Backup{}, File{}, fmt.Errorf("%w: %s: %v", ErrNoBackup, loc, err)
	case err != nil:
		return Backup{}, File{}, fmt.Errorf("%s: %w", loc, err)
	}
	for _, f := range b.Files {
		if f.Key == key {
			return b, f, nil
		}
	}
	return Backup{}, File{}, fmt.Errorf("%w: backup %s of %s does not record %s", ErrNoBackup, id, what(family, device), loc)
}

// FindByPath is FindByKey for a local path, on the local backend: the path must lie
// in the store (also when it reaches it through a symbolic link outside it).
func (s *Store) FindByPath(path string) (Backup, File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("backup file %q: %w", path, err)
	}
	if s.local == nil {
		return Backup{}, File{}, fmt.Errorf("%w: %s is a local path, but the backup store is %s", ErrNoBackup, abs, s.Location())
	}
	key, ok := keyUnder(s.local.Root(), abs)
	if !ok {
		realRoot, err1 := filepath.EvalSymlinks(s.local.Root())
		resolved, err2 := filepath.EvalSymlinks(abs)
		if err1 == nil && err2 == nil {
			key, ok = keyUnder(realRoot, resolved)
		}
	}
	if !ok {
		return Backup{}, File{}, fmt.Errorf("%w: %s is not a backup file in the store %s", ErrNoBackup, abs, s.local.Root())
	}
	b, f, err := s.FindByKey(context.Background(), key)
	if err != nil {
		return Backup{}, File{}, err
	}
	return b, f, nil
}

// keyUnder returns the key of abs when it is root/family/device/name.
func keyUnder(root, abs string) (string, bool) {
	rel, err := filepath.Rel(root, filepath.Clean(abs))
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	key := filepath.ToSlash(rel)
	if strings.Count(key, "/") != 2 || objstore.ValidKey(key) != nil {
		return "", false
	}
	return key, true
}

// VerifyFile re-hashes the file at path, streaming, and checks it against wantSHA256
// (hex). A mismatch means the file was changed or corrupted since it was backed up.
func VerifyFile(path, wantSHA256 string) error {
	want := strings.ToLower(strings.TrimSpace(wantSHA256))
	if !validSHA256(want) {
		return fmt.Errorf("cannot verify %s: expected SHA-256 %q is not 64 hex digits", path, abbreviate(wantSHA256))
	}
	f, _, err := objstore.OpenRegularFile(path, false) // the path is the user's: it may be a link
	if err != nil {
		return fmt.Errorf("cannot verify backup file %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // only read: closing cannot lose anything
	h := sha256.New()
	bp := copyBuffer()
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{f}, *bp)
	if err != nil {
		return fmt.Errorf("cannot verify backup file %s: read failed after %d bytes: %w", path, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("backup file %s is corrupt or was changed after the backup: its SHA-256 is %s (%d bytes) but the backup record says %s; use another backup or take a new one", path, got, n, want)
	}
	return nil
}
