package provider

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

// threeConductors declares backups of three conductors; bad is the index of the one
// expected to fail, whose resource gets badExtra.
func threeConductors(e *simEnv, badExtra string, bad int) string {
	cfg := e.providerConfig()
	for i, c := range e.conductors {
		extra := ""
		if i == bad {
			extra = badExtra
		}
		cfg += fmt.Sprintf(`
resource "infrabackup_aruba_conductor_backup" "mc%d" {
  host    = %q
  port    = %d
  name    = "mc%d"
  trigger = "1"
%s
}
`, i, c.Host, c.Port, i, extra)
	}
	return cfg
}

// TestAccArubaBackup_oneOfThreeFails: the failing conductor errors with its address,
// the step and the device's words; the two others complete; no session stays open.
func TestAccArubaBackup_oneOfThreeFails(t *testing.T) {
	cases := []struct {
		name     string
		tweak    func(*arubasim.Config)
		prepare  func(e *simEnv, bad *arubasim.Server)
		badExtra func(e *simEnv) string
		want     string // regexp the error must match, after the device address
		after    func(t *testing.T, bad *arubasim.Server)
	}{
		{
			name:  "bad credentials",
			tweak: func(c *arubasim.Config) { c.Password = "another-password" },
			want:  `log in failed.*authentication failed.*check the aruba username and password`,
		},
		{
			name:  "bad credentials answered with 401",
			tweak: func(c *arubasim.Config) { c.Password = "another-password"; c.FailedLoginHTTP401 = true },
			want:  `log in failed \(HTTP 401\)`,
		},
		{
			name:    "session limit",
			tweak:   func(c *arubasim.Config) { c.MaxSessions = 1 },
			prepare: func(e *simEnv, bad *arubasim.Server) { occupySession(e, bad) },
			want:    `log in failed.*Maximum number of sessions reached \(1\).*at most 64`,
			after:   func(_ *testing.T, bad *arubasim.Server) { bad.Conductor.ExpireAllSessions() },
		},
		{
			name:    "session keeps expiring (HTTP 200 with status 1)",
			tweak:   func(c *arubasim.Config) { c.ExpiryStyle = arubasim.ExpiryStatus },
			prepare: func(_ *simEnv, bad *arubasim.Server) { bad.Conductor.ExpireNextCalls(2) },
			want:    `"show running-config" failed.*Invalid authentication token`,
		},
		{
			name:    "session keeps expiring (HTTP 401)",
			tweak:   func(c *arubasim.Config) { c.ExpiryStyle = arubasim.Expiry401 },
			prepare: func(_ *simEnv, bad *arubasim.Server) { bad.Conductor.ExpireNextCalls(2) },
			want:    `"show running-config" failed \(HTTP 401\).*no longer valid`,
		},
		{
			name:    "SCP server refuses the conductor",
			prepare: func(e *simEnv, _ *arubasim.Server) { e.sftp.SetRefuseAll(true) },
			badExtra: func(e *simEnv) string {
				return strings.Replace(e.scpBlock(), "host_key ", "verify = false\n    host_key ", 1)
			},
			want: `copy infrabackup-running.cfg to SCP server failed`,
			after: func(t *testing.T, bad *arubasim.Server) {
				for name := range bad.Conductor.FlashFiles() {
					if strings.Contains(name, ".tar") {
						t.Errorf("tar file %s left on flash after a failed upload", name)
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.startSFTP()
			e.addConductor("good-a", nil)
			bad := e.addConductor("bad", tc.tweak)
			e.addConductor("good-b", nil)
			if tc.prepare != nil {
				tc.prepare(e, bad)
			}
			extra := ""
			if tc.badExtra != nil {
				extra = tc.badExtra(e)
			}
			addr := regexp.QuoteMeta(fmt.Sprintf("%s:%d", bad.Host, bad.Port))
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      threeConductors(e, extra, 1),
					ExpectError: regexp.MustCompile(`(?s)Backup of conductor 127\.0\.0\.1 failed.*conductor ` + addr + `: ` + wrapTolerant(tc.want)),
				}},
			})
			if tc.after != nil {
				tc.after(t, bad)
			}
			store := mustStore(t, e.backupDir)
			for _, name := range []string{"mc0", "mc2"} {
				if _, err := store.Latest(t.Context(), backupstore.FamilyAruba, name); err != nil {
					t.Errorf("%s must complete although another conductor failed: %v", name, err)
				}
			}
			if _, err := store.Latest(t.Context(), backupstore.FamilyAruba, "mc1"); err == nil {
				t.Errorf("the failed conductor must leave no complete backup")
			}
			assertNoStrayFiles(t, filepath.Join(e.backupDir, "aruba", "mc1"))
		})
	}
}

// TestAccArubaBackup_expiredOnceRelogsIn: one expiry is survived by one re-login.
func TestAccArubaBackup_expiredOnceRelogsIn(t *testing.T) {
	for _, style := range []string{arubasim.ExpiryStatus, arubasim.Expiry401} {
		t.Run(style, func(t *testing.T) {
			e := newSimEnv(t)
			c := e.addConductor("mc", func(cfg *arubasim.Config) { cfg.ExpiryStyle = style })
			c.Conductor.ExpireNextCalls(1)
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config: arubaConfig(e, c, "1", ""),
					Check: func(*terraform.State) error {
						st := c.Conductor.Stats.Snapshot()
						if st.Logins != 2 || st.Logouts != 1 || st.ExpiredSessions != 1 {
							return fmt.Errorf("want 2 logins (one re-login), 1 logout, 1 expired; got %+v", st)
						}
						return nil
					},
				}},
			})
		})
	}
}

// occupySession logs in outside Terraform so that a MaxSessions=1 conductor is full.
func occupySession(e *simEnv, c *arubasim.Server) {
	e.t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.CertPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	form := url.Values{"username": {testArubaUser}, "password": {testArubaPass}}
	resp, err := hc.Post(c.URL+"/v1/api/login", "application/x-www-form-urlencoded", bytes.NewBufferString(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if c.Conductor.OpenSessions() != 1 {
		e.t.Fatalf("could not occupy the only session slot")
	}
}

// assertNoStrayFiles fails when a failed backup left any file (temporary or partial)
// in dir.
func assertNoStrayFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			t.Errorf("a failed backup left %s behind", p)
		}
		return nil
	})
}

// wrapTolerant lets a pattern's spaces match the line breaks Terraform puts into long
// error messages.
func wrapTolerant(pattern string) string {
	return strings.ReplaceAll(pattern, " ", `\s+`)
}
