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

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

func uploads(d *iloSim) int64 { return d.ILO.Stats.Snapshot().Calls[ilosim.EndpointRestoreUpload] }

// restoresAndUploads checks how many restores the iLO accepted and how many
// uploads it received in all.
func restoresAndUploads(d *iloSim, restores int, up int64) checkFunc {
	return deviceCheck(func() error {
		if n, u := d.ILO.Restores(), uploads(d); n != restores || u != up {
			return fmt.Errorf("want %d restores and %d uploads, the iLO has %d and %d", restores, up, n, u)
		}
		return nil
	})
}

// waitUntilBack returns once the iLO has come back from the reset a restore started.
func waitUntilBack(t *testing.T, d *iloSim) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.ILO.InReset() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAccILORestore_roundTrip(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-rt", nil)
	serial := d.ILO.Serial()
	calls := &callMark{stats: &d.ILO.Stats}
	restoredAt := statecheck.CompareValue(compare.ValuesSame())
	restoredAgain := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(iloBackup(d), restoreOfBackup(d)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionCreate),
					plancheck.ExpectUnknownValue(restoreRes, tfjsonpath.New("backup_file")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(d, 1, false),
					statecheck.ExpectKnownValue(restoreRes, at("serial_number"), knownvalue.StringExact(serial)),
					statecheck.ExpectKnownValue(restoreRes, at("backup_serial_number"), knownvalue.StringExact(serial)),
					statecheck.ExpectKnownValue(restoreRes, at("allow_different_server"), knownvalue.Bool(false)),
					statecheck.CompareValuePairs(restoreRes, at("backup_file"), iloRes, at("local_path"), compare.ValuesSame()),
					statecheck.ExpectKnownValue(restoreRes, at("restored_at"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`))),
					statecheck.ExpectKnownValue(restoreRes, at("id"), knownvalue.StringRegexp(regexp.MustCompile(`^127\.0\.0\.1:\d+/\d{8}T\d{6}\.\d{3}Z$`))),
					restoresAndUploads(d, 1, 1),
					restoredAt.AddStateValue(restoreRes, at("restored_at")),
					restoredAgain.AddStateValue(restoreRes, at("restored_at")),
					calls.mark(),
				},
			},
			{
				// Plan and refresh make no device call and restore nothing.
				Config:   e.config(iloBackup(d), restoreOfBackup(d)),
				PlanOnly: true,
			},
			{
				PreConfig: func() { calls.assertNoneSince(t, "plan and refresh of a restore") },
				// timeouts and the password version are recorded without a restore.
				Config: e.config(iloBackup(d), restoreOfBackup(d, set("backup_password_wo_version", 2), withTimeouts("create", "5m"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					restoredAt.AddStateValue(restoreRes, at("restored_at")),
					restoresAndUploads(d, 1, 1),
				},
			},
			{
				// A new trigger restores again.
				Config: e.config(iloBackup(d), restoreOfBackup(d, set("backup_password_wo_version", 2), set("trigger", "again"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(d, 2, false),
					restoredAgain.AddStateValue(restoreRes, at("restored_at")),
				},
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
	backup := iloBackup(d, set("backup_password_wo", backupPassword), set("backup_password_wo_version", 1))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				// The iLO refuses a wrong password; its configuration is untouched.
				Config:      e.config(backup, restoreOfBackup(d, set("backup_password_wo", "not-the-backup-password"))),
				ExpectError: errorRE(`Restore of iLO 127\.0\.0\.1:\d+ failed.*restore upload failed.*refused the backup password \(invalid_restore_password\).*restores only with that same password`),
			},
			{
				// The record says protected: no password is refused before any upload.
				PreConfig: func() {
					if n := d.ILO.Restores(); n != 0 {
						t.Errorf("a wrong password restored (%d)", n)
					}
				},
				Config:      e.config(backup, restoreOfBackup(d)),
				ExpectError: errorRE(`Restore of iLO .* refused.*taken with a backup password, and none is given.*set backup_password_wo`),
			},
			{
				PreConfig: func() {
					if n := uploads(d); n != 1 {
						t.Errorf("want only the wrong password's upload, got %d", n)
					}
				},
				Config: e.config(backup, restoreOfBackup(d, set("backup_password_wo", backupPassword))),
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(d, 1, true),
					statecheck.ExpectKnownValue(restoreRes, at("backup_password_wo"), knownvalue.Null()),
				},
			},
		},
	})
}

func TestAccILORestore_serialMismatch(t *testing.T) {
	e := newSimEnv(t)
	a := e.addILO("ilo-restore-a", nil)
	b := e.addILO("ilo-restore-b", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				// A's backup onto B: refused, naming both serial numbers.
				Config: e.config(iloBackup(a), restoreOfBackup(b)),
				ExpectError: errorRE(`Restore of iLO .* refused.*nothing was uploaded.*serial number ` + a.ILO.Serial() +
					` \(from its backup record\), but this iLO's server has serial number ` + b.ILO.Serial() + `.*allow_different_server = true`),
			},
			{
				PreConfig: func() {
					if n, u := b.ILO.Restores(), uploads(b); n != 0 || u != 0 {
						t.Errorf("a refused restore reached iLO B: %d restores, %d uploads", n, u)
					}
				},
				Config: e.config(iloBackup(a), restoreOfBackup(b, set("allow_different_server", true))),
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(b, 1, false),
					statecheck.ExpectKnownValue(restoreRes, at("serial_number"), knownvalue.StringExact(b.ILO.Serial())),
					statecheck.ExpectKnownValue(restoreRes, at("backup_serial_number"), knownvalue.StringExact(a.ILO.Serial())),
					statecheck.ExpectKnownValue(restoreRes, at("allow_different_server"), knownvalue.Bool(true)),
					deviceCheck(func() error {
						if r := b.ILO.LastRestore(); r.Serial != a.ILO.Serial() {
							return fmt.Errorf("iLO B received an image of %s, want A's %s", r.Serial, a.ILO.Serial())
						}
						if a.ILO.Restores() != 0 {
							return fmt.Errorf("iLO A was restored")
						}
						return nil
					}),
				},
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
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(iloRestore(d, other)),
				ExpectError: errorRE(`serial number ZZZ11111A1 \(from its file name\), but this iLO's server has serial number ` + d.ILO.Serial()),
			},
			{
				Config:      e.config(iloRestore(d, unnamed)),
				ExpectError: errorRE(`restore refused, nothing was uploaded: the serial number of the server .*ilo-config\.bak was taken from is unknown.*allow_different_server = true`),
			},
			{
				PreConfig: func() {
					if n, u := d.ILO.Restores(), uploads(d); n != 0 || u != 0 {
						t.Errorf("refused restores reached the iLO: %d restores, %d uploads", n, u)
					}
				},
				Config: e.config(iloRestore(d, same)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("backup_serial_number"), knownvalue.StringExact(d.ILO.Serial())),
					restoredFromFile(d, same),
				},
			},
			{
				Config: e.config(iloRestore(d, unnamed, set("allow_different_server", true))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("backup_serial_number"), knownvalue.Null()),
					restoredFromFile(d, unnamed),
				},
			},
		},
	})
}

