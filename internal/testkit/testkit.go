// Package testkit holds what the tests of several packages need alike: the
// certificate authority the device simulators serve under, an HTTPS client that
// trusts it, a bound on calls that must not hang, and the list of files a run left
// on disk. It is imported by tests only.
package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// CA is the certificate authority of the simulated devices, made once per test
// binary (devicesim.SharedCA: the simulators' own tests use that one): a CA never
// changes once made, so every test may start simulators with it and trust them
// through its CertPEM.
func CA(t testing.TB) *devicesim.CA {
	t.Helper()
	return devicesim.SharedCA(t)
}

// NewCA makes a CA of the test's own, for tests about trust: a device whose
// certificate another CA signed.
func NewCA(t testing.TB) *devicesim.CA {
	t.Helper()
	c, err := devicesim.NewCA()
	if err != nil {
		t.Fatalf("make a CA: %v", err)
	}
	return c
}

// HTTPClient is an HTTPS client that trusts only the CA certificates in caPEM, for
// tests that talk to a simulator behind the code under test's back. Its idle
// connections are closed when the test ends.
func HTTPClient(t testing.TB, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA PEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// ReturnBound is how long Returns waits. A call that honours its context returns
// long before; one that ignores it never does, so the bound only has to separate
// the two.
const ReturnBound = 20 * time.Second

// Returns runs f and fails the test when f has not returned within ReturnBound;
// what names the call in the failure.
func Returns(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	timer := time.NewTimer(ReturnBound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not return within %s: it blocks", what, ReturnBound)
	}
}

// FilesUnder lists everything under root that is not a folder (regular files,
// temporary and partial ones included, links, pipes): what a run left behind. A
// root that does not exist holds nothing.
func FilesUnder(t testing.TB, root string) []string {
	t.Helper()
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list the files under %s: %v", root, err)
	}
	return out
}
