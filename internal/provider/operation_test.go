package provider

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// TestAccILOBackup_providerClock: a backup is timed by the provider's clock (the
// provider's now, which New sets to time.Now): its id, started_at and completed_at,
// and the name of its file come from it, in UTC.
func TestAccILOBackup_providerClock(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-clock", nil)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("CET", 3600))
	const stamp = "20300102T020405.678Z"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"infrabackup": providerserver.NewProtocol6WithError(&infrabackupProvider{version: "test", now: func() time.Time { return fixed }}),
		},
		Steps: []resource.TestStep{{
			Config: e.config(iloBackup(d, set("name", "clock"))),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(iloRes, at("id"), knownvalue.StringExact("clock/"+stamp)),
				statecheck.ExpectKnownValue(iloRes, at("started_at"), knownvalue.StringExact("2030-01-02T02:04:05.678Z")),
				statecheck.ExpectKnownValue(iloRes, at("completed_at"), knownvalue.StringExact("2030-01-02T02:04:05.678Z")),
				statecheck.ExpectKnownValue(iloRes, at("local_path"),
					knownvalue.StringRegexp(regexp.MustCompile(regexp.QuoteMeta("/ilo/clock/"+stamp+"-ilo-backup.bak")+"$"))),
			},
		}},
	})
}

// TestMissingCredentialsSayWhereToSetThem: every operation on a device resolves its
// credentials first, field by field the resource's own or the provider's, and says
// which device lacks which and where to set it, before any device is contacted (none
// exists here). It changes the environment, so it does not run in parallel.
func TestMissingCredentialsSayWhereToSetThem(t *testing.T) {
	for _, env := range []string{EnvArubaUsername, EnvArubaPassword, EnvILOUsername, EnvILOPassword} {
		t.Setenv(env, "")
	}
	const (
		arubaMissing = `Missing Aruba credentials.*The conductor conductor.invalid has no user name \(set username on this resource, aruba.username in the provider block, or the ARUBA_USERNAME environment variable\) and no password \(set password_wo on this resource, aruba.password in the provider block, or the ARUBA_PASSWORD environment variable\)\.`
		iloMissing   = `Missing iLO credentials.*The iLO ilo.invalid has no user name \(set username on this resource, ilo.username in the provider block, or the ILO_USERNAME environment variable\) and no password \(set password_wo on this resource, ilo.password in the provider block, or the ILO_PASSWORD environment variable\)\.`
		// The resource's own username stands in for the provider's: only the password is missing.
		iloNoPassword = `Missing iLO credentials.*The iLO ilo.invalid has no password \(set password_wo on this resource, ilo.password in the provider block, or the ILO_PASSWORD environment variable\)\.`
	)
	provider := &block{kind: "provider", labels: []string{"infrabackup"}, attrs: []attribute{{"backup_dir", t.TempDir()}}}
	for name, tc := range map[string]struct {
		resource *block
		want     string
	}{
		"aruba backup":     {resourceBlock(arubaRes, set("host", "conductor.invalid"), set("trigger", "1")), arubaMissing},
		"ilo backup":       {resourceBlock(iloRes, set("host", "ilo.invalid"), set("trigger", "1")), iloMissing},
		"ilo flag":         {resourceBlock(flagRes, set("host", "ilo.invalid"), set("enabled", true)), iloMissing},
		"ilo own username": {resourceBlock(iloRes, set("host", "ilo.invalid"), set("trigger", "1"), set("username", "own")), iloNoPassword},
		"ilo restore":      {resourceBlock(restoreRes, set("host", "ilo.invalid"), set("backup_file", "/nonexistent.bak")), iloMissing},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      hclConfig(provider, tc.resource),
					ExpectError: errorRE(tc.want),
				}},
			})
		})
	}
}

// TestMissingCredentials_withoutOwnArguments: an operation without credential
// arguments (a data source, whose arguments are kept in state, where no password
// may go) is told to set only the provider's.
func TestMissingCredentials_withoutOwnArguments(t *testing.T) {
	t.Setenv(EnvILOUsername, "")
	t.Setenv(EnvILOPassword, "")
	d := &providerData{credentials: map[string]deviceCredentials{"ilo": iloKind.credentials(&credentialsModel{Username: types.StringValue("u")})}}
	var diags diag.Diagnostics
	if _, ok := iloKind.checkCredentials(d, "ilo1", ownCredentials{}, &diags); ok || !diags.HasError() {
		t.Fatal("credentials without a password were accepted")
	}
	want := "The iLO ilo1 has no password (set ilo.password in the provider block, or the ILO_PASSWORD environment variable)."
	if got := diags[0].Detail(); got != want {
		t.Errorf("detail = %q, want %q", got, want)
	}
	diags = nil
	c, ok := iloKind.checkCredentials(d, "ilo1", ownCredentials{password: "own", passwordArg: "password_wo", on: "this resource"}, &diags)
	if !ok || c.username != "u" || c.password != "own" {
		t.Errorf("own password with the provider's user: got ok=%t user=%q, diags %v", ok, c.username, diags)
	}
}