func TestAccILORestore_fileAlteredAfterBackup(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-altered", nil)
	var localPath string
	rewrite := func(change func([]byte) []byte) {
		data, err := os.ReadFile(localPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(localPath, change(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(iloBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{checkFunc(func(s *tfjson.State) (err error) {
					localPath, err = attrText(s, iloRes, "local_path")
					return err
				})},
			},
			{
				// One byte changed in place: the SHA-256 no longer matches the record.
				PreConfig: func() {
					rewrite(func(data []byte) []byte { data[len(data)/2] ^= 0x20; return data })
				},
				Config:      e.config(iloBackup(d), restoreOfBackup(d)),
				ExpectError: errorRE(`Restore of iLO .* refused.*nothing was uploaded.*corrupt or was changed after the backup: its SHA-256 is [0-9a-f]{64}.*the backup record says [0-9a-f]{64}.*configuration was not changed`),
			},
			{
				// Truncated: the store no longer records it, and it is still refused.
				PreConfig:   func() { rewrite(func(data []byte) []byte { return data[:len(data)-100] }) },
				Config:      e.config(iloBackup(d), restoreOfBackup(d)),
				ExpectError: errorRE(`is in the backup store, but no complete backup records it`),
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
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: e.config(iloBackup(d), restoreOfBackup(d, withTimeouts("create", "1500ms"))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("accepted")),
					statecheck.ExpectKnownValue(restoreRes, at("restored_at"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-`))),
					rec.warning(fmt.Sprintf("iLO 127.0.0.1:%d accepted the restore but has not come back", d.Port),
						"ACCEPTED the restore at", "within the create timeout (1.5s)", "Integrated Management Log", "network path",
						"raise timeouts.create", `outcome = "accepted"`, "does not restore again"),
				},
			},
			{
				// Not tainted: the next apply (even with another timeout) restores nothing.
				PreConfig: func() {
					waitUntilBack(t, d)
					d.ILO.SetResetDuration(200 * time.Millisecond)
				},
				Config: e.config(iloBackup(d), restoreOfBackup(d, withTimeouts("create", "1m"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("accepted")),
					restoresAndUploads(d, 1, 1),
				},
			},
			{
				Config: e.config(iloBackup(d), restoreOfBackup(d, withTimeouts("create", "1m"), set("trigger", "again"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("restored")),
					restoredFromBackup(d, 2, false),
				},
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
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				PreConfig: lost.arm,
				Config:    e.config(iloBackup(d), restoreOfBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("unknown")),
					statecheck.ExpectKnownValue(restoreRes, at("restored_at"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-`))),
					statecheck.CompareValuePairs(restoreRes, at("backup_sha256"), iloRes, at("sha256"), compare.ValuesSame()),
					restoresAndUploads(d, 1, 1),
					deviceCheck(func() error {
						if n := lost.droppedCount(); n != 1 {
							return fmt.Errorf("want the answer to the upload dropped, %d answers were", n)
						}
						return nil
					}),
					deviceCheck(func() error {
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
					}),
				},
			},
			{
				PreConfig:        func() { waitUntilBack(t, d) },
				Config:           e.config(iloBackup(d), restoreOfBackup(d)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				ConfigStateChecks: []statecheck.StateCheck{
					restoresAndUploads(d, 1, 1),
				},
			},
			{
				Config: e.config(iloBackup(d), restoreOfBackup(d, set("trigger", "again"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("restored")),
					restoredFromBackup(d, 2, false),
				},
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
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(e.provider(set("request_timeout", "1s")), iloBackup(d), restoreOfBackup(d)),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("restored")),
				restoredFromBackup(d, 1, false),
			},
		}},
	})
}

