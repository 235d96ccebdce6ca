package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

func TestAccILOBackup_backupAndNewTrigger(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-lab-01", func(c *ilosim.Config) { c.Generation = ilosim.ILO5 })
	serial := d.ILO.Serial()
	calls := &callMark{stats: &d.ILO.Stats}
	sameBackup := statecheck.CompareValue(compare.ValuesSame())
	newBackup := statecheck.CompareValue(compare.ValuesDiffer())
	kept := &backupsKept{res: iloRes, path: "local_path"}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(iloBackup(d, set("trigger", "fw-3.09"))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iloRes, at("name"), knownvalue.StringExact(serial)),
					statecheck.ExpectKnownValue(iloRes, at("serial_number"), knownvalue.StringExact(serial)),
					statecheck.ExpectKnownValue(iloRes, at("generation"), knownvalue.StringExact("iLO 5")),
					statecheck.ExpectKnownValue(iloRes, at("firmware_version"), knownvalue.StringExact(d.ILO.Firmware())),
					statecheck.ExpectKnownValue(iloRes, at("password_protected"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(iloRes, at("backup_password_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue(iloRes, at("device_file_name"), knownvalue.StringRegexp(regexp.MustCompile(`^HPE_`+serial+`_\d{8}_\d{4}\.bak$`))),
					statecheck.ExpectKnownValue(iloRes, at("device_file_location"), knownvalue.StringRegexp(regexp.MustCompile(`^/bkupdata/HPE_`+serial+`_\d{8}_\d{4}\.bak$`))),
					statecheck.ExpectKnownValue(iloRes, at("id"), knownvalue.StringRegexp(regexp.MustCompile(`^`+serial+`/\d{8}T\d{6}\.\d{3}Z$`))),
					statecheck.ExpectKnownValue(iloRes, at("files"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(iloRes, at("files.0.kind"), knownvalue.StringExact("ilo-backup")),
					statecheck.ExpectKnownValue(iloRes, at("files.0.path"), knownvalue.StringRegexp(regexp.MustCompile(`/ilo/`+serial+`/\d{8}T\d{6}\.\d{3}Z-ilo-backup\.bak$`))),
					statecheck.CompareValuePairs(iloRes, at("local_path"), iloRes, at("files.0.path"), compare.ValuesSame()),
					statecheck.CompareValuePairs(iloRes, at("sha256"), iloRes, at("files.0.sha256"), compare.ValuesSame()),
					statecheck.CompareValuePairs(iloRes, at("size"), iloRes, at("files.0.size"), compare.ValuesSame()),
					statecheck.ExpectKnownValue(iloRes, at("size"), knownvalue.Int64Exact(testILOBackupSize)),
					fileOnDisk(iloRes, nil),
					servedBy(d, false),
					loginsAndLogouts(&d.ILO.Stats, 1, 1),
					sameBackup.AddStateValue(iloRes, at("id")),
					newBackup.AddStateValue(iloRes, at("id")),
					kept.check(),
					calls.mark(),
				},
			},
			{
				Config:   e.config(iloBackup(d, set("trigger", "fw-3.09"))),
				PlanOnly: true,
			},
			{
				PreConfig: func() { calls.assertNoneSince(t, "plan and refresh of an existing backup") },
				// Only timeouts change: recorded without a new backup.
				Config: e.config(iloBackup(d, set("trigger", "fw-3.09"), withTimeouts("create", "10m"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					sameBackup.AddStateValue(iloRes, at("id")),
					loginsAndLogouts(&d.ILO.Stats, 1, 1),
				},
			},
			{
				// A new trigger is a new backup in a new file; the old one stays.
				Config: e.config(iloBackup(d, set("trigger", "fw-3.10"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					fileOnDisk(iloRes, nil),
					servedBy(d, false),
					newBackup.AddStateValue(iloRes, at("id")),
					kept.check(),
					loginsAndLogouts(&d.ILO.Stats, 2, 2),
				},
			},
		},
	})
	kept.assertKeptAfterDestroy(t)
	if _, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyILO, serial); err != nil {
		t.Errorf("the store must still record the backups after destroy: %v", err)
	}
}

func TestAccILOBackup_passwordProtectedAndName(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-pw", nil)
	const backupPassword = "Bkp-Pa55word-0f-32-characters!!"
	protected := func(version int) *block {
		return iloBackup(d, set("name", "dc1-rack4-ilo"), set("backup_password_wo", backupPassword), set("backup_password_wo_version", version))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(iloBackup(d,
					set("backup_password_wo", "this-backup-password-is-too-long-for-an-ilo"),
					set("backup_password_wo_version", 1))),
				ExpectError: errorRE(`backup password is 43 characters long.*at most 32`),
			},
			{
				Config: e.config(protected(1)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iloRes, at("name"), knownvalue.StringExact("dc1-rack4-ilo")),
					statecheck.ExpectKnownValue(iloRes, at("password_protected"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(iloRes, at("backup_password_wo_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(iloRes, at("backup_password_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue(iloRes, at("local_path"), knownvalue.StringRegexp(regexp.MustCompile(`/ilo/dc1-rack4-ilo/[^/]+-ilo-backup\.bak$`))),
					fileOnDisk(iloRes, nil),
					servedBy(d, true),
					loginsAndLogouts(&d.ILO.Stats, 1, 1),
					checkFunc(func(s *tfjson.State) error {
						raw, err := json.Marshal(s)
						if err != nil {
							return err
						}
						assertNoSecrets(t, "state", string(raw), backupPassword, testILOPass)
						return nil
					}),
				},
			},
			{
				// A new password version takes a new backup protected by it.
				Config: e.config(protected(2)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iloRes, at("password_protected"), knownvalue.Bool(true)),
					servedBy(d, true),
					loginsAndLogouts(&d.ILO.Stats, 2, 2),
				},
			},
		},
	})
}

func TestAccILOBackup_badCredentials(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-badpw", func(c *ilosim.Config) { c.Password = "the-real-password" })
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      e.config(iloBackup(d)),
			ExpectError: errorRE(`Backup of iLO 127\.0\.0\.1:\d+ failed.*log in failed \(HTTP 401\).*refused the user name or password.*check the ilo username and password`),
		}},
	})
	assertOnlyFailureRecords(t, e.backupDir, "a failed login", 1, "log in")
}

