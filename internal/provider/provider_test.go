package provider

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// testProviderFactories runs the provider in the test process, so acceptance tests
// drive the real terraform binary against the in-process device simulators.
var testProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"infrabackup": providerserver.NewProtocol6WithError(New("test")()),
}

// TestMain makes acceptance tests part of the normal `go test`: they need the
// terraform binary, not a flag someone has to remember. A missing binary fails loudly.
func TestMain(m *testing.M) {
	var cliConfig string
	if os.Getenv("TF_ACC") == "" {
		os.Setenv("TF_ACC", "1")
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		tf, err := exec.LookPath("terraform")
		if err != nil {
			fmt.Fprintln(os.Stderr, "acceptance tests need the terraform binary on PATH (or TF_ACC_TERRAFORM_PATH); none found")
			os.Exit(1)
		}
		os.Setenv("TF_ACC_TERRAFORM_PATH", tf)
	}
	os.Setenv("CHECKPOINT_DISABLE", "1")
	if os.Getenv("TF_CLI_CONFIG_FILE") == "" {
		// An empty CLI configuration: nothing from the developer's ~/.terraformrc
		// (plugin caches, mirrors) changes what the tests exercise.
		f, err := os.CreateTemp("", "terraformrc-*")
		if err == nil {
			f.Close()
			cliConfig = f.Name()
			os.Setenv("TF_CLI_CONFIG_FILE", f.Name())
		}
	}
	// The simulators speak only to loopback; make sure no proxy setting diverts them.
	os.Setenv("NO_PROXY", "127.0.0.1,localhost,::1")
	code := m.Run()
	if cliConfig != "" {
		os.Remove(cliConfig)
	}
	os.Exit(code)
}

func TestProviderSchemaIsValid(t *testing.T) {
	// Framework-level schema validation runs on GetProviderSchema: any invalid
	// attribute combination (e.g. a write-only computed attribute) fails here.
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(t.Context(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("schema diagnostic: %s: %s", d.Summary, d.Detail)
	}
	for _, name := range []string{"infrabackup_ilo_custom_backup_restore", "infrabackup_ilo_restore"} { // resources without a data source
		if _, ok := resp.ResourceSchemas[name]; !ok {
			t.Errorf("resource %s is not registered", name)
		}
	}
	for _, name := range []string{"infrabackup_aruba_conductor_backup", "infrabackup_ilo_backup"} {
		if _, ok := resp.ResourceSchemas[name]; !ok {
			t.Errorf("resource %s is not registered", name)
		}
		if _, ok := resp.DataSourceSchemas[name]; !ok {
			t.Errorf("data source %s is not registered", name)
		}
	}
}
