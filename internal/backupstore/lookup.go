package backupstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// candidate is a record that may hold a complete backup.
type candidate struct {
	family, device, id string
}

// recordIDs lists the run ids in dir that have an entry named like a record, newest
// first, whatever the entry is: reading it checks that (a named pipe or a folder
// named like a record is a damaged record, not nothing). A missing folder yields none.
func recordIDs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validStamp(id) {
			continue // unrelated, temporary (".tmp-..."), locks, backup files
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, nil
}

// recordError is a record that cannot be used.
type recordError struct {
	path string
	err  error
}

func (e *recordError) Error() string {
	return fmt.Sprintf("backup record %s cannot be used: %v", e.path, e.err)
}

func (e *recordError) Unwrap() error { return e.err }

// load reads and checks one record, including that its local files exist with the
// recorded size. Any problem makes the backup unusable.
func (s *Store) load(c candidate) (Backup, error) {
	dir, err := s.storeDir(c.family, c.device)
	if err != nil {
		return Backup{}, err
	}
	path := filepath.Join(dir, c.id+".json")
	data, err := readRecord(path)
	if err != nil {
		return Backup{}, &recordError{path, err}
	}
	b, err := decodeRecord(data, c.family, c.device, c.id, dir)
	if err != nil {
		return Backup{}, &recordError{path, err}
	}
	for _, bf := range b.Files {
		if bf.Path == "" {
			continue
		}
		fi, err := os.Lstat(bf.Path)
		if err != nil {
			return Backup{}, &recordError{path, fmt.Errorf("recorded %s file is unusable: %w", bf.Kind, err)}
		}
		if !fi.Mode().IsRegular() || fi.Size() != bf.Size {
			return Backup{}, &recordError{path, fmt.Errorf("recorded %s file %s is not a regular file of %d bytes", bf.Kind, bf.Path, bf.Size)}
		}
	}
	return b, nil
}

// first returns the first candidate (they are ordered newest first) that loads and
// satisfies keep. A candidate that cannot be used ends the search with an error
// naming it, unless notAnAnswer says it certainly is not one: skipping it would
// present an older backup as the latest.
func (s *Store) first(cands []candidate, keep func(Backup) bool, notAnAnswer func(candidate) bool, what string) (Backup, error) {
	for _, c := range cands {
		b, err := s.load(c)
		if err != nil {
			if notAnAnswer != nil && notAnAnswer(c) {
				continue
			}
			return Backup{}, fmt.Errorf("cannot tell which backup of %s is the latest: %w. "+
				"Repair it, or move it out of the backup folder if it is damaged, and retry", what, err)
		}
		if keep == nil || keep(b) {
			return b, nil
		}
	}
	return Backup{}, fmt.Errorf("%w: no complete backup of %s in %s", ErrNoBackup, what, s.root)
}

// Latest returns the newest complete backup of a device. Runs that never completed
// (no record), temporary and unrelated files are ignored; a newer record that cannot
// be used is an error that names it. errors.Is(err, ErrNoBackup) when there is none.
func (s *Store) Latest(family, device string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if err := ValidName(device); err != nil {
		return Backup{}, fmt.Errorf("invalid device name: %w", err)
	}
	what := fmt.Sprintf("%s device %s", family, device)
	dir, err := s.storeDir(family, device)
	if err != nil {
		return Backup{}, fmt.Errorf("list backups of %s: %w", what, err)
	}
	ids, err := recordIDs(dir)
	if err != nil {
		return Backup{}, fmt.Errorf("list backups of %s: %w", what, err)
	}
	cands := make([]candidate, len(ids))
	for i, id := range ids {
		cands[i] = candidate{family, device, id}
	}
	return s.first(cands, nil, nil, what)
}

