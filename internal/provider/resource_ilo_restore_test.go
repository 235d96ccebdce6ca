package provider

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

const restoreRes = "infrabackup_ilo_restore.r"

// iloBackupBlock is an infrabackup_ilo_backup of d named "ilo" (iloRes).
func iloBackupBlock(d *iloSim, extra string) string {
	return fmt.Sprintf(`
resource "infrabackup_ilo_backup" "ilo" {
  host    = %q
  port    = %d
  trigger = "1"
%s
}
`, d.Host, d.Port, extra)
}

// iloRestoreBlock restores target from backupFile (an HCL expression).
func iloRestoreBlock(target *iloSim, backupFile, extra string) string {
	return fmt.Sprintf(`
resource "infrabackup_ilo_restore" "r" {
  host        = %q
  port        = %d
  backup_file = %s
%s
}
`, target.Host, target.Port, backupFile, extra)
}

// checkRestored asserts that the simulator's last restore received exactly the bytes
// the backup in state recorded (and, when the same simulator served that backup, that
// it matched it), and that the restore's state says so.
func checkRestored(d *iloSim, wantRestores int, protected bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		r := d.ILO.LastRestore()
		if n := d.ILO.Restores(); n != wantRestores || r == nil {
			return fmt.Errorf("the simulator accepted %d restores (last %+v), want %d", n, r, wantRestores)
		}
		sha, name := stateAttr(s, iloRes, "sha256"), stateAttr(s, iloRes, "device_file_name")
		if r.SHA256 != sha {
			return fmt.Errorf("the iLO received %s, the backup recorded %s (%s)", r.SHA256, sha, name)
		}
		// An iLO that served the backup itself recognises it.
		if _, served := d.ILO.ServedBackups()[name]; served && r.MatchedBackup != name {
			return fmt.Errorf("the iLO matched the restore to backup %q, want %q", r.MatchedBackup, name)
		}
		if r.PasswordProtected != protected {
			return fmt.Errorf("restored image password protected = %t, want %t", r.PasswordProtected, protected)
		}
		if got := stateAttr(s, restoreRes, "backup_sha256"); got != sha {
			return fmt.Errorf("restore state backup_sha256 %s, backup sha256 %s", got, sha)
		}
		if d.ILO.InReset() {
			return fmt.Errorf("the apply finished while the iLO was still resetting")
		}
		return nil
	}
}

func uploads(d *iloSim) int64 { return d.ILO.Stats.Snapshot().Calls[ilosim.EndpointRestoreUpload] }

func TestAccILORestore_roundTrip(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-rt", nil)
	serial := d.ILO.Serial()
	config := e.providerConfig() + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", "")
	var callsAfterApply int64
	var restoredAt string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionCreate),
					plancheck.ExpectUnknownValue(restoreRes, tfjsonpath.New("backup_file")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRestored(d, 1, false),
					resource.TestCheckResourceAttr(restoreRes, "serial_number", serial),
					resource.TestCheckResourceAttr(restoreRes, "backup_serial_number", serial),
					resource.TestCheckResourceAttr(restoreRes, "allow_different_server", "false"),
					resource.TestCheckResourceAttrPair(restoreRes, "backup_file", iloRes, "local_path"),
					resource.TestMatchResourceAttr(restoreRes, "restored_at", regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)),
					resource.TestMatchResourceAttr(restoreRes, "id", regexp.MustCompile(`^127\.0\.0\.1:\d+/\d{8}T\d{6}\.\d{3}Z$`)),
					func(s *terraform.State) error {
						st := d.ILO.Stats.Snapshot()
						if st.Calls[ilosim.EndpointRestoreUpload] != 1 {
							return fmt.Errorf("want one upload, got %+v", st.Calls)
						}
						callsAfterApply = st.TotalCalls()
						restoredAt = stateAttr(s, restoreRes, "restored_at")
						return nil
					},
				),
			},
			{
				// Plan and refresh make no device call and restore nothing.
				Config:   config,
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					if got := d.ILO.Stats.Snapshot().TotalCalls(); got != callsAfterApply {
						t.Errorf("plan/refresh made %d device calls, want 0", got-callsAfterApply)
					}
				},
				// timeouts and the password version are recorded without a restore.
				Config: e.providerConfig() + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", `
  backup_password_wo_version = 2
  timeouts = { create = "5m" }
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPtr(restoreRes, "restored_at", &restoredAt),
					func(*terraform.State) error {
						if n := d.ILO.Restores(); n != 1 {
							return fmt.Errorf("an update restored again (%d restores)", n)
						}
						return nil
					},
				),
			},
			{
				// A new trigger restores again.
				Config: e.providerConfig() + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", `
  backup_password_wo_version = 2
  trigger = "again"
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRestored(d, 2, false),
					func(s *terraform.State) error {
						if stateAttr(s, restoreRes, "restored_at") == restoredAt {
							return fmt.Errorf("restored_at did not change")
						}
						return nil
					},
				),
			},
		},
	})
	// Destroy only forgets: no device call, no restore.
	if n := d.ILO.Restores(); n != 2 {
		t.Errorf("destroy changed the number of restores to %d", n)
	}
}

