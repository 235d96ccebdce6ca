package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// How the tests here run
//
// Acceptance tests (TestAcc...) drive the real terraform binary, through
// terraform-plugin-testing, against the device simulators of internal/devicesim;
// they run when TF_ACC is set, as `make test` does, and are skipped otherwise.
// Each owns its simulators, ports and backup folder (newSimEnv), so they run in
// parallel (resource.ParallelTest). Tests that run terraform but contact no device
// use resource.UnitTest and always run. A test that must change the process's
// environment (t.Setenv) cannot run in parallel: it runs before the parallel ones.
//
//   - sim_test.go: the simulated devices a test owns, and its provider block
//   - config_test.go: configuration builders (blocks and options, no HCL text)
//   - checks_test.go: state checks that compare the state with the world
//   - sim_faults_test.go: handler wrappers that make a simulated iLO misbehave

// testProviderFactories serves the provider in the test process: terraform,
// started by the test harness, talks to it there.
var testProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"infrabackup": providerserver.NewProtocol6WithError(New("test")()),
}

func TestProviderSchemaIsValid(t *testing.T) {
	t.Parallel()
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

// TestHCLStringIsLiteral: the configuration builders write strings that terraform
// reads back as the same text, template sequences and escapes included.
func TestHCLStringIsLiteral(t *testing.T) {
	t.Parallel()
	const text = "quote \" backslash \\ ${not.a.reference} %{ if true }x%{ endif } $$ %% tab\tnewline\nend \u00e9"
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(&block{kind: "output", labels: []string{"text"}, attrs: []attribute{{"value", text}}}),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownOutputValue("text", knownvalue.StringExact(text)),
			},
		}},
	})
}
