package objstore

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	for _, key := range []string{"a", "ilo/dev1/20261125T101500.123Z-backup.bin", "aruba/mc-1.example/x_y.json", "a.b/c"} {
		if err := ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
	}
	for key, why := range map[string]string{
		"":                              "must not be empty",
		"/abs":                          "empty segment",
		"a/":                            "empty segment",
		"a//b":                          "empty segment",
		"..":                            "starting with '.'",
		"a/../b":                        "starting with '.'",
		"a/./b":                         "starting with '.'",
		".tmp-x":                        "starting with '.'",
		"-rf":                           "starting with '-'",
		`a\b`:                           `'\\'`,
		"a b":                           "' '",
		"a\x00":                         `'\x00'`,
		"é":                             "'é'",
		"a:b":                           "':'",
		strings.Repeat("a", 256):        "at most 255",
		strings.Repeat("a/", 450) + "b": "at most 900",
	} {
		err := ValidKey(key)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ValidKey(%.30q) = %v, want an error containing %q", key, err, why)
		}
	}
}

// FuzzValidKey: a key that passes ValidKey names a path strictly inside the root,
// unchanged by cleaning, whatever bytes a device made up.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", `a\..\b`, "a//b", ".", "x/.tmp-1", "ilo/dev1/2026.bin"} {
		f.Add(s)
	}
	root := filepath.FromSlash("/srv/backups")
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		p := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, p)
		if err != nil || rel != filepath.FromSlash(key) || strings.HasPrefix(rel, "..") {
			t.Fatalf("valid key %q leads to %s", key, p)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "" || seg[0] == '.' || seg[0] == '-' {
				t.Fatalf("valid key %q has segment %q", key, seg)
			}
		}
	})
}