func TestAccILORestore_password(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-pw", nil)
	const backupPassword = "Restore-Pa55word"
	backup := iloBackupBlock(d, fmt.Sprintf(`
  backup_password_wo         = %q
  backup_password_wo_version = 1
`, backupPassword))
	restore := func(password string) string {
		extra := ""
		if password != "" {
			extra = fmt.Sprintf("  backup_password_wo = %q\n", password)
		}
		return e.providerConfig() + backup + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", extra)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				// The iLO refuses a wrong password; its configuration is untouched.
				Config:      restore("not-the-backup-password"),
				ExpectError: flexRE(`Restore of iLO 127\.0\.0\.1:\d+ failed.*restore upload failed.*refused the backup password \(invalid_restore_password\).*restores only with that same password`),
			},
			{
				// The record says protected: no password is refused before any upload.
				PreConfig: func() {
					if n := d.ILO.Restores(); n != 0 {
						t.Errorf("a wrong password restored (%d)", n)
					}
				},
				Config:      restore(""),
				ExpectError: flexRE(`Restore of iLO .* refused.*taken with a backup password, and none is given.*set backup_password_wo`),
			},
			{
				PreConfig: func() {
					if n := uploads(d); n != 1 {
						t.Errorf("want only the wrong password's upload, got %d", n)
					}
				},
				Config: restore(backupPassword),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRestored(d, 1, true),
					resource.TestCheckNoResourceAttr(restoreRes, "backup_password_wo"),
				),
			},
		},
	})
}

func TestAccILORestore_serialMismatch(t *testing.T) {
	e := newSimEnv(t)
	a := e.addILO("ilo-restore-a", nil)
	b := e.addILO("ilo-restore-b", nil)
	config := func(extra string) string {
		return e.providerConfig() + iloBackupBlock(a, "") + iloRestoreBlock(b, "infrabackup_ilo_backup.ilo.local_path", extra)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				// A's backup onto B: refused, naming both serial numbers.
				Config: config(""),
				ExpectError: flexRE(`Restore of iLO .* refused.*nothing was uploaded.*serial number ` + a.ILO.Serial() +
					` \(from its backup record\), but this iLO's server has serial number ` + b.ILO.Serial() + `.*allow_different_server = true`),
			},
			{
				PreConfig: func() {
					if n, u := b.ILO.Restores(), uploads(b); n != 0 || u != 0 {
						t.Errorf("a refused restore reached iLO B: %d restores, %d uploads", n, u)
					}
				},
				Config: config("  allow_different_server = true\n"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkRestored(b, 1, false),
					resource.TestCheckResourceAttr(restoreRes, "serial_number", b.ILO.Serial()),
					resource.TestCheckResourceAttr(restoreRes, "backup_serial_number", a.ILO.Serial()),
					resource.TestCheckResourceAttr(restoreRes, "allow_different_server", "true"),
					func(*terraform.State) error {
						if r := b.ILO.LastRestore(); r.Serial != a.ILO.Serial() {
							return fmt.Errorf("iLO B received an image of %s, want A's %s", r.Serial, a.ILO.Serial())
						}
						if a.ILO.Restores() != 0 {
							return fmt.Errorf("iLO A was restored")
						}
						return nil
					},
				),
			},
		},
	})
}

