package backupstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNoBackup is returned (wrapped) when no complete backup matches a lookup.
var ErrNoBackup = errors.New("no backup found")

// Store is a backup folder on the local file system. It is safe for concurrent use,
// also by several processes sharing the folder.
type Store struct {
	root string // absolute
}

// Open opens the store rooted at root (made absolute). It only reads, as plan and
// refresh must not write: a missing folder is created by the first backup (Begin).
// A path that is a file, or a folder that this process cannot write to, is refused
// now, so that a plan fails before any device is contacted.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("backup folder must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("backup folder %q: %w", root, err)
	}
	// The folder, or the nearest existing folder above it, which Begin creates in.
	existing := abs
	for {
		fi, err := os.Stat(existing)
		switch {
		case (errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && filepath.Dir(existing) != existing:
			existing = filepath.Dir(existing)
			continue
		case err != nil:
			return nil, fmt.Errorf("cannot use backup folder %s: %w", abs, err)
		case !fi.IsDir() && existing == abs:
			return nil, fmt.Errorf("backup folder %s is a file, not a folder: choose another path or remove the file", abs)
		case !fi.IsDir():
			return nil, fmt.Errorf("cannot create backup folder %s: %s is a file, not a folder", abs, existing)
		}
		break
	}
	if err := writable(existing); err != nil {
		if existing == abs {
			return nil, fmt.Errorf("backup folder %s is not writable (check its owner and permissions): %w", abs, err)
		}
		return nil, fmt.Errorf("cannot create backup folder %s: %s is not writable (check its owner and permissions): %w", abs, existing, err)
	}
	return &Store{root: abs}, nil
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
	Kind     string // what the file holds, a safe name: "running-config", "flash-archive-scp", "ilo-backup"
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
