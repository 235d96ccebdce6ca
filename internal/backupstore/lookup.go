package backupstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxSidecarSize bounds how much of a sidecar is read; real ones are a few KiB.
const maxSidecarSize = 1 << 20

// candidate is a sidecar that may hold a complete backup.
type candidate struct {
	family, device, id string
}

// sidecarIDs lists the run ids in dir that have a sidecar, newest first. A missing
// folder yields none.
func sidecarIDs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !e.Type().IsRegular() || !validStamp(id) {
			continue // unrelated, temporary (".tmp-..."), locks, backup files
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, nil
}

// load reads and checks one sidecar, including that its local files exist with the
// recorded size. Any problem makes the backup unusable.
func (s *Store) load(c candidate) (Backup, error) {
	dir := s.dir(c.family, c.device)
	path := filepath.Join(dir, c.id+".json")
	f, err := os.Open(path)
	if err != nil {
		return Backup{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSidecarSize+1))
	if err != nil {
		return Backup{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxSidecarSize {
		return Backup{}, fmt.Errorf("%s is larger than %d bytes", path, maxSidecarSize)
	}
	b, err := parseSidecar(data, c.family, c.device, c.id, dir)
	if err != nil {
		return Backup{}, fmt.Errorf("%s: %w", path, err)
	}
	for _, bf := range b.Files {
		if bf.Path == "" {
			continue
		}
		fi, err := os.Lstat(bf.Path)
		if err != nil {
			return Backup{}, fmt.Errorf("%s: recorded %s file is unusable: %w", path, bf.Kind, err)
		}
		if !fi.Mode().IsRegular() || fi.Size() != bf.Size {
			return Backup{}, fmt.Errorf("%s: recorded %s file %s is not a regular file of %d bytes", path, bf.Kind, bf.Path, bf.Size)
		}
	}
	return b, nil
}

// first returns the first candidate (they are ordered newest first) that loads and
// satisfies keep. Unusable sidecars are skipped; the first reason is kept for the
// error when none is found.
func (s *Store) first(cands []candidate, keep func(Backup) bool, what string) (Backup, error) {
	var skipped int
	var firstReason error
	for _, c := range cands {
		b, err := s.load(c)
		if err != nil {
			skipped++
			if firstReason == nil {
				firstReason = err
			}
			continue
		}
		if keep == nil || keep(b) {
			return b, nil
		}
	}
	if skipped > 0 {
		return Backup{}, fmt.Errorf("%w: no complete backup of %s in %s (%d unusable backup record(s) skipped, e.g. %v)", ErrNoBackup, what, s.root, skipped, firstReason)
	}
	return Backup{}, fmt.Errorf("%w: no complete backup of %s in %s", ErrNoBackup, what, s.root)
}

// Latest returns the newest complete backup of a device. Unrelated files, temporary
// files, runs without a sidecar, sidecars that do not parse and sidecars whose local
// files are missing are skipped. errors.Is(err, ErrNoBackup) when there is none.
func (s *Store) Latest(family, device string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if err := ValidName(device); err != nil {
		return Backup{}, fmt.Errorf("invalid device name: %w", err)
	}
	ids, err := sidecarIDs(s.dir(family, device))
	if err != nil {
		return Backup{}, fmt.Errorf("list backups of %s device %s: %w", family, device, err)
	}
	cands := make([]candidate, len(ids))
	for i, id := range ids {
		cands[i] = candidate{family, device, id}
	}
	return s.first(cands, nil, fmt.Sprintf("%s device %s", family, device))
}

// LatestByHost returns the newest complete backup, across every device folder of
// family, whose recorded host equals host (case-insensitively).
func (s *Store) LatestByHost(family, host string) (Backup, error) {
	if err := validFamily(family); err != nil {
		return Backup{}, err
	}
	if host == "" {
		return Backup{}, errors.New("host must not be empty")
	}
	famDir := filepath.Join(s.root, family)
	entries, err := os.ReadDir(famDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Backup{}, fmt.Errorf("list %s backups: %w", family, err)
	}
	var cands []candidate
	for _, e := range entries {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		ids, err := sidecarIDs(filepath.Join(famDir, e.Name()))
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
	return s.first(cands, func(b Backup) bool { return strings.EqualFold(b.Host, host) },
		fmt.Sprintf("%s host %s", family, host))
}

// FindByPath returns the complete backup that records the local file at path, and
// that file's entry, e.g. to check its SHA-256 before a restore. The path must lie in
// the store. errors.Is(err, ErrNoBackup) when no complete backup records it.
func (s *Store) FindByPath(path string) (Backup, File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("backup file %q: %w", path, err)
	}
	parts, ok := s.split(abs)
	if !ok {
		if resolved, err := filepath.EvalSymlinks(abs); err == nil {
			parts, ok = s.splitReal(resolved)
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
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(s.dir(family, device), id+".json")); errors.Is(serr, os.ErrNotExist) {
			return Backup{}, File{}, fmt.Errorf("%w: %s belongs to backup run %s, which never completed", ErrNoBackup, abs, id)
		}
	}
	if err != nil {
		return Backup{}, File{}, fmt.Errorf("%w: %s: %v", ErrNoBackup, abs, err)
	}
	for _, f := range b.Files {
		if f.Path != "" && filepath.Base(f.Path) == name {
			return b, f, nil
		}
	}
	return Backup{}, File{}, fmt.Errorf("%w: backup %s of %s device %s does not record %s", ErrNoBackup, id, family, device, abs)
}

// split returns family, device and file name when abs is root/family/device/name.
func (s *Store) split(abs string) ([]string, bool) { return splitUnder(s.root, abs) }

func (s *Store) splitReal(resolved string) ([]string, bool) { return splitUnder(s.realRoot, resolved) }

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
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot verify backup file: %w", err)
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