// TestAccILORestore_filesFromElsewhere restores files the local store does not record:
// the serial number comes from the iLO's own file name, or is unknown.
func TestAccILORestore_filesFromElsewhere(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-ext", nil)
	dir := t.TempDir()
	write := func(name, serial string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, ilosim.GenerateImage(ilosim.ImageInfo{Serial: serial, ManagerType: ilosim.ILO6, Firmware: "1.70", BackupID: 3, Size: 64 << 10}, "")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := write("HPE_ZZZ11111A1_20250101_1200.bak", "ZZZ11111A1")
	unnamed := write("ilo-config.bak", d.ILO.Serial())
	same := write("HPE_"+d.ILO.Serial()+"_20250101_1300.bak", d.ILO.Serial())
	config := func(file, extra string) string {
		return e.providerConfig() + iloRestoreBlock(d, fmt.Sprintf("%q", file), extra)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      config(other, ""),
				ExpectError: flexRE(`serial number ZZZ11111A1 \(from its file name\), but this iLO's server has serial number ` + d.ILO.Serial()),
			},
			{
				Config:      config(unnamed, ""),
				ExpectError: flexRE(`restore refused, nothing was uploaded: the serial number of the server .*ilo-config\.bak was taken from is unknown.*allow_different_server = true`),
			},
			{
				PreConfig: func() {
					if n, u := d.ILO.Restores(), uploads(d); n != 0 || u != 0 {
						t.Errorf("refused restores reached the iLO: %d restores, %d uploads", n, u)
					}
				},
				Config: config(same, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "backup_serial_number", d.ILO.Serial()),
					checkImageRestored(d, same),
				),
			},
			{
				Config: config(unnamed, "  allow_different_server = true\n"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(restoreRes, "backup_serial_number"),
					checkImageRestored(d, unnamed),
				),
			},
		},
	})
}

// checkImageRestored asserts that the iLO's last restore was exactly the file at p.
func checkImageRestored(d *iloSim, p string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, sha, _, err := ilosim.VerifyImage(f, "")
		if err != nil {
			return err
		}
		if r := d.ILO.LastRestore(); r == nil || r.SHA256 != sha || stateAttr(s, restoreRes, "backup_sha256") != sha {
			return fmt.Errorf("last restore %+v, state %s, want %s", r, stateAttr(s, restoreRes, "backup_sha256"), sha)
		}
		return nil
	}
}

func TestAccILORestore_fileAlteredAfterBackup(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-altered", nil)
	var localPath string
	backupOnly := e.providerConfig() + iloBackupBlock(d, "")
	withRestore := backupOnly + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: backupOnly,
				Check: func(s *terraform.State) error {
					localPath = stateAttr(s, iloRes, "local_path")
					return nil
				},
			},
			{
				// One byte changed in place: the SHA-256 no longer matches the record.
				PreConfig: func() {
					data, err := os.ReadFile(localPath)
					if err != nil {
						t.Fatal(err)
					}
					data[len(data)/2] ^= 0x20
					if err := os.WriteFile(localPath, data, 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config:      withRestore,
				ExpectError: flexRE(`Restore of iLO .* refused.*nothing was uploaded.*corrupt or was changed after the backup: its SHA-256 is [0-9a-f]{64}.*the backup record says [0-9a-f]{64}.*configuration was not changed`),
			},
			{
				// Truncated: the store no longer records it, and it is still refused.
				PreConfig: func() {
					data, err := os.ReadFile(localPath)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(localPath, data[:len(data)-100], 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config:      withRestore,
				ExpectError: flexRE(`is in the backup store, but no complete backup records it`),
			},
		},
	})
	if n, u := d.ILO.Restores(), uploads(d); n != 0 || u != 0 {
		t.Errorf("an altered file reached the iLO: %d restores, %d uploads", n, u)
	}
}

