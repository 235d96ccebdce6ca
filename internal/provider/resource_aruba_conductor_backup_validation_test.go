package provider

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccArubaBackup_badArgumentsFailAtPlan: bad input is refused by terraform plan,
// before any device is contacted.
func TestAccArubaBackup_badArgumentsFailAtPlan(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc", nil)
	cases := map[string]struct {
		resource string
		want     string
	}{
		"empty host": {`host = ""
  trigger = "1"`, `the host is empty`},
		"URL as host": {`host = "https://mc1:4343"
  trigger = "1"`, `is a URL`},
		"port 0": {`host = "127.0.0.1"
  port = 0
  trigger = "1"`, `port value must be between 1 and 65535`},
		"flash backup without scp": {`host = "127.0.0.1"
  trigger = "1"
  flash_backup = true`, `flash_backup needs an scp block`},
		"bad name": {`host = "127.0.0.1"
  trigger = "1"
  name = "../etc"`, `Invalid name`},
		"unknown SCP host": {`host = "127.0.0.1"
  trigger = "1"
  scp = {
    host = "no-such-scp-host.invalid"
    username = "u"
    password_wo = "p"
    insecure_ignore_host_key = true
  }`, `Unknown SCP host`},
		"no host key": {`host = "127.0.0.1"
  trigger = "1"
  scp = {
    host = "127.0.0.1"
    username = "u"
    password_wo = "p"
  }`, `host key is not known`},
		"remote dir escapes": {`host = "127.0.0.1"
  trigger = "1"
  scp = {
    host = "127.0.0.1"
    username = "u"
    password_wo = "p"
    remote_dir = "../../etc"
    insecure_ignore_host_key = true
  }`, `must not contain ".."`},
		"bad request timeout": {`host = "127.0.0.1"
  trigger = "1"`, `is not a duration`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			provider := e.providerConfig()
			if name == "bad request timeout" {
				provider = strings.Replace(provider, `max_retries`, `request_timeout = "soon"
  max_retries`, 1)
			}
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      provider + "\nresource \"infrabackup_aruba_conductor_backup\" \"mc\" {\n  " + tc.resource + "\n}\n",
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(wrapTolerant(tc.want)),
				}},
			})
		})
	}
	if n := c.Conductor.Stats.Snapshot().TotalCalls(); n != 0 {
		t.Errorf("plan-time refusals contacted the device %d times", n)
	}
}

// TestAccArubaBackup_untrustedCertificate: without ca_cert_pem the device's
// self-signed certificate is refused, and the error says how to fix it.
func TestAccArubaBackup_untrustedCertificate(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc", nil)
	cfg := regexp.MustCompile(`(?s)  ca_cert_pem   = <<-EOT.*?  EOT\n`).ReplaceAllString(arubaConfig(e, c, "1", ""), "")
	if strings.Contains(cfg, "ca_cert_pem") {
		t.Fatal("could not remove ca_cert_pem from the configuration")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)certificate.*not\s+trusted.*set\s+ca_cert_pem.*insecure\s+=\s+true`),
		}},
	})
}
