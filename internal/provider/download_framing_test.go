package provider

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// withoutLength serves backup downloads close-delimited: no Content-Length, not
// chunked, the body ends when the connection closes.
func withoutLength(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(strings.ToLower(r.URL.Path), "/bkupdata/") {
			w = &noLengthWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
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

// TestAccILOBackup_closeDelimitedDownloadCutShort: a download without Content-Length
// that the connection cuts short fails the backup and leaves nothing in the store;
// the same download whole is a backup.
func TestAccILOBackup_closeDelimitedDownloadCutShort(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILOWrapped("ilo-nolength", func(c *ilosim.Config) { c.ResetDownloadAfter = 100 << 10 }, withoutLength)
	config := e.config(iloBackup(d, set("trigger", "1")))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      config,
				ExpectError: errorRE(`download backup failed: the download broke after \d+ bytes.*advertises \d+ bytes.*cut short`),
			},
			{
				PreConfig: func() {
					assertOnlyFailureRecords(t, e.backupDir, "a download cut short", 1, "download backup")
					d.ILO.SetResetDownloadAfter(0)
				},
				Config:            config,
				ConfigStateChecks: []statecheck.StateCheck{fileOnDisk(iloRes, nil), servedBy(d, false)},
			},
		},
	})
}