// TestAccILORestore_notBackInTime: an accepted restore whose iLO does not come back
// within the create timeout is recorded (outcome "accepted") with a warning, not
// tainted: the next apply does not restore again; only a new trigger does.
func TestAccILORestore_notBackInTime(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-slow", func(c *ilosim.Config) { c.ResetDuration = 4 * time.Second })
	rec := &diagRecorder{}
	config := func(timeout, extra string) string {
		return e.providerConfig() + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path",
			fmt.Sprintf("  timeouts = { create = %q }\n%s", timeout, extra))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: config("1500ms", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "outcome", "accepted"),
					resource.TestMatchResourceAttr(restoreRes, "restored_at", regexp.MustCompile(`^\d{4}-`)),
					func(*terraform.State) error {
						w, all := rec.take(fmt.Sprintf("iLO 127.0.0.1:%d accepted the restore but has not come back", d.Port),
							"ACCEPTED the restore at", "within the create timeout (1.5s)", "Integrated Management Log", "network path",
							"raise timeouts.create", `outcome = "accepted"`, "does not restore again")
						if len(w) == 0 {
							return fmt.Errorf("no warning says the iLO accepted the restore and what to check; warnings: %q", all)
						}
						return nil
					},
				),
			},
			{
				// Not tainted: the next apply (even with another timeout) restores nothing.
				PreConfig: func() {
					deadline := time.Now().Add(30 * time.Second)
					for d.ILO.InReset() && time.Now().Before(deadline) {
						time.Sleep(50 * time.Millisecond)
					}
					d.ILO.SetResetDuration(200 * time.Millisecond)
				},
				Config:           config("1m", ""),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "outcome", "accepted"),
					func(*terraform.State) error {
						if n, u := d.ILO.Restores(), uploads(d); n != 1 || u != 1 {
							return fmt.Errorf("the next apply restored again: %d restores, %d uploads", n, u)
						}
						return nil
					},
				),
			},
			{
				Config:           config("1m", "  trigger = \"again\"\n"),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "outcome", "restored"),
					checkRestored(d, 2, false),
				),
			},
		},
	})
}

// TestAccILORestore_answerLost: the iLO receives the whole upload and restores, but
// its answer is lost. The outcome is unknown: the restore is recorded (outcome
// "unknown") with a warning saying the iLO may be restoring, the next apply does not
// upload again, and a new trigger does.
func TestAccILORestore_answerLost(t *testing.T) {
	e := newSimEnv(t)
	lost := &lostAnswer{}
	d := e.addILOWrapped("ilo-restore-lost", nil, lost.wrap)
	rec := &diagRecorder{}
	config := func(extra string) string {
		return e.providerConfig() + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", extra)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				PreConfig: lost.arm,
				Config:    config(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "outcome", "unknown"),
					resource.TestMatchResourceAttr(restoreRes, "restored_at", regexp.MustCompile(`^\d{4}-`)),
					resource.TestCheckResourceAttrPair(restoreRes, "backup_sha256", iloRes, "sha256"),
					func(*terraform.State) error {
						if lost.droppedCount() != 1 || uploads(d) != 1 || d.ILO.Restores() != 1 {
							return fmt.Errorf("want one upload, restored and unanswered; got %d uploads, %d restores, %d dropped answers",
								uploads(d), d.ILO.Restores(), lost.droppedCount())
						}
						w, all := rec.take(fmt.Sprintf("iLO 127.0.0.1:%d", d.Port), "outcome unknown", "the iLO may be restoring",
							`outcome = "unknown"`, "Integrated Management Log")
						if len(w) == 0 {
							return fmt.Errorf("no warning says the outcome is unknown; warnings: %q", all)
						}
						for _, w := range all {
							if strings.Contains(w, "should not restore") {
								return fmt.Errorf("a warning claims the iLO should not restore: %q", w)
							}
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					deadline := time.Now().Add(30 * time.Second)
					for d.ILO.InReset() && time.Now().Before(deadline) {
						time.Sleep(50 * time.Millisecond)
					}
				},
				Config:           config(""),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionNoop),
				Check: func(*terraform.State) error {
					if n := uploads(d); n != 1 {
						return fmt.Errorf("the next apply uploaded again (%d uploads)", n)
					}
					return nil
				},
			},
			{
				Config:           config("  trigger = \"again\"\n"),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(restoreRes, "outcome", "restored"),
					checkRestored(d, 2, false),
				),
			},
		},
	})
}