func TestAccILOBackup_sessionLimit(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-busy", func(c *ilosim.Config) { c.MaxSessions = 1 })
	logoutOther := e.openOtherSession(d)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(iloBackup(d)),
				ExpectError: errorRE(`log in failed \(HTTP 503\).*all session slots of the iLO are in use.*close other iLO sessions`),
			},
			{
				// Once the other tool logs out, the same configuration succeeds.
				PreConfig: func() {
					logoutOther()
					assertOnlyFailureRecords(t, e.backupDir, "a refused login", 1, "log in")
				},
				Config:            e.config(iloBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{fileOnDisk(iloRes, nil), servedBy(d, false)},
			},
		},
	})
}

func TestAccILOBackup_resetMidDownload(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-flaky", func(c *ilosim.Config) { c.ResetDownloadAfter = 100 << 10 })
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(iloBackup(d)),
				ExpectError: errorRE(`download backup failed: the download broke after \d+ bytes.*nothing was kept`),
			},
			{
				PreConfig: func() {
					// No partial or temporary file, no backup record: only the failure's.
					assertOnlyFailureRecords(t, e.backupDir, "a broken download", 1, "download backup")
					if st := d.ILO.Stats.Snapshot(); st.Calls[ilosim.EndpointDownloadGet] != 1 {
						t.Errorf("want one download attempt, got %+v", st.Calls)
					}
					d.ILO.SetResetDownloadAfter(0)
				},
				// Nothing was recorded in state: the resource is still to be created.
				Config: e.config(iloBackup(d)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{fileOnDisk(iloRes, nil), servedBy(d, false)},
			},
		},
	})
}

