package backupstore

import (
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// FuzzSanitizeName: whatever a device reports, the result is a safe single path
// component that ValidName accepts.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "../x", "a/b", "\\x", "mc-01.example.com", "café",
		"\x00", "a\xffb", "-rf", ".hidden", strings.Repeat("z", 100), strings.Repeat("é", 40), "C:\\Windows", " ", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := SanitizeName(in)
		if err != nil {
			if strings.Trim(out, ".") != "" {
				t.Fatalf("error %v with non-empty output %q", err, out)
			}
			return
		}
		if verr := ValidName(out); verr != nil {
			t.Fatalf("SanitizeName(%q) = %q, rejected by ValidName: %v", in, out, verr)
		}
		if out == "." || out == ".." || strings.ContainsAny(out, "/\\\x00") || filepath.Base(out) != out || !filepath.IsLocal(out) {
			t.Fatalf("SanitizeName(%q) = %q is not a single safe component", in, out)
		}
		if again, err := SanitizeName(out); err != nil || again != out {
			t.Fatalf("SanitizeName is not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}

// FuzzParseSidecar: parsing never panics, and whatever it accepts is consistent
// with where the sidecar lives and survives a write/read round trip.
func FuzzParseSidecar(f *testing.F) {
	const id = "20261125T101500.123Z"
	good := Backup{
		Family: "aruba", Device: "mc1", Host: "10.0.0.1", Port: 4343, ID: id,
		StartedAt:   time.Date(2026, 11, 25, 10, 15, 0, 123e6, time.UTC),
		CompletedAt: time.Date(2026, 11, 25, 10, 16, 0, 0, time.UTC),
		Files: []File{
			{Kind: "flash", Key: "aruba/mc1/" + id + "-flash.tar.gz", Size: 10, SHA256: strings.Repeat("ab", 32)},
			{Kind: "config", Key: "aruba/mc1/" + id + "-config.cfg", Path: "/backups/aruba/mc1/" + id + "-config.cfg", Size: 3, SHA256: strings.Repeat("cd", 32)},
			{Kind: "flash-remote", Location: "scp://u@10.9.9.9/x/flash.tar.gz", Size: 10},
		},
		Attributes: map[string]string{"serial": "CN1"},
	}
	data, err := encodeSidecar(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format_version":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"format_version":1,"family":"aruba","device":"mc1","id":"20261125T101500.123Z","started_at":"2026-11-25T10:15:00Z","completed_at":"2026-11-25T10:15:00Z","files":[{"kind":"x","path":"/etc/passwd","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"format_version":1,"family":"aruba","device":"mc1","id":"20261125T101500.123Z","started_at":"2026-11-25T10:15:00Z","completed_at":"2026-11-25T10:15:00Z","files":[{"kind":"x","location":"scp://u:pw@h/f","size":1,"sha256":""}]}`))
	f.Add([]byte(`{"format_version":1,"family":"aruba","device":"mc1","id":"20261125T101500.123Z","started_at":"2026-11-25T10:15:00Z","completed_at":"2026-11-25T10:15:00Z","files":[{"kind":"x","key":"aruba/mc1/../../x","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"format_version":1,"family":"aruba","device":"mc1","id":"20261125T101500.123Z","started_at":"2026-11-25T10:15:00Z","completed_at":"2026-11-25T10:15:00Z","files":[{"kind":"x","path":"/backups/aruba/mc1/20261125T101500.123Z-x.bin","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"format_version":1,"family":"aruba","device":"mc1","id":"20261125T101500.123Z","started_at":"2026-11-25T10:15:00Z","completed_at":"2026-11-25T10:15:00Z","files":[{"kind":"../x","path":"/backups/aruba/mc1/20261125T101500.123Z-..%2fx","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add(append(append([]byte{}, data...), []byte(`{}`)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseSidecar(data, "aruba", "mc1", id)
		if err != nil {
			return
		}
		if b.Family != "aruba" || b.Device != "mc1" || b.ID != id || len(b.Files) == 0 || b.Attributes == nil {
			t.Fatalf("accepted an inconsistent record: %+v", b)
		}
		for _, fl := range b.Files {
			if ValidName(fl.Kind) != nil {
				t.Fatalf("accepted kind %q", fl.Kind)
			}
			if fl.Path != "" || fl.StoreLocation != "" {
				t.Fatalf("parsing set a path or location the store did not resolve: %+v", fl)
			}
			if fl.Key != "" {
				if path.Dir(fl.Key) != "aruba/mc1" || !strings.HasPrefix(path.Base(fl.Key), id+"-") || objstore.ValidKey(fl.Key) != nil {
					t.Fatalf("accepted key %q outside the run", fl.Key)
				}
			} else if strings.Contains(fl.Location, ":pw@") || fl.Location == "" {
				t.Fatalf("accepted location %q", fl.Location)
			}
		}
		again, err := encodeSidecar(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := parseSidecar(again, "aruba", "mc1", id)
		if err != nil {
			t.Fatalf("re-encoded record does not parse: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", b, b2)
		}
	})
}