// LatestByHost returns the newest complete backup, across every device folder of
// family, whose recorded host equals host (case-insensitively). A newer record that
// cannot be used is an error, unless it still says it is another host's.
func (s *Store) LatestByHost(family, host string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if host == "" {
		return Backup{}, errors.New("host must not be empty")
	}
	famDir, err := s.storeDir(family)
	if err != nil {
		return Backup{}, fmt.Errorf("list %s backups: %w", family, err)
	}
	entries, err := os.ReadDir(famDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Backup{}, fmt.Errorf("list %s backups: %w", family, err)
	}
	var cands []candidate
	for _, e := range entries {
		if ValidName(e.Name()) != nil {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			return Backup{}, fmt.Errorf("list %s backups: %w", family, errSymlink(filepath.Join(famDir, e.Name())))
		}
		if !e.IsDir() {
			continue
		}
		ids, err := recordIDs(filepath.Join(famDir, e.Name()))
		if err != nil {
			return Backup{}, fmt.Errorf("list backups of %s device %s: %w", family, e.Name(), err)
		}
		for _, id := range ids {
			cands = append(cands, candidate{family, e.Name(), id})
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
	return s.first(cands, isHost, func(c candidate) bool { return s.namesAnotherHost(c, host) },
		fmt.Sprintf("%s host %s", family, host))
}

// namesAnotherHost reports whether an unusable record still reads as a record of
// another host than host: it is then no candidate, whatever else is wrong with it.
func (s *Store) namesAnotherHost(c candidate, host string) bool {
	dir, err := s.storeDir(c.family, c.device)
	if err != nil {
		return false
	}
	data, err := readRecord(filepath.Join(dir, c.id+".json"))
	if err != nil {
		return false
	}
	var rec struct {
		Host *string `json:"host"`
	}
	if json.Unmarshal(data, &rec) != nil || rec.Host == nil {
		return false
	}
	return !strings.EqualFold(*rec.Host, host)
}

// FindByPath returns the complete backup that records the local file at path, and
// that file's entry, e.g. to check its SHA-256 before a restore. The path must lie in
// the store. errors.Is(err, ErrNoBackup) when no complete backup records it.
func (s *Store) FindByPath(path string) (Backup, File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("backup file %q: %w", path, err)
	}
	// The path is the user's: it may reach the store through a link outside it.
	parts, ok := splitUnder(s.root, abs)
	if !ok {
		realRoot, err1 := filepath.EvalSymlinks(s.root)
		resolved, err2 := filepath.EvalSymlinks(abs)
		if err1 == nil && err2 == nil {
			parts, ok = splitUnder(realRoot, resolved)
		}
	}
	if !ok {
		return Backup{}, File{}, fmt.Errorf("%w: %s is not a backup file in the store %s", ErrNoBackup, abs, s.root)
	}
	family, device, name := parts[0], parts[1], parts[2]
	if validFamily(family) != nil || ValidName(device) != nil || len(name) <= stampLen+1 ||
		name[stampLen] != '-' || !validStamp(name[:stampLen]) {
		return Backup{}, File{}, fmt.Errorf("%w: %s is not a backup file in the store %s", ErrNoBackup, abs, s.root)
	}
	id := name[:stampLen]
	b, err := s.load(candidate{family, device, id})
	var rerr *recordError
	switch {
	case errors.As(err, &rerr) && errors.Is(err, os.ErrNotExist) && filepath.Base(rerr.path) == id+".json":
		if _, serr := os.Lstat(rerr.path); errors.Is(serr, os.ErrNotExist) {
			return Backup{}, File{}, fmt.Errorf("%w: %s belongs to backup run %s, which never completed", ErrNoBackup, abs, id)
		}
		return Backup{}, File{}, fmt.Errorf("%w: %s: %v", ErrNoBackup, abs, err)
	case rerr != nil:
		return Backup{}, File{}, fmt.Errorf("%w: %s: %v", ErrNoBackup, abs, err)
	case err != nil: // the store's layout itself is refused (a symbolic link)
		return Backup{}, File{}, fmt.Errorf("%s: %w", abs, err)
	}
	for _, f := range b.Files {
		if f.Path != "" && filepath.Base(f.Path) == name {
			return b, f, nil
		}
	}
	return Backup{}, File{}, fmt.Errorf("%w: backup %s of %s device %s does not record %s", ErrNoBackup, id, family, device, abs)
}

// splitUnder returns family, device and file name when abs is root/family/device/name.
func splitUnder(root, abs string) ([]string, bool) {
	rel, err := filepath.Rel(root, filepath.Clean(abs))
	if err != nil || !filepath.IsLocal(rel) {
		return nil, false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 3 {
		return nil, false
	}
	return parts, true
}

// VerifyFile re-hashes the file at path, streaming, and checks it against wantSHA256
// (hex). A mismatch means the file was changed or corrupted since it was backed up.
func VerifyFile(path, wantSHA256 string) error {
	want := strings.ToLower(strings.TrimSpace(wantSHA256))
	if !validSHA256(want) {
		return fmt.Errorf("cannot verify %s: expected SHA-256 %q is not 64 hex digits", path, abbreviate(wantSHA256))
	}
	f, _, err := openRegular(path, false) // the path is the user's: it may be a link
	if err != nil {
		return fmt.Errorf("cannot verify backup file %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
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
