package provider

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

const envTrustRootsChild = "INFRABACKUP_TEST_TRUST_ROOTS_CHILD"

// TestAccCACertPEMIsTheOnlyRoot: with ca_cert_pem set, an iLO whose certificate
// chains to a CA of the system's trust store but not to ca_cert_pem is refused
// before any credential is sent, unless use_system_ca_roots = true. The system
// store is read once per process, so the test runs in a child process that sets
// SSL_CERT_FILE before anything reads it.
func TestAccCACertPEMIsTheOnlyRoot(t *testing.T) {
	if os.Getenv(envTrustRootsChild) != "" {
		t.Skip("runs in the child process only")
	}
	if os.Getenv(resource.EnvTfAcc) == "" {
		t.Skipf("Acceptance tests skipped unless env '%s' set", resource.EnvTfAcc)
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAccCACertPEMIsTheOnlyRootChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envTrustRootsChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestAccCACertPEMIsTheOnlyRootChild") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

func TestAccCACertPEMIsTheOnlyRootChild(t *testing.T) {
	if os.Getenv(envTrustRootsChild) == "" {
		t.Skip("started by TestAccCACertPEMIsTheOnlyRoot")
	}
	public := testkit.NewCA(t) // stands for a public CA the system trusts
	store := filepath.Join(t.TempDir(), "system-roots.pem")
	if err := os.WriteFile(store, public.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", store)
	t.Setenv("SSL_CERT_DIR", t.TempDir())

	e := newSimEnv(t) // its CA is the fleet's private CA, given as ca_cert_pem
	d := e.addILOSignedBy(public, "ilo-public-ca", nil)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(iloBackup(d)),
				ExpectError: errorRE(`certificate signed by unknown authority.*not trusted: set ca_cert_pem`),
			},
			{
				PreConfig: func() {
					if st := d.ILO.Stats.Snapshot(); st.Logins != 0 || st.TotalCalls() != 0 {
						t.Errorf("an untrusted iLO received requests: %+v", st)
					}
				},
				Config: hclConfig(e.provider(set("use_system_ca_roots", true)), iloBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iloRes, at("serial_number"), knownvalue.StringExact(d.ILO.Serial())),
				},
			},
		},
	})
}
