package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccArubaBackup_badArgumentsFailAtPlan: bad input is refused by terraform plan,
// before the conductor the resource names is contacted.
func TestAccArubaBackup_badArgumentsFailAtPlan(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	c := e.addConductor("mc", nil)
	t.Cleanup(func() { // after every case
		if n := c.Conductor.Stats.Snapshot().TotalCalls(); n != 0 {
			t.Errorf("plan-time refusals contacted the conductor %d times", n)
		}
	})
	scp := func(opts ...option) option {
		return set("scp", object(append([]option{set("host", "127.0.0.1"), set("username", "u"), set("password_wo", "p")}, opts...)...))
	}
	for name, tc := range map[string]struct {
		provider []option
		resource []option
		want     string
	}{
		"empty host":               {resource: []option{set("host", "")}, want: `the host is empty`},
		"URL as host":              {resource: []option{set("host", "https://mc1:4343")}, want: `is a URL`},
		"port 0":                   {resource: []option{set("port", 0)}, want: `port value must be between 1 and 65535`},
		"flash backup without scp": {resource: []option{set("flash_backup", true)}, want: `flash_backup needs an scp block`},
		"bad name":                 {resource: []option{set("name", "../etc")}, want: `Invalid name`},
		"unknown SCP host": {
			resource: []option{scp(set("host", "no-such-scp-host.invalid"), set("insecure_ignore_host_key", true))},
			want:     `Unknown SCP host`,
		},
		"no host key": {resource: []option{scp()}, want: `host key is not known`},
		"remote dir escapes": {
			resource: []option{scp(set("remote_dir", "../../etc"), set("insecure_ignore_host_key", true))},
			want:     `must not contain ".."`,
		},
		"bad request timeout": {provider: []option{set("request_timeout", "soon")}, want: `is not a duration`},
	} {
		t.Run(name, func(t *testing.T) {
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      hclConfig(e.provider(tc.provider...), arubaBackup(c, tc.resource...)),
					PlanOnly:    true,
					ExpectError: errorRE(tc.want),
				}},
			})
		})
	}
}

// TestAccArubaBackup_untrustedCertificate: without ca_cert_pem the device's
// self-signed certificate is refused, and the error says how to fix it.
func TestAccArubaBackup_untrustedCertificate(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      hclConfig(e.provider(unset("ca_cert_pem")), arubaBackup(c)),
			ExpectError: errorRE(`certificate.*not trusted.*set ca_cert_pem.*insecure = true`),
		}},
	})
}
