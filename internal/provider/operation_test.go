package provider

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
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

// TestMissingCredentialsSayWhereToSetThem: every operation on a device checks its
// kind's credentials first, and says where to set them, before any device is
// contacted (none exists here). It changes the environment, so it does not run in
// parallel.
func TestMissingCredentialsSayWhereToSetThem(t *testing.T) {
	for _, env := range []string{EnvArubaUsername, EnvArubaPassword, EnvILOUsername, EnvILOPassword} {
		t.Setenv(env, "")
	}
	const (
		arubaMissing = `Missing Aruba credentials.*Set aruba.username and aruba.password in the provider block, or the ARUBA_USERNAME and ARUBA_PASSWORD environment variables\.`
		iloMissing   = `Missing iLO credentials.*Set ilo.username and ilo.password in the provider block, or the ILO_USERNAME and ILO_PASSWORD environment variables\.`
	)
	provider := &block{kind: "provider", labels: []string{"infrabackup"}, attrs: []attribute{{"backup_dir", t.TempDir()}}}
	for name, tc := range map[string]struct {
		resource *block
		want     string
	}{
		"aruba backup": {resourceBlock(arubaRes, set("host", "conductor.invalid"), set("trigger", "1")), arubaMissing},
		"ilo backup":   {resourceBlock(iloRes, set("host", "ilo.invalid"), set("trigger", "1")), iloMissing},
		"ilo flag":     {resourceBlock(flagRes, set("host", "ilo.invalid"), set("enabled", true)), iloMissing},
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
