package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// The system's trust store is read once per process, so the tests that give it a
// "public" CA run in a child process whose SSL_CERT_FILE names that CA.
const (
	envRootsChild   = "INFRABACKUP_TEST_ROOTS_CHILD"
	envPrivateCAPEM = "INFRABACKUP_TEST_PRIVATE_CA"
	envDeviceURL    = "INFRABACKUP_TEST_DEVICE_URL"
)

// TestCACertPEMIsTheOnlyRoot: with ca_cert_pem set, a device certificate signed by a
// CA in the system's trust store (a public CA, say) but not in ca_cert_pem is refused,
// unless the system roots are opted in.
func TestCACertPEMIsTheOnlyRoot(t *testing.T) {
	if os.Getenv(envRootsChild) != "" {
		t.Skip("runs in the child process only")
	}
	public := testkit.NewCA(t)  // in the system trust store of the child
	private := testkit.NewCA(t) // the fleet's own CA, in ca_cert_pem
	l, err := public.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	systemStore := filepath.Join(t.TempDir(), "system-roots.pem")
	if err := os.WriteFile(systemStore, public.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCACertPEMIsTheOnlyRootChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		envRootsChild+"=1",
		"SSL_CERT_FILE="+systemStore,
		"SSL_CERT_DIR="+t.TempDir(),
		envPrivateCAPEM+"="+string(private.CertPEM),
		envDeviceURL+"=https://"+l.Addr().String()+"/",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
	t.Logf("child process:\n%s", out)
}

func TestCACertPEMIsTheOnlyRootChild(t *testing.T) {
	if os.Getenv(envRootsChild) == "" {
		t.Skip("started by TestCACertPEMIsTheOnlyRoot")
	}
	url := os.Getenv(envDeviceURL)
	get := func(cfg client.Config) error {
		c := newClient(t, cfg)
		resp, err := do(t, c, context.Background(), http.MethodGet, url, "")
		if err != nil {
			return err
		}
		if body := readAll(t, resp); body != "ok" {
			t.Fatalf("body %q", body)
		}
		return nil
	}

	// The system store holds the device's CA: without ca_cert_pem it is trusted.
	if err := get(fastConfig()); err != nil {
		t.Fatalf("the system trust store is not in effect, the test proves nothing: %v", err)
	}

	cfg := fastConfig()
	cfg.CACertPEM = os.Getenv(envPrivateCAPEM)
	err := get(cfg)
	var te *client.TLSError
	if !errors.As(err, &te) {
		t.Fatalf("with ca_cert_pem set, a certificate from a CA outside it must be refused as untrusted; got %v", err)
	}

	cfg.UseSystemRoots = true
	if err := get(cfg); err != nil {
		t.Fatalf("with the system roots opted in, the system's CA must be trusted too: %v", err)
	}
}
