package backupstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// FormatVersion is the sidecar format this package writes and reads.
const FormatVersion = 1

// stampLayout formats a run id: UTC, millisecond precision, lexically sortable.
const stampLayout = "20060102T150405.000Z"

var stampRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z$`)

const stampLen = len(stampLayout)

func formatStamp(t time.Time) string { return t.UTC().Format(stampLayout) }

func validStamp(s string) bool {
	if !stampRe.MatchString(s) {
		return false
	}
	_, err := time.Parse(stampLayout, s)
	return err == nil
}

// stampTime is the time a valid stamp stands for.
func stampTime(id string) time.Time {
	t, _ := time.Parse(stampLayout, id)
	return t
}

// sidecar is the JSON record of one run.
type sidecar struct {
	FormatVersion int               `json:"format_version"`
	Family        string            `json:"family"`
	Device        string            `json:"device"`
	Host          string            `json:"host"`
	Port          int               `json:"port"`
	ID            string            `json:"id"`
	StartedAt     time.Time         `json:"started_at"`
	CompletedAt   time.Time         `json:"completed_at"`
	Files         []sidecarFile     `json:"files"`
	Attributes    map[string]string `json:"attributes"`
}

// sidecarFile is one file of a record. A stored file has a key, the same on every
// backend; records written on the local backend also hold its absolute path, which
// is all that records written before keys existed have (and what older versions of
// the provider read). Readers use the key, or the path's file name, and resolve it
// against the store they read: a moved store still works, and a tampered record
// cannot point outside its device's folder.
type sidecarFile struct {
	Kind     string `json:"kind"`
	Key      string `json:"key,omitempty"`
	Path     string `json:"path,omitempty"`
	Location string `json:"location,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

func encodeSidecar(b Backup) ([]byte, error) {
	sc := sidecar{
		FormatVersion: FormatVersion,
		Family:        b.Family,
		Device:        b.Device,
		Host:          b.Host,
		Port:          b.Port,
		ID:            b.ID,
		StartedAt:     b.StartedAt.UTC(),
		CompletedAt:   b.CompletedAt.UTC(),
		Files:         make([]sidecarFile, 0, len(b.Files)),
		Attributes:    b.Attributes,
	}
	if sc.Attributes == nil {
		sc.Attributes = map[string]string{}
	}
	for _, f := range b.Files {
		sc.Files = append(sc.Files, sidecarFile{
			Kind: f.Kind, Key: f.Key, Path: f.Path, Location: f.Location, Size: f.Size, SHA256: f.SHA256,
		})
	}
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode backup record: %w", err)
	}
	return append(data, '\n'), nil
}

// parseSidecar decodes and checks the record stored as <family>/<device>/<id>.json;
// the record must agree with where it is stored. Stored files come back with their
// key only: the store says where they are (see Store.located).
func parseSidecar(data []byte, family, device, id string) (Backup, error) {
	var sc sidecar
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&sc); err != nil {
		return Backup{}, fmt.Errorf("not a valid backup record: %w", err)
	}
	if dec.More() {
		return Backup{}, errors.New("not a valid backup record: data after the JSON object")
	}
	if sc.FormatVersion != FormatVersion {
		return Backup{}, fmt.Errorf("backup record has format_version %d; this provider reads version %d", sc.FormatVersion, FormatVersion)
	}
	if sc.Family != family || sc.Device != device || sc.ID != id {
		return Backup{}, fmt.Errorf("backup record says %s/%s/%s but is stored as %s/%s/%s", sc.Family, sc.Device, sc.ID, family, device, id)
	}
	if sc.Port < 0 || sc.Port > 65535 {
		return Backup{}, fmt.Errorf("backup record has invalid port %d", sc.Port)
	}
	if sc.StartedAt.IsZero() || sc.CompletedAt.IsZero() {
		return Backup{}, errors.New("backup record lacks started_at or completed_at")
	}
	if len(sc.Files) == 0 {
		return Backup{}, errors.New("backup record lists no files")
	}
	b := Backup{
		Family:      sc.Family,
		Device:      sc.Device,
		Host:        sc.Host,
		Port:        sc.Port,
		ID:          sc.ID,
		StartedAt:   sc.StartedAt.UTC(),
		CompletedAt: sc.CompletedAt.UTC(),
		Files:       make([]File, 0, len(sc.Files)),
		Attributes:  sc.Attributes,
	}
	if b.Attributes == nil {
		b.Attributes = map[string]string{}
	}
	seen := make(map[string]bool, len(sc.Files))
	for _, sf := range sc.Files {
		f := File{Kind: sf.Kind, Key: sf.Key, Location: sf.Location, Size: sf.Size, SHA256: sf.SHA256}
		if f.Key == "" && sf.Path != "" { // written before keys existed
			if !filepath.IsAbs(sf.Path) {
				return Backup{}, fmt.Errorf("backup record: file %q has a relative path %q", sf.Kind, sf.Path)
			}
			f.Key = devicePrefix(family, device) + filepath.Base(sf.Path)
		}
		if err := checkFile(f, true); err != nil {
			return Backup{}, fmt.Errorf("backup record: %w", err)
		}
		if seen[f.Kind] {
			return Backup{}, fmt.Errorf("backup record lists kind %q twice", f.Kind)
		}
		seen[f.Kind] = true
		if f.Key != "" {
			name, ok := strings.CutPrefix(f.Key, devicePrefix(family, device))
			if !ok || len(name) <= stampLen || name[:stampLen+1] != id+"-" || ValidName(name) != nil {
				return Backup{}, fmt.Errorf("backup record: file %q does not belong to run %s", abbreviate(firstOf(sf.Key, sf.Path)), id)
			}
		}
		b.Files = append(b.Files, f)
	}
	return b, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkFile validates one file entry: a stored file (a key and a SHA-256) or a
// remote copy (a location without a password; its SHA-256 is optional, known only
// when the copy was verified).
func checkFile(f File, fromRecord bool) error {
	if err := ValidName(f.Kind); err != nil {
		return fmt.Errorf("file kind: %w", err)
	}
	if (f.Key == "") == (f.Location == "") {
		return fmt.Errorf("file %q must have exactly one of a key in the store or a remote location", f.Kind)
	}
	if f.Size < 0 {
		return fmt.Errorf("file %q has negative size %d", f.Kind, f.Size)
	}
	if f.Key != "" {
		if !validSHA256(f.SHA256) {
			return fmt.Errorf("file %q has an invalid sha256 %q", f.Kind, abbreviate(f.SHA256))
		}
		return nil
	}
	if f.SHA256 != "" && !validSHA256(f.SHA256) {
		return fmt.Errorf("file %q has an invalid sha256 %q", f.Kind, abbreviate(f.SHA256))
	}
	u, err := url.Parse(f.Location)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("file %q has an invalid remote location: it must be a URL like scp://user@host/dir/file", f.Kind)
	}
	if _, hasPw := u.User.Password(); hasPw {
		if fromRecord {
			return fmt.Errorf("file %q has a remote location with a password", f.Kind)
		}
		return fmt.Errorf("file %q: the remote location must not contain a password", f.Kind)
	}
	return nil
}

// validSHA256 accepts 64 lower-case hex digits, the form the store writes.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