// TestILORestorePlanWarns checks that a plan that restores carries a warning that
// says so, and that a plan that destroys (forgets) does not.
func TestILORestorePlanWarns(t *testing.T) {
	t.Parallel()
	const res = "infrabackup_ilo_restore"
	p := newProtocolProvider(t)
	typ := p.resourceType(res)
	config := p.object(typ, map[string]any{"host": "ilo-rack4.example.net", "backup_file": "/backups/ilo/X/HPE_X_20250101_1200.bak"})
	null := tftypes.NewValue(typ, nil)
	isRestoreWarning := func(summary, detail string) bool {
		return strings.Contains(summary, "restores iLO ilo-rack4.example.net from a backup (destructive)") &&
			strings.Contains(detail, "overwrites the iLO's configuration") && strings.Contains(detail, "every session on it is dropped") &&
			strings.Contains(detail, "HPE_X_20250101_1200.bak")
	}
	if diags := p.plan(res, null, config, config); findWarning(t, diags, isRestoreWarning) == nil {
		t.Errorf("a plan that restores carries no warning saying so: %+v", diags)
	}
	restored := p.object(typ, map[string]any{
		"id": "ilo-rack4.example.net/20250101T120000.000Z", "host": "ilo-rack4.example.net",
		"backup_file": "/backups/ilo/X/HPE_X_20250101_1200.bak", "outcome": "restored",
	})
	if diags := p.plan(res, restored, null, null); len(diags) != 0 {
		t.Errorf("a plan that forgets a restore has diagnostics: %+v", diags)
	}
}

// TestILORestoreReadFillsOutcomeOfOlderState: a state written before outcome existed
// (a restore that succeeded; failed ones were tainted) reads as "restored", so
// upgrading the provider plans no change.
func TestILORestoreReadFillsOutcomeOfOlderState(t *testing.T) {
	t.Parallel()
	const res = "infrabackup_ilo_restore"
	p := newProtocolProvider(t)
	typ := p.resourceType(res)
	older := p.object(typ, map[string]any{"id": "ilo1/20250101T120000.000Z", "host": "ilo1"})
	resp, err := p.srv.ReadResource(t.Context(), &tfprotov6.ReadResourceRequest{TypeName: res, CurrentState: p.dynamic(typ, older)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("read diagnostic: %s: %s", d.Summary, d.Detail)
	}
	got, err := resp.NewState.Unmarshal(typ)
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
