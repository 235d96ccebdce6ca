package backupstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// ErrNoBackup is returned (wrapped) when no complete backup matches a lookup.
var ErrNoBackup = errors.New("no backup found")

// Store is the backup store on one objstore backend: a local folder or an
// S3-compatible bucket. It is safe for concurrent use, also by several processes
// (or runners) sharing the folder or bucket.
type Store struct {
	obj   objstore.Store
	local *objstore.Local // set when obj is a local folder: paths, FindByPath
}

// Open opens the store in the local folder root (made absolute). It only reads, as
// plan and refresh must not write: a missing folder is created by the first backup
// (Begin). A path that is a file, or a folder that this process cannot write to, is
// refused now, so that a plan fails before any device is contacted.
func Open(root string) (*Store, error) {
	l, err := objstore.OpenLocal(root)
	if err != nil {
		return nil, err
	}
	return New(l), nil
}

// New is the store on any backend, an *objstore.S3 bucket say. It sends no
// request; Check does.
func New(obj objstore.Store) *Store {
	s := &Store{obj: obj}
	s.local, _ = obj.(*objstore.Local)
	return s
}

// Root is the store's absolute root folder on the local backend, "" on others.
func (s *Store) Root() string {
	if s.local == nil {
		return ""
	}
	return s.local.Root()
}

// Location names the store for people: its root folder, or s3://bucket/prefix.
func (s *Store) Location() string {
	if s.local != nil {
		return s.local.Root()
	}
	return strings.TrimSuffix(s.obj.Location(""), "/")
}

// Objects is the backend the store keeps its objects in.
func (s *Store) Objects() objstore.Store { return s.obj }

// Check verifies that the store can be used now (local: the folder is writable,
// which creates it; S3: the bucket answers with these credentials), for a clear
// error before a backup starts. Plans should not call it on the local backend.
func (s *Store) Check(ctx context.Context) error { return s.obj.Check(ctx) }

// File is one artefact of a backup: a file in the store (Key set) or a remote copy
// elsewhere (Location set), e.g. the file a conductor pushed by SCP.
type File struct {
	// Kind says what the file holds, a safe name: "running-config",
	// "flash-archive-scp", "ilo-backup".
	Kind string
	// Key names a file in the store on every backend:
	// <family>/<device>/<id>-<kind>.<ext>. Empty for a remote copy.
	Key string
	// Path is a stored file's absolute local path on the local backend; empty on
	// other backends and for remote copies.
	Path string
	// StoreLocation names a stored file for people: its local path or
	// s3://bucket/prefix/key. Empty for a remote copy.
	StoreLocation string
	// Location is a remote copy's URL (scp://user@host/dir/file, never with a
	// password); empty for a file in the store.
	Location string
	Size     int64
	SHA256   string // lower-case hex; may be empty for an unverified remote copy
}

// InStore reports whether the file is kept in the store (else it is a remote copy).
func (f File) InStore() bool { return f.Key != "" }

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

// RecordKey is the key of the backup's record (sidecar): <family>/<device>/<id>.json.
func (b Backup) RecordKey() string { return recordKey(b.Family, b.Device, b.ID) }

// SidecarPath names the record of backup b in store s: its local path, or its
// s3:// URL.
func (s *Store) SidecarPath(b Backup) string {
	return s.obj.Location(b.RecordKey())
}

// Keys of the layout. Names must be validated first.

func devicePrefix(family, device string) string { return family + "/" + device + "/" }

func recordKey(family, device, id string) string {
	return devicePrefix(family, device) + id + recordSuffix
}

func reservationKey(family, device, id string) string {
	return devicePrefix(family, device) + id + reservationSuffix
}

const (
	recordSuffix      = ".json"
	reservationSuffix = ".lock"
)

// located fills in where a stored file is, for this backend.
func (s *Store) located(f File) File {
	if f.Key == "" {
		return f
	}
	f.StoreLocation = s.obj.Location(f.Key)
	f.Path = ""
	if s.local != nil {
		f.Path = f.StoreLocation
	}
	return f
}

func what(family, device string) string {
	return fmt.Sprintf("%s device %s", family, device)
}
