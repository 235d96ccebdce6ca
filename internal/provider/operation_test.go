package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// The tests of this file build the provider themselves, to give it what New does
// not: a fixed clock.

// factoriesWithClock serves a provider whose clock is now.
func factoriesWithClock(now func() time.Time) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"infrabackup": providerserver.NewProtocol6WithError(&infrabackupProvider{version: "test", now: now}),
	}
}

// TestAccILOBackup_providerClock: a backup is timed by the provider's clock. Its
// id, started_at and completed_at, and the name of its file, come from it.
func TestAccILOBackup_providerClock(t *testing.T) {
	ca, err := devicesim.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "clock-operator", "Clock-Pw-2030!"
	srv, err := ilosim.Start(ca, ilosim.Config{Name: "ilo-clock", Username: user, Password: password, BackupSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("CET", 3600))
	const stamp = "20300102T020405.678Z"
	backupDir := t.TempDir()
	config := fmt.Sprintf(`
provider "infrabackup" {
  backup_dir  = %q
  ca_cert_pem = <<-EOT
%s
  EOT
  ilo = {
    username = %q
    password = %q
    port     = %d
  }
}

resource "infrabackup_ilo_backup" "clock" {
  host    = %q
  name    = "clock"
  trigger = "once"
}
`, backupDir, strings.TrimSpace(string(ca.CertPEM)), user, password, srv.Port, srv.Host)
	res := "infrabackup_ilo_backup.clock"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factoriesWithClock(func() time.Time { return fixed }),
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(res, tfjsonpath.New("id"), knownvalue.StringExact("clock/"+stamp)),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("started_at"), knownvalue.StringExact("2030-01-02T02:04:05.678Z")),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("completed_at"), knownvalue.StringExact("2030-01-02T02:04:05.678Z")),
				statecheck.ExpectKnownValue(res, tfjsonpath.New("local_path"),
					knownvalue.StringRegexp(regexp.MustCompile(regexp.QuoteMeta("/ilo/clock/"+stamp+"-ilo-backup.bak")+"$"))),
			},
		}},
	})
}

// TestMissingCredentialsSayWhereToSetThem: every operation on a device checks its
// kind's credentials first, and says where to set them, before any device is
// contacted (no device exists here).
func TestMissingCredentialsSayWhereToSetThem(t *testing.T) {
	for _, env := range []string{EnvArubaUsername, EnvArubaPassword, EnvILOUsername, EnvILOPassword} {
		t.Setenv(env, "")
	}
	backupDir := t.TempDir()
	// The diagnostic's parts in the order terraform prints them, in whatever lines it
	// wraps them into.
	text := func(parts ...string) *regexp.Regexp {
		for i, p := range parts {
			words := strings.Fields(p)
			for j, w := range words {
				words[j] = regexp.QuoteMeta(w)
			}
			parts[i] = strings.Join(words, `\s+`)
		}
		return regexp.MustCompile(strings.Join(parts, `[\s\S]*`))
	}
	want := map[string]*regexp.Regexp{
		`resource "infrabackup_aruba_conductor_backup" "x" {
  host    = "conductor.invalid"
  trigger = "once"
}`: text("Missing Aruba credentials", "Set aruba.username and aruba.password in the provider block, or the ARUBA_USERNAME and ARUBA_PASSWORD environment variables."),
		`resource "infrabackup_ilo_backup" "x" {
  host    = "ilo.invalid"
  trigger = "once"
}`: text("Missing iLO credentials", "Set ilo.username and ilo.password in the provider block, or the ILO_USERNAME and ILO_PASSWORD environment variables."),
		`resource "infrabackup_ilo_custom_backup_restore" "x" {
  host    = "ilo.invalid"
  enabled = true
}`: text("Missing iLO credentials", "Set ilo.username and ilo.password in the provider block, or the ILO_USERNAME and ILO_PASSWORD environment variables."),
	}
	for res, re := range want {
		t.Run(strings.Trim(strings.Fields(res)[1], `"`), func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factoriesWithClock(time.Now),
				Steps: []resource.TestStep{{
					Config:      fmt.Sprintf("provider \"infrabackup\" {\n  backup_dir = %q\n}\n\n%s\n", backupDir, res),
					ExpectError: re,
				}},
			})
		})
	}
}
