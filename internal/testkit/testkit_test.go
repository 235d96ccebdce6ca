package testkit_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// serveOK serves "ok" over TLS with a certificate that ca signed.
func serveOK(t *testing.T, ca *devicesim.CA) string {
	t.Helper()
	l, err := ca.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + l.Addr().String() + "/"
}

func TestHTTPClientTrustsOnlyTheGivenCA(t *testing.T) {
	t.Parallel()
	shared, other := testkit.CA(t), testkit.NewCA(t)
	if testkit.CA(t) != shared {
		t.Error("CA made a second CA: every test of a binary must share one")
	}
	hc := testkit.HTTPClient(t, shared.CertPEM)
	resp, err := hc.Get(serveOK(t, shared))
	if err != nil {
		t.Fatalf("a server of the trusted CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
	if _, err := hc.Get(serveOK(t, other)); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a server of another CA: got %v, want a certificate error", err)
	}
}

func TestFilesUnderListsEverythingButFolders(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if got := testkit.FilesUnder(t, filepath.Join(root, "missing")); len(got) != 0 {
		t.Errorf("a missing folder holds %v", got)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "a", "b", ".partial.tmp")
	link := filepath.Join(root, "a", "link")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	got := testkit.FilesUnder(t, root)
	slices.Sort(got)
	if want := []string{file, link}; !slices.Equal(got, want) {
		t.Errorf("FilesUnder = %v, want %v", got, want)
	}
}
