package objstore

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen bounds a key (S3 allows 1024 bytes, including the configured prefix).
const MaxKeyLen = 900

// maxSegmentLen is the longest segment: a file name on common file systems.
const maxSegmentLen = 255

func keyByteOK(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/'
}

// ValidKey checks a key before it becomes a file path or an object name: 1 to 900
// bytes of letters, digits, '.', '_', '-' and '/' separating non-empty segments,
// none starting with '.' or '-' (so no "..", no hidden or temporary names, nothing
// an option parser would take), no leading or trailing '/'. Callers pass keys built
// from sanitised names; this check makes sure a device-chosen name that slipped
// through never turns into a path.
func ValidKey(key string) error {
	if key == "" {
		return errors.New("object key must not be empty")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("object key %.40q... is %d bytes long; at most %d are allowed", key, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByteOK(key[i]) {
			r, _ := utf8.DecodeRuneInString(key[i:])
			return fmt.Errorf("object key %q contains %q at byte %d: only letters, digits, '.', '_', '-' and '/' are allowed", key, r, i+1)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := validSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

func validSegment(key, seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("object key %q has an empty segment (a leading, trailing or doubled '/')", key)
	case len(seg) > maxSegmentLen:
		return fmt.Errorf("object key %q has a segment of %d bytes; at most %d are allowed", key, len(seg), maxSegmentLen)
	case seg[0] == '.':
		return fmt.Errorf("object key %q has a segment starting with '.' (%q)", key, seg)
	case seg[0] == '-':
		return fmt.Errorf("object key %q has a segment starting with '-' (%q)", key, seg)
	}
	return nil
}

// ValidPrefix checks a listing prefix: empty (everything), or a key, or a key
// followed by '/'. Its last segment may be partial ("ilo/dev1/2026").
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("listing prefix: %w", err)
	}
	return nil
}
