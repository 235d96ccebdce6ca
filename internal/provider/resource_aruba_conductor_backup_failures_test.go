package provider

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

// threeConductorBackups declares backups mc0, mc1 and mc2 of e's three conductors;
// the one of the middle conductor gets opts.
func threeConductorBackups(e *simEnv, opts ...option) []*block {
	var blocks []*block
	for i, c := range e.conductors {
		bl := arubaBackup(c, named(fmt.Sprintf("mc%d", i)), set("name", fmt.Sprintf("mc%d", i)))
		if i == 1 {
			build(bl, opts)
		}
		blocks = append(blocks, bl)
	}
	return blocks
}

// TestAccArubaBackup_oneOfThreeFails: the failing conductor errors with its address,
// the step and the device's words; the two others complete; no session stays open.
func TestAccArubaBackup_oneOfThreeFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		tweak   func(*arubasim.Config)
		prepare func(e *simEnv, bad *arubasim.Server)
		scp     []option // the failing backup's scp argument, if it has one
		want    string   // the error after the device address
		step    string   // the step its failure record names
		after   func(t *testing.T, bad *arubasim.Server)
	}{
		{
			name:  "bad credentials",
			tweak: func(c *arubasim.Config) { c.Password = "another-password" },
			want:  `log in failed.*authentication failed.*check the aruba username and password`,
			step:  "log in",
		},
		{
			name:  "bad credentials answered with 401",
			tweak: func(c *arubasim.Config) { c.Password = "another-password"; c.FailedLoginHTTP401 = true },
			want:  `log in failed \(HTTP 401\)`,
			step:  "log in",
		},
		{
			name:    "session limit",
			tweak:   func(c *arubasim.Config) { c.MaxSessions = 1 },
			prepare: func(e *simEnv, bad *arubasim.Server) { e.occupySession(bad) },
			want:    `log in failed.*Maximum number of sessions reached \(1\).*at most 64`,
			step:    "log in",
			after:   func(_ *testing.T, bad *arubasim.Server) { bad.Conductor.ExpireAllSessions() },
		},
		{
			name:    "session keeps expiring (HTTP 200 with status 1)",
			tweak:   func(c *arubasim.Config) { c.ExpiryStyle = arubasim.ExpiryStatus },
			prepare: func(_ *simEnv, bad *arubasim.Server) { bad.Conductor.ExpireNextCalls(2) },
			want:    `"show running-config" failed.*Invalid authentication token`,
			step:    `"show running-config"`,
		},
		{
			name:    "session keeps expiring (HTTP 401)",
			tweak:   func(c *arubasim.Config) { c.ExpiryStyle = arubasim.Expiry401 },
			prepare: func(_ *simEnv, bad *arubasim.Server) { bad.Conductor.ExpireNextCalls(2) },
			want:    `"show running-config" failed \(HTTP 401\).*no longer valid`,
			step:    `"show running-config"`,
		},
		{
			name:    "SCP server refuses the conductor",
			prepare: func(e *simEnv, _ *arubasim.Server) { e.sftp.SetRefuseAll(true) },
			scp:     []option{set("verify", false)},
			want:    `copy infrabackup-running.cfg to SCP server failed`,
			step:    "copy infrabackup-running.cfg to SCP server",
			after: func(t *testing.T, bad *arubasim.Server) {
				if err := noTarOnFlash(bad, "a failed upload"); err != nil {
					t.Error(err)
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
			var badOpts []option
			if tc.scp != nil {
				badOpts = append(badOpts, e.scp(tc.scp...))
			}
			addr := regexp.QuoteMeta(fmt.Sprintf("%s:%d", bad.Host, bad.Port))
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      e.config(threeConductorBackups(e, badOpts...)...),
					ExpectError: errorRE(`Backup of conductor 127\.0\.0\.1 failed.*conductor ` + addr + `: ` + tc.want),
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
			assertOnlyFailureRecords(t, filepath.Join(e.backupDir, "aruba", "mc1"), "a failed backup", 1, tc.step)
		})
	}
}

// TestAccArubaBackup_expiredOnceRelogsIn: one expiry is survived by one re-login.
func TestAccArubaBackup_expiredOnceRelogsIn(t *testing.T) {
	t.Parallel()
	for _, style := range []string{arubasim.ExpiryStatus, arubasim.Expiry401} {
		t.Run(style, func(t *testing.T) {
			e := newSimEnv(t)
			c := e.addConductor("mc", func(cfg *arubasim.Config) { cfg.ExpiryStyle = style })
			c.Conductor.ExpireNextCalls(1)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config: e.config(arubaBackup(c)),
					ConfigStateChecks: []statecheck.StateCheck{
						loginsAndLogouts(&c.Conductor.Stats, 2, 1), // one re-login
						deviceCheck(func() error {
							if n := c.Conductor.Stats.Snapshot().ExpiredSessions; n != 1 {
								return fmt.Errorf("want 1 expired session, got %d", n)
							}
							return nil
						}),
					},
				}},
			})
		})
	}
}
