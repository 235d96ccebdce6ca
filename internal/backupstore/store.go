package backupstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrNoBackup is returned (wrapped) when no complete backup matches a lookup.
var ErrNoBackup = errors.New("no backup found")

// Store is a backup folder on the local file system. It is safe for concurrent use,
// also by several processes sharing the folder.
type Store struct {
	root     string // absolute
	realRoot string // root with symbolic links resolved, for FindByPath
}

// Open opens the store rooted at root, creating the folder (mode 0700) if it is
// missing. root is made absolute. It fails clearly when root is a file or cannot be
// written to.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("backup folder must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("backup folder %q: %w", root, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := mkdirAll(abs); err != nil {
			return nil, fmt.Errorf("cannot create backup folder %s: %w", abs, err)
		}
	case err != nil:
		return nil, fmt.Errorf("cannot use backup folder %s: %w", abs, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("backup folder %s is a file, not a folder: choose another path or remove the file", abs)
	}
	probe, err := os.CreateTemp(abs, tmpPrefix+"probe-*")
	if err != nil {
		return nil, fmt.Errorf("backup folder %s is not writable (check its owner and permissions): %w", abs, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		resolved = abs
	}
	return &Store{root: abs, realRoot: resolved}, nil
}

// Root is the store's absolute root folder.
func (s *Store) Root() string { return s.root }

// dir is the folder of one device's backups; names must be validated first.
func (s *Store) dir(family, device string) string {
	return filepath.Join(s.root, family, device)
}

// File is one artefact of a backup: a local file (Path) or a remote copy (Location,
// e.g. scp://user@host/dir/file, never with a password).
type File struct {
	Kind     string // e.g. "flash", "config"; a safe name
	Path     string // absolute local path, or ""
	Location string // remote URL, or ""
	Size     int64
	SHA256   string // lower-case hex; may be empty for an unverified remote copy
}

// Backup is one complete backup run as recorded by its sidecar.
type Backup struct {
	Family      string
	Device      string
	Host        string
	Port        int
	ID          string // the run's stamp, e.g. 20261125T101500.123Z
	StartedAt   time.Time
	CompletedAt time.Time
	Files       []File
	Attributes  map[string]string // serial, firmware, hostname, ...: never secrets
}

// File returns the backup's file of the given kind.
func (b Backup) File(kind string) (File, bool) {
	for _, f := range b.Files {
		if f.Kind == kind {
			return f, true
		}
	}
	return File{}, false
}

// SidecarPath is where the sidecar of backup b lives in store s.
func (s *Store) SidecarPath(b Backup) string {
	return filepath.Join(s.dir(b.Family, b.Device), b.ID+".json")
}
