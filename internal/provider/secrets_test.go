package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// TestAccArubaBackup_secretsNeverLeak runs a full backup with SCP under TF_LOG=trace
// and checks that neither the state nor the log holds a password or a session token.
func TestAccArubaBackup_secretsNeverLeak(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)

	// Secrets come from the environment, as in a CI pipeline: the Aruba credentials
	// through the provider's env fallbacks, the SCP password through an ephemeral
	// variable. (A literal in the test's HCL would be logged by the test harness
	// itself, which says nothing about the provider.)
	t.Setenv(EnvArubaUsername, testArubaUser)
	t.Setenv(EnvArubaPassword, testArubaPass)
	t.Setenv("TF_VAR_scp_password", testSCPPass)

	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-secrets", nil)
	config := regexp.MustCompile(`(?s)  aruba = \{.*?\n  \}\n`).ReplaceAllString(arubaConfig(e, c, "1", e.scpBlock()), "")
	config = strings.Replace(config, fmt.Sprintf("%q", testSCPPass), "var.scp_password", 1) + `
variable "scp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
`
	if strings.Contains(config, testArubaPass) || strings.Contains(config, testSCPPass) {
		t.Fatalf("the test configuration must not hold the secrets literally:\n%s", config)
	}
	var stateDump string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: func(s *terraform.State) error {
				stateDump = s.String()
				for _, rs := range s.RootModule().Resources {
					for k, v := range rs.Primary.Attributes {
						stateDump += "\n" + k + "=" + v
					}
				}
				if !strings.Contains(stateDump, "files.2.sha256") {
					return fmt.Errorf("state dump does not hold the backup's attributes")
				}
				return nil
			},
		}},
	})
	logData, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(logData)
	// The log must really hold the provider's own device traffic before its absence
	// of secrets means anything.
	for _, want := range []string{"infrabackup.client: request done", "/v1/api/login", "copy_flash_scp"} {
		if !strings.Contains(log, want) {
			t.Fatalf("the trace log lacks %q: it does not capture the provider's logs", want)
		}
	}
	secrets := map[string]string{"aruba password": testArubaPass, "scp password": testSCPPass}
	for i, tok := range c.Conductor.IssuedTokens() {
		secrets[fmt.Sprintf("session token %d", i)] = tok
	}
	if len(secrets) < 4 {
		t.Fatalf("expected the conductor to have issued a session id and a CSRF token, got %d secrets", len(secrets))
	}
	for what, secret := range secrets {
		if strings.Contains(log, secret) {
			t.Errorf("the trace log contains the %s", what)
		}
		if strings.Contains(stateDump, secret) {
			t.Errorf("the state contains the %s", what)
		}
	}
	if m := regexp.MustCompile(`UIDARUBA=[0-9a-f]`).FindString(log); m != "" {
		t.Errorf("the trace log contains an unmasked UIDARUBA parameter")
	}
}
