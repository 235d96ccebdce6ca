package backupstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// MaxNameLen is the longest device name or kind the store accepts.
const MaxNameLen = 64

// Families of devices the store knows: the top folders of its layout.
const (
	FamilyAruba  = "aruba"
	FamilyILO    = "ilo"
	FamilyApstra = "apstra"
)

// Families lists every family; a new kind of device adds its own here.
var Families = []string{FamilyAruba, FamilyILO, FamilyApstra}

// IsFamily reports whether name is one of the Families.
func IsFamily(name string) bool { return slices.Contains(Families, name) }

func nameByteOK(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// ValidName checks a user-provided name (a device name, a kind) that becomes a file
// or folder name: 1 to 64 characters among letters, digits, '.', '_' and '-', not
// starting with '.' or '-'. The error is written for a Terraform user.
func ValidName(s string) error {
	if s == "" {
		return errors.New("name must not be empty: use 1 to 64 letters, digits, '.', '_' or '-'")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("name %q is %d characters long; at most %d are allowed", abbreviate(s), len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if !nameByteOK(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("name %q contains %q at position %d: only letters, digits, '.', '_' and '-' are allowed (it becomes a folder or file name)", s, r, i+1)
		}
	}
	switch s[0] {
	case '.':
		return fmt.Errorf("name %q must not start with '.': it would be a hidden file or a path like \"..\"", s)
	case '-':
		return fmt.Errorf("name %q must not start with '-'", s)
	}
	return nil
}

// SanitizeName turns a name chosen by a device (a hostname, a file name it reports)
// into a safe single path component: every character other than letters, digits,
// '.', '_' and '-' becomes '_', the result is cut to 64 characters, and a leading '.'
// or '-' becomes '_'. A result that is empty or only dots (like "..") is refused.
// Its output always passes ValidName.
func SanitizeName(s string) (string, error) {
	var b strings.Builder
	b.Grow(min(len(s), MaxNameLen))
	for _, r := range s { // invalid UTF-8 yields RuneError per byte: replaced too
		if b.Len() == MaxNameLen {
			break
		}
		if r < utf8.RuneSelf && nameByteOK(byte(r)) {
			b.WriteByte(byte(r))
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if strings.Trim(out, ".") == "" {
		return "", fmt.Errorf("name %q reported by the device cannot be used as a file name (it is empty or only dots)", abbreviate(s))
	}
	if out[0] == '.' || out[0] == '-' {
		out = "_" + out[1:]
	}
	return out, nil
}

func validFamily(family string) error {
	if IsFamily(family) {
		return nil
	}
	return fmt.Errorf("unknown device family %q: expected one of %q", abbreviate(family), Families)
}

// validExt checks a file extension such as "tar.gz" or "json" (a leading dot is
// tolerated and removed by the caller).
func validExt(ext string) error {
	if ext == "" {
		return errors.New("file extension must not be empty")
	}
	if err := ValidName(ext); err != nil {
		return fmt.Errorf("invalid file extension: %w", err)
	}
	return nil
}

// abbreviate shortens s to at most 80 bytes, cut on a character boundary.
func abbreviate(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 77
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ValidID checks a backup id: the UTC time its run started, to the millisecond,
// e.g. 20261125T101500.123Z. The error is written for a Terraform user.
func ValidID(id string) error {
	if validStamp(id) {
		return nil
	}
	return fmt.Errorf("%q is not a backup id: it looks like 20261125T101500.123Z (the UTC time the backup started)", abbreviate(id))
}

// FileKey is the key of a file a backup run stored, in its parts:
// <Family>/<Device>/<ID>-<Name>, where Name is <kind>.<ext>.
type FileKey struct {
	Family, Device, ID, Name string
}

func (k FileKey) String() string { return devicePrefix(k.Family, k.Device) + k.ID + "-" + k.Name }

// ParseFileKey splits the key of a stored file, checking each part as the store
// does when it writes one. The error says which part is wrong, for a Terraform user.
func ParseFileKey(key string) (FileKey, error) {
	if err := objstore.ValidKey(key); err != nil {
		return FileKey{}, err
	}
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return FileKey{}, fmt.Errorf("%q has %d parts separated by '/', a backup file's key has 3 (<family>/<name>/<file>)", abbreviate(key), len(parts))
	}
	if err := validFamily(parts[0]); err != nil {
		return FileKey{}, err
	}
	if err := ValidName(parts[1]); err != nil {
		return FileKey{}, fmt.Errorf("device %w", err)
	}
	file := parts[2]
	if err := ValidName(file); err != nil {
		return FileKey{}, fmt.Errorf("file %w", err)
	}
	if len(file) <= stampLen+1 || file[stampLen] != '-' || !validStamp(file[:stampLen]) {
		return FileKey{}, fmt.Errorf("file name %q does not start with a backup id and '-' (20261125T101500.123Z-)", file)
	}
	return FileKey{Family: parts[0], Device: parts[1], ID: file[:stampLen], Name: file[stampLen+1:]}, nil
}