func TestAccILOBackup_hostileBackupLocations(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-hostile", nil)
	outside := filepath.Dir(e.backupDir) // the test's own folder, holding the store
	failures := 0                        // one record per refused location
	checkNothingWritten := func() {
		assertOnlyFailureRecords(t, outside, "a refused location", failures, "read backup service")
		if _, err := os.Stat("x"); err == nil {
			t.Error("a file x appeared in the working directory")
		}
		if got := d.ILO.Served(); len(got) != 0 {
			t.Errorf("a refused location was downloaded: %+v", got)
		}
		st := d.ILO.Stats.Snapshot()
		if n := st.Calls[ilosim.EndpointDownloadGet] + st.Calls[ilosim.EndpointDownloadPost]; n != 0 {
			t.Errorf("%d download requests for a refused location", n)
		}
	}
	var steps []resource.TestStep
	for i, loc := range []string{"/bkupdata/../../x", "//other-host/x", "https://other-host.example/bkupdata/x.bak", `/bkupdata/..\..\x`, "/bkupdata/%2e%2e/%2e%2e/x"} {
		steps = append(steps, resource.TestStep{
			PreConfig: func() {
				checkNothingWritten()
				failures++
				d.ILO.SetBackupLocation(loc)
			},
			Config:      e.config(iloBackup(d, set("trigger", fmt.Sprint(i)))),
			ExpectError: errorRE(`Backup of iLO .* failed.*read backup service failed: the iLO offered an unsafe backup location.*nothing was downloaded or written`),
		})
	}
	steps = append(steps, resource.TestStep{
		PreConfig: func() {
			checkNothingWritten()
			d.ILO.SetBackupLocation("")
		},
		Config: e.config(iloBackup(d, set("trigger", "ok"))),
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionCreate),
		}},
		ConfigStateChecks: []statecheck.StateCheck{fileOnDisk(iloRes, nil), servedBy(d, false)},
	})
	resource.ParallelTest(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccILO_noSecretsInStateOrLog runs every iLO operation with TF_LOG=trace and
// checks that neither the state file nor the log holds the iLO password, a session
// token or the backup password. It sets the process's environment, so it does not
// run in parallel.
func TestAccILO_noSecretsInStateOrLog(t *testing.T) {
	e := newSimEnv(t)
	tokens := &tokenRecorder{}
	d := e.addILOWrapped("ilo-secrets", nil, tokens.wrap)
	logFile := filepath.Join(t.TempDir(), "terraform.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TF_ACC_TEMP_DIR", tmp) // the harness's working folders, with their state files, go here
	// Secrets come from the environment, as in a real pipeline: the test harness
	// itself logs the configuration text at trace level.
	const backupPassword = "Backup-Pw-for-the-log-test"
	t.Setenv(EnvILOUsername, testILOUser)
	t.Setenv(EnvILOPassword, testILOPass)
	t.Setenv("TF_VAR_backup_password", backupPassword)
	const live = "data.infrabackup_ilo_backup.live"
	config := hclConfig(
		e.provider(unset("aruba"), unset("ilo")),
		ephemeralVariable("backup_password"),
		iloBackup(d, set("backup_password_wo", expr("var.backup_password")), set("backup_password_wo_version", 1)),
		customBackupRestore(d, true, set("depends_on", expr("["+iloRes+"]"))),
		dataBlock(live,
			set("host", expr(iloRes+".host")),
			set("port", expr(iloRes+".port")),
			set("query_device", true),
			set("depends_on", expr("["+flagRes+"]"))),
	)
	var stateFiles int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				servedBy(d, true),
				statecheck.ExpectKnownValue(live, at("custom_backup_and_restore"), knownvalue.Bool(true)),
				deviceCheck(func() error {
					var text string
					text, stateFiles = readTree(t, tmp, "terraform.tfstate")
					if !strings.Contains(text, "infrabackup_ilo_backup") {
						return fmt.Errorf("found no state file with the backup under %s", tmp)
					}
					assertNoSecrets(t, "the state file", text, append(tokens.all(), testILOPass, backupPassword)...)
					return nil
				}),
			},
		}},
	})
	if stateFiles == 0 {
		t.Fatal("no state file was checked")
	}
	if len(tokens.all()) < 3 {
		t.Fatalf("want the tokens of at least 3 sessions recorded, got %d", len(tokens.all()))
	}
	// The log must really hold the provider's own lines, including the device
	// traffic of the client subsystem, for the absence check to mean anything.
	text := readTraceLog(t, logFile, "ilo: session opened", "ilo: backup download started", "request done", "infrabackup.client: request done", "/bkupdata/")
	assertNoSecrets(t, "the trace log", text, append(tokens.all(), testILOPass, backupPassword)...)
}
