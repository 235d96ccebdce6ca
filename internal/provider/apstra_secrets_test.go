package provider

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

// TestAccApstraBackup_secretsNeverLeak runs an Apstra backup with a snapshot and a
// token that expires on the way under TF_LOG=trace, and checks that neither the
// state nor the log holds the API or SSH password, any token the server issued or
// configuration text.
func TestAccApstraBackup_secretsNeverLeak(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv(EnvApstraUsername, testApstraUser)
	t.Setenv(EnvApstraPassword, testApstraPass)
	// The SSH account's own password, so that a leak of it is told apart from the API's.
	const sshPass = "Apstra-SSH sudo pw#7"
	t.Setenv("TF_VAR_ssh_password", sshPass)

	e := newSimEnv(t)
	srv := e.addApstra("apstra-secrets", threeBlueprints)
	a := srv.Apstra
	ssh, err := a.StartSSH(apstrasim.SSHConfig{RootDir: t.TempDir(), Username: testApstraUser, Password: sshPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssh.Close() })
	config := hclConfig(e.provider(unset("apstra")), ephemeralVariable("ssh_password"),
		apstraBackup(srv, apstraSnapshot(ssh, set("password_wo", expr("var.ssh_password")))))
	if strings.Contains(config, testApstraPass) || strings.Contains(config, sshPass) {
		t.Fatalf("the test configuration must not hold the password literally:\n%s", config)
	}
	var stateDump string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() { a.ExpireNextCalls(1) }, // the first call after login: one more token
			Config:    config,
			Check:     captureState(&stateDump, "blueprints_backed_up.2.devices.3.sha256"),
		}},
	})
	log := readTraceLog(t, logFile, "infrabackup.client: request done", "/api/aaa/login", "config-rendering")
	secrets := map[string]string{"password": testApstraPass, "SSH password": sshPass}
	for i, tok := range a.IssuedTokens() {
		secrets[fmt.Sprintf("token %d", i)] = tok
		secrets[fmt.Sprintf("token %d's signature", i)] = tok[strings.LastIndex(tok, ".")+1:]
	}
	if len(secrets) != 6 {
		t.Fatalf("expected the server to have issued two tokens, got %d secrets", len(secrets))
	}
	assertNamedAbsent(t, log, stateDump, secrets)
	// Nor any deployed configuration's text.
	info := a.Blueprints()[0]
	cfg, _ := a.DeployedConfig(info.ID, info.Managed[0])
	for what, n := range map[string]string{"aggregated-devices line": "aggregated-devices {", "BGP line": "multipath multiple-as",
		"revision comment": "/* configuration revision 0 */"} {
		switch {
		case !strings.Contains(cfg, n):
			t.Fatalf("the simulator's configuration lacks %q: the test searches the state and log for it", n)
		case strings.Contains(log, n):
			t.Errorf("the trace log holds the configuration's %s", what)
		case strings.Contains(stateDump, n):
			t.Errorf("the state holds the configuration's %s", what)
		}
	}
	if len(a.Snapshots()) != 1 {
		t.Errorf("aos_backup ran %d times, want once", len(a.Snapshots()))
	}
}
