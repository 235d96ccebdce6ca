package provider

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
)

// interruptedAndLocal declares two backups of one conductor: "interrupted", with the
// SCP server, ends by its 3 s create timeout; "local" needs the same device lock.
func interruptedAndLocal(e *simEnv, c *arubasim.Server) string {
	return e.config(
		arubaBackup(c, named("interrupted"), set("name", "mc-scp"), withTimeouts("create", "3s"), e.scp()),
		arubaBackup(c, named("local"), set("name", "mc-local")),
	)
}

// createTimeoutRE is the end of the error of a backup its create timeout stopped.
var createTimeoutRE = regexp.QuoteMeta(`within its create timeout (3s)`)

// assertInterruptedCleanly checks what an interrupted backup must leave: every
// session logged out, no tar file on the conductor's flash, no backup recorded for
// it, and the other backup of the same conductor done (the device lock was released).
func assertInterruptedCleanly(t *testing.T, e *simEnv, c *arubasim.Server) {
	t.Helper()
	if st := c.Conductor.Stats.Snapshot(); st.Logins != 2 || st.Logouts != 2 || st.OpenSessions != 0 {
		t.Errorf("want 2 logins and 2 logouts (one per backup), no open session; got %+v", st)
	}
	if err := noTarOnFlash(c, "the interrupted backup"); err != nil {
		t.Error(err)
	}
	store := mustStore(t, e.backupDir)
	if _, err := store.Latest(t.Context(), backupstore.FamilyAruba, "mc-scp"); err == nil {
		t.Error("the interrupted backup was recorded")
	}
	if _, err := store.Latest(t.Context(), backupstore.FamilyAruba, "mc-local"); err != nil {
		t.Errorf("the other backup of the conductor did not complete: %v", err)
	}
}

// TestAccArubaBackup_stalledSCPServer: an SCP server that stops answering (at the
// creation of remote_dir, or while an upload is read back) ends the backup with its
// create timeout instead of hanging the apply.
func TestAccArubaBackup_stalledSCPServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		point sftpserver.StallPoint
		step  string
	}{
		{"at mkdir", sftpserver.StallMkdir, `create conductors failed: .*create folder "conductors"`},
		{"mid-hash", sftpserver.StallRead, `verify conductors/mc-scp_.*read "conductors/mc-scp_`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.startSFTP()
			c := e.addConductor("mc", nil)
			e.sftp.SetStall(tc.point, false)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      interruptedAndLocal(e, c),
					ExpectError: errorRE(`Backup of conductor 127\.0\.0\.1 failed.*` + tc.step + `.*context deadline exceeded.*` + createTimeoutRE),
				}},
			})
			if e.sftp.Stats().Stalls == 0 {
				t.Fatal("the SCP server never stalled: the test did not reach its stall")
			}
			assertInterruptedCleanly(t, e, c)
		})
	}
}

// TestAccArubaBackup_timeoutDuringSCPPushCleansFlash: a create timeout while the
// conductor pushes its files still removes the flash archive from the conductor.
func TestAccArubaBackup_timeoutDuringSCPPushCleansFlash(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc", nil)
	c.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultSlow, PathPrefix: "/v1/configuration/object/copy_flash_scp", Delay: time.Minute})
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      interruptedAndLocal(e, c),
			ExpectError: errorRE(`Backup of conductor 127\.0\.0\.1 failed.*copy infrabackup-running.cfg to SCP server.*` + createTimeoutRE),
		}},
	})
	if c.Conductor.Stats.Snapshot().Calls["POST /v1/configuration/object/flash_backup"] != 1 {
		t.Fatalf("the flash archive was never made (calls %v): the test did not reach the push", c.Conductor.Stats.Snapshot().Calls)
	}
	assertInterruptedCleanly(t, e, c)
}

// TestAccPlanDoesNotWrite: terraform plan (and refresh) leave the disk alone: a
// backup_dir that does not exist yet is still missing afterwards; the first backup
// creates it.
func TestAccPlanDoesNotWrite(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:             e.config(arubaBackup(c)),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: func() {
					if _, err := os.Lstat(e.backupDir); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("terraform plan created or touched backup_dir %s (%v)", e.backupDir, err)
					}
				},
				Config: e.config(arubaBackup(c)),
				ConfigStateChecks: []statecheck.StateCheck{deviceCheck(func() error {
					if _, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyAruba, "mc"); err != nil {
						return fmt.Errorf("the apply did not create the backup folder and its backup: %w", err)
					}
					return nil
				})},
			},
		},
	})
}

// TestAccDataSourceRefusesAnOlderBackupAsLatest: when the newest record of a device
// is damaged, the data source fails naming it instead of answering with an older
// backup as the latest.
func TestAccDataSourceRefusesAnOlderBackupAsLatest(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc", nil)
	// A newer backup whose record was damaged (e.g. by a disk error).
	damaged := filepath.Join(e.backupDir, "aruba", "mc", "29991231T235959.999Z.json")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(arubaBackup(c))},
			{
				PreConfig: func() {
					if err := os.WriteFile(damaged, []byte(`{"format_version": 1, "host": "127.0.0.1", "fi`), 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config: e.config(
					arubaBackup(c),
					dataBlock("data.infrabackup_aruba_conductor_backup.by_name", set("name", "mc")),
					dataBlock("data.infrabackup_aruba_conductor_backup.by_host", set("host", "127.0.0.1")),
				),
				ExpectError: errorRE(`cannot tell which backup of aruba (device mc|host 127\.0\.0\.1) is the latest.*` +
					regexp.QuoteMeta(damaged) + `.*not a valid backup record`),
			},
		},
	})
}

// TestAccArubaBackup_flashCleanFailureAfterAFailedPush: when the push to the SCP
// server fails and the clean-up of the flash archive fails too, the error says both:
// the push's step first (the failure record's step), then that a tar file stays on
// flash.
func TestAccArubaBackup_flashCleanFailureAfterAFailedPush(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc", nil)
	c.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: "/v1/configuration/object/copy_flash_scp"})
	c.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: "/v1/configuration/object/tar_flash_clean"})
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      e.config(arubaBackup(c, set("name", "mc-scp"), e.scp())),
			ExpectError: errorRE(`copy infrabackup-running.cfg to SCP server.*clean tar files from flash`),
		}},
	})
	if st := c.Conductor.Stats.Snapshot(); st.Logins != 1 || st.Logouts != 1 {
		t.Errorf("want one login and one logout, got %+v", st)
	}
	st, err := mustStore(t, e.backupDir).Status(t.Context(), backupstore.FamilyAruba, "mc-scp")
	if err != nil {
		t.Fatal(err)
	}
	if a := st.LastAttempt; a.Outcome != backupstore.OutcomeFailed || !strings.Contains(a.Step, "SCP server") {
		t.Errorf("the failure record says %+v; want the push's step", a)
	}
}