// TestAccILORestore_slowAnswer: the answer to the upload has its own, longer timeout
// than request_timeout: an iLO that takes longer than request_timeout to check the
// upload before answering is still heard.
func TestAccILORestore_slowAnswer(t *testing.T) {
	e := newSimEnv(t)
	lost := &lostAnswer{}
	d := e.addILOWrapped("ilo-restore-slow-answer", nil, lost.wrap)
	lost.setAnswerDelay(3 * time.Second)
	provider := strings.Replace(e.providerConfig(), "  max_retries", "  request_timeout = \"1s\"\n  max_retries", 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: provider + iloBackupBlock(d, "") + iloRestoreBlock(d, "infrabackup_ilo_backup.ilo.local_path", ""),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr(restoreRes, "outcome", "restored"),
				checkRestored(d, 1, false),
			),
		}},
	})
}

// TestILORestorePlanWarns checks that a plan that restores carries a warning that
// says so, and that a plan that destroys (forgets) does not.
func TestILORestorePlanWarns(t *testing.T) {
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	objType, ok := schemas.ResourceSchemas["infrabackup_ilo_restore"].ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for infrabackup_ilo_restore")
	}
	value := func(set map[string]tftypes.Value) tftypes.Value {
		vals := map[string]tftypes.Value{}
		for name, typ := range objType.AttributeTypes {
			vals[name] = tftypes.NewValue(typ, nil)
		}
		for name, v := range set {
			vals[name] = v
		}
		return tftypes.NewValue(objType, vals)
	}
	dv := func(v tftypes.Value) *tfprotov6.DynamicValue {
		d, err := tfprotov6.NewDynamicValue(objType, v)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	config := value(map[string]tftypes.Value{
		"host":        tftypes.NewValue(tftypes.String, "ilo-rack4.example.net"),
		"backup_file": tftypes.NewValue(tftypes.String, "/backups/ilo/X/HPE_X_20250101_1200.bak"),
	})
	null := tftypes.NewValue(objType, nil)
	plan := func(prior, proposed tftypes.Value) []*tfprotov6.Diagnostic {
		resp, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
			TypeName: "infrabackup_ilo_restore", PriorState: dv(prior), ProposedNewState: dv(proposed), Config: dv(config),
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Diagnostics
	}
	var warned bool
	for _, d := range plan(null, config) {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Errorf("plan error: %s: %s", d.Summary, d.Detail)
		}
		if d.Severity == tfprotov6.DiagnosticSeverityWarning && strings.Contains(d.Summary, "restores iLO ilo-rack4.example.net from a backup (destructive)") &&
			strings.Contains(d.Detail, "overwrites the iLO's configuration") && strings.Contains(d.Detail, "every session on it is dropped") &&
			strings.Contains(d.Detail, "HPE_X_20250101_1200.bak") {
			warned = true
		}
	}
	if !warned {
		t.Error("a plan that restores carries no warning saying so")
	}
}

// TestILORestoreReadFillsOutcomeOfOlderState: a state written before outcome existed
// (a restore that succeeded; failed ones were tainted) reads as "restored", so
// upgrading the provider plans no change.
func TestILORestoreReadFillsOutcomeOfOlderState(t *testing.T) {
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	objType, ok := schemas.ResourceSchemas["infrabackup_ilo_restore"].ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for infrabackup_ilo_restore")
	}
	vals := map[string]tftypes.Value{}
	for name, typ := range objType.AttributeTypes {
		vals[name] = tftypes.NewValue(typ, nil)
	}
	vals["id"] = tftypes.NewValue(tftypes.String, "ilo1/20250101T120000.000Z")
	vals["host"] = tftypes.NewValue(tftypes.String, "ilo1")
	state, err := tfprotov6.NewDynamicValue(objType, tftypes.NewValue(objType, vals))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: "infrabackup_ilo_restore", CurrentState: &state})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("read diagnostic: %s: %s", d.Summary, d.Detail)
	}
	got, err := resp.NewState.Unmarshal(objType)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	if err := got.As(&attrs); err != nil {
		t.Fatal(err)
	}
	var outcome, id string
	if err := attrs["outcome"].As(&outcome); err != nil || outcome != "restored" {
		t.Errorf("outcome = %q (%v), want restored", outcome, err)
	}
	if err := attrs["id"].As(&id); err != nil || id != "ilo1/20250101T120000.000Z" {
		t.Errorf("id = %q (%v): the rest of the state must stay", id, err)
	}
}
