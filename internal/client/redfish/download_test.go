package redfish

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// closeDelimited serves backup downloads without Content-Length and unchunked: the
// body ends when the connection closes, as HTTP/1.0-style servers send it.
func closeDelimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(strings.ToLower(r.URL.Path), "/bkupdata/") {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&noLengthWriter{ResponseWriter: w}, r)
	})
}

type noLengthWriter struct{ http.ResponseWriter }

func (n *noLengthWriter) WriteHeader(code int) {
	if code == http.StatusOK {
		n.Header().Del("Content-Length")
		n.Header().Set("Transfer-Encoding", "identity") // net/http: close-delimited
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *noLengthWriter) Flush() { _ = http.NewResponseController(n.ResponseWriter).Flush() }

func (n *noLengthWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(n.ResponseWriter).Hijack()
}

// A download without Content-Length ends when the connection closes, which a cut
// (the iLO resetting, a proxy timing out) does too: it is checked against the size
// the iLO advertises for the file, so a cut-short download is an error and a whole
// one passes.
func TestCloseDelimitedDownload(t *testing.T) {
	const size = 1 << 20
	for _, tc := range []struct {
		name     string
		cutAfter int64
		password string
	}{
		{"whole", 0, ""},
		{"whole, password protected", 0, "Bk-pass"},
		{"cut short", 300_000, ""},
		{"cut short, password protected", 300_000, "Bk-pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, c := startWrappedSim(t, ilo.Config{Name: "cd", BackupSize: size, ResetDownloadAfter: tc.cutAfter}, closeDelimited)
			ctx := testCtx(t)
			var sum string
			var n int64
			err := client.With(ctx, c.Session(), func(ctx context.Context) error {
				svc, err := c.ReadBackupService(ctx)
				if err != nil {
					return err
				}
				sum, n, _, err = download(ctx, c, svc.BackupFileLocation, tc.password, io.Discard)
				return err
			})
			if tc.cutAfter > 0 {
				if err == nil {
					t.Fatalf("a download cut after %d of %d bytes read as complete", n, size)
				}
				if !strings.Contains(err.Error(), "advertises") {
					t.Errorf("error %q does not say the iLO advertised another size", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got := d.ServedBackups(); n != size || !containsValue(got, sum) {
					t.Fatalf("downloaded %d bytes with SHA-256 %s; served %v", n, sum, got)
				}
			}
			if d.OpenSessions() != 0 {
				t.Fatalf("%d sessions left open", d.OpenSessions())
			}
		})
	}
}

func containsValue(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}
