package backupstore

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// readAllCounting reads rc to its end in 32 KiB reads and returns how many bytes
// were handed over before the first error.
func readAllCounting(rc io.Reader) (int, []byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Len(), out.Bytes(), nil
		}
		if err != nil {
			return out.Len(), out.Bytes(), err
		}
	}
}

func TestOpenFileVerifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		data := randBytes(6<<20+17, 5) // a multipart object on S3
		r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
		if err != nil {
			t.Fatal(err)
		}
		f, err := r.WriteFile(bg, "backup", "bak", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddFile(File{Kind: "copy", Location: "scp://u@h/x.bak"}); err != nil {
			t.Fatal(err)
		}
		b, err := r.Commit(bg, "h", 443, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		// Another runner finds it by key and reads it back.
		other := ts.second(t)
		_, found, err := other.FindByKey(bg, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, other, found); !bytes.Equal(got, data) {
			t.Fatal("OpenFile returned other bytes")
		}
		if _, err := ts.OpenFile(bg, b.Files[1]); err == nil || !strings.Contains(err.Error(), "remote copy") {
			t.Errorf("OpenFile(remote copy) = %v", err)
		}
		bad := f
		bad.SHA256 = "abc"
		if _, err := ts.OpenFile(bg, bad); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("OpenFile with a bad SHA-256 = %v", err)
		}

		for _, tc := range []struct {
			name string
			at   int
		}{{"a byte in the middle", len(data) / 2}, {"the last byte", len(data) - 1}, {"the first byte", 0}} {
			t.Run(tc.name, func(t *testing.T) {
				tampered := bytes.Clone(data)
				tampered[tc.at] ^= 0x01
				ts.put(t, f.Key, tampered) // behind the store's back, same size
				rc, err := ts.OpenFile(bg, f)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				n, _, err := readAllCounting(rc)
				if err == nil || !strings.Contains(err.Error(), "changed or damaged") || !strings.Contains(err.Error(), f.SHA256) ||
					!strings.Contains(err.Error(), f.StoreLocation) {
					t.Fatalf("reading a tampered file = %v, want an error naming it and its recorded SHA-256", err)
				}
				if n >= len(data) {
					t.Errorf("%d of %d bytes were handed over: the last ones must be withheld", n, len(data))
				}
				if _, err := rc.Read(make([]byte, 10)); err == nil {
					t.Error("a read after the failure succeeded")
				}
			})
		}

		ts.put(t, f.Key, append(bytes.Clone(data), 'x'))
		if _, err := ts.OpenFile(bg, f); err == nil || !strings.Contains(err.Error(), "holds 6291474 bytes but its backup record says 6291473") {
			t.Errorf("OpenFile of a longer file = %v", err)
		}
		ts.remove(t, f.Key)
		if _, err := ts.OpenFile(bg, f); !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), f.StoreLocation) {
			t.Errorf("OpenFile of a deleted file = %v", err)
		}
	})
}
