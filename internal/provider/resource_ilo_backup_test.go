package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

const iloRes = "infrabackup_ilo_backup.ilo"

func iloBackupConfig(e *simEnv, d *iloSim, trigger, extra string) string {
	return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_ilo_backup" "ilo" {
  host    = %q
  port    = %d
  trigger = %q
%s
}
`, d.Host, d.Port, trigger, extra)
}

// checkServed asserts that the backup in state holds exactly the bytes the simulator
// served under the recorded device file name (and, with protected, a protected image).
func checkServed(d *iloSim, protected bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		name := stateAttr(s, iloRes, "device_file_name")
		sha := stateAttr(s, iloRes, "sha256")
		for _, img := range d.ILO.Served() {
			if img.Name == name && img.SHA256 == sha {
				if img.PasswordProtected != protected {
					return fmt.Errorf("served image %s: password protected = %t, want %t", name, img.PasswordProtected, protected)
				}
				if fmt.Sprint(img.Size) != stateAttr(s, iloRes, "size") {
					return fmt.Errorf("served %d bytes, state records %s", img.Size, stateAttr(s, iloRes, "size"))
				}
				return nil
			}
		}
		return fmt.Errorf("the simulator never served %s with sha256 %s (served: %+v)", name, sha, d.ILO.Served())
	}
}

// flexRE compiles an error pattern in which every space matches any run of white
// space: Terraform wraps diagnostic text at arbitrary word boundaries.
func flexRE(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)` + strings.ReplaceAll(pattern, " ", `\s+`))
}

func checkOneSession(d *iloSim) resource.TestCheckFunc {
	return func(*terraform.State) error {
		st := d.ILO.Stats.Snapshot()
		if st.Logins != 1 || st.Logouts != 1 {
			return fmt.Errorf("want exactly one login and one logout, got %+v", st)
		}
		return nil
	}
}

func TestAccILOBackup_backupAndNewTrigger(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-lab-01", func(c *ilosim.Config) { c.Generation = ilosim.ILO5 })
	serial := d.ILO.Serial()
	var firstID, firstPath string
	var callsAfterApply int64

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: iloBackupConfig(e, d, "fw-3.09", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(iloRes, "name", serial),
					resource.TestCheckResourceAttr(iloRes, "serial_number", serial),
					resource.TestCheckResourceAttr(iloRes, "generation", "iLO 5"),
					resource.TestCheckResourceAttr(iloRes, "firmware_version", d.ILO.Firmware()),
					resource.TestCheckResourceAttr(iloRes, "password_protected", "false"),
					resource.TestCheckNoResourceAttr(iloRes, "backup_password_wo"),
					resource.TestMatchResourceAttr(iloRes, "device_file_name", regexp.MustCompile(`^HPE_`+serial+`_\d{8}_\d{4}\.bak$`)),
					resource.TestMatchResourceAttr(iloRes, "device_file_location", regexp.MustCompile(`^/bkupdata/HPE_`+serial+`_\d{8}_\d{4}\.bak$`)),
					resource.TestMatchResourceAttr(iloRes, "id", regexp.MustCompile(`^`+serial+`/\d{8}T\d{6}\.\d{3}Z$`)),
					resource.TestCheckResourceAttr(iloRes, "files.#", "1"),
					resource.TestCheckResourceAttr(iloRes, "files.0.kind", "ilo-backup"),
					resource.TestMatchResourceAttr(iloRes, "files.0.path", regexp.MustCompile(`/ilo/`+serial+`/\d{8}T\d{6}\.\d{3}Z-ilo-backup\.bak$`)),
					resource.TestCheckResourceAttrPair(iloRes, "local_path", iloRes, "files.0.path"),
					resource.TestCheckResourceAttrPair(iloRes, "sha256", iloRes, "files.0.sha256"),
					resource.TestCheckResourceAttrPair(iloRes, "size", iloRes, "files.0.size"),
					resource.TestCheckResourceAttr(iloRes, "size", fmt.Sprint(testILOBackupSize)),
					checkLocalFile(iloRes, 0, nil),
					checkServed(d, false),
					checkOneSession(d),
					func(s *terraform.State) error {
						firstID, firstPath = stateAttr(s, iloRes, "id"), stateAttr(s, iloRes, "local_path")
						callsAfterApply = d.ILO.Stats.Snapshot().TotalCalls()
						return nil
					},
				),
			},
			{
				// Plan and refresh of an existing backup make no device call.
				Config:   iloBackupConfig(e, d, "fw-3.09", ""),
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					if got := d.ILO.Stats.Snapshot().TotalCalls(); got != callsAfterApply {
						t.Errorf("plan/refresh made %d device calls, want 0", got-callsAfterApply)
					}
				},
				// Only timeouts change: recorded without a new backup.
				Config: iloBackupConfig(e, d, "fw-3.09", `  timeouts = { create = "10m" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttrPtr(iloRes, "id", &firstID),
			},
			{
				// A new trigger is a new backup in a new file; the old one stays.
				Config: iloBackupConfig(e, d, "fw-3.10", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkLocalFile(iloRes, 0, nil),
					checkServed(d, false),
					func(s *terraform.State) error {
						if id := stateAttr(s, iloRes, "id"); id == firstID {
							return fmt.Errorf("a new trigger kept backup id %s", id)
						}
						if p := stateAttr(s, iloRes, "local_path"); p == firstPath {
							return fmt.Errorf("a new trigger overwrote %s", p)
						}
						if _, err := os.Stat(firstPath); err != nil {
							return fmt.Errorf("the previous backup must stay: %v", err)
						}
						if st := d.ILO.Stats.Snapshot(); st.Logins != 2 || st.Logouts != 2 {
							return fmt.Errorf("want two logins and two logouts in all, got %+v", st)
						}
						return nil
					},
				),
			},
		},
	})
	// Destroy forgets the resource; the backups stay.
	b, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyILO, serial)
	if err != nil {
		t.Fatalf("backups must survive destroy: %v", err)
	}
	if _, err := os.Stat(b.Files[0].Path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(firstPath); err != nil {
		t.Fatal(err)
	}
}

func TestAccILOBackup_passwordProtectedAndName(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-pw", nil)
	const backupPassword = "Bkp-Pa55word-0f-32-characters!!"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: iloBackupConfig(e, d, "1", `
  backup_password_wo         = "this-backup-password-is-too-long-for-an-ilo"
  backup_password_wo_version = 1
`),
				ExpectError: flexRE(`backup password is 43 characters long.*at most 32`),
			},
			{
				Config: iloBackupConfig(e, d, "1", fmt.Sprintf(`
  name                       = "dc1-rack4-ilo"
  backup_password_wo         = %q
  backup_password_wo_version = 1
`, backupPassword)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(iloRes, "name", "dc1-rack4-ilo"),
					resource.TestCheckResourceAttr(iloRes, "password_protected", "true"),
					resource.TestCheckResourceAttr(iloRes, "backup_password_wo_version", "1"),
					resource.TestCheckNoResourceAttr(iloRes, "backup_password_wo"),
					resource.TestMatchResourceAttr(iloRes, "local_path", regexp.MustCompile(`/ilo/dc1-rack4-ilo/[^/]+-ilo-backup\.bak$`)),
					checkLocalFile(iloRes, 0, nil),
					checkServed(d, true),
					checkOneSession(d),
					func(s *terraform.State) error {
						raw, _ := json.Marshal(s)
						assertNoSecrets(t, "state", string(raw), backupPassword, testILOPass)
						if served := d.ILO.Served(); served[len(served)-1].PasswordProtected != true {
							return fmt.Errorf("the last image served was not protected: %+v", served)
						}
						return nil
					},
				),
			},
			{
				// A new password version takes a new backup protected by it.
				Config: iloBackupConfig(e, d, "1", fmt.Sprintf(`
  name                       = "dc1-rack4-ilo"
  backup_password_wo         = %q
  backup_password_wo_version = 2
`, backupPassword)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(iloRes, "password_protected", "true"),
					checkServed(d, true),
				),
			},
		},
	})
}

func TestAccILOBackup_badCredentials(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-badpw", func(c *ilosim.Config) { c.Password = "the-real-password" })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      iloBackupConfig(e, d, "1", ""),
			ExpectError: flexRE(`Backup of iLO 127\.0\.0\.1:\d+ failed.*log in failed \(HTTP 401\).*refused the user name or password.*check the ilo username and password`),
		}},
	})
	if files := regularFilesUnder(t, e.backupDir); len(files) != 0 {
		t.Errorf("a failed login left files: %v", files)
	}
}

func TestAccILOBackup_sessionLimit(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-busy", func(c *ilosim.Config) { c.MaxSessions = 1 })
	logoutOther := e.openOtherSession(d)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      iloBackupConfig(e, d, "1", ""),
				ExpectError: flexRE(`log in failed \(HTTP 503\).*all session slots of the iLO are in use.*close other iLO sessions`),
			},
			{
				// Once the other tool logs out, the same configuration succeeds.
				PreConfig: func() {
					logoutOther()
					if files := regularFilesUnder(t, e.backupDir); len(files) != 0 {
						t.Errorf("a refused login left files: %v", files)
					}
				},
				Config: iloBackupConfig(e, d, "1", ""),
				Check:  resource.ComposeAggregateTestCheckFunc(checkLocalFile(iloRes, 0, nil), checkServed(d, false)),
			},
		},
	})
}

func TestAccILOBackup_resetMidDownload(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-flaky", func(c *ilosim.Config) { c.ResetDownloadAfter = 100 << 10 })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      iloBackupConfig(e, d, "1", ""),
				ExpectError: flexRE(`download backup failed: the download broke after \d+ bytes.*nothing was kept`),
			},
			{
				PreConfig: func() {
					// No partial or temporary file, no record: nothing at all.
					if files := regularFilesUnder(t, e.backupDir); len(files) != 0 {
						t.Errorf("a broken download left files: %v", files)
					}
					if st := d.ILO.Stats.Snapshot(); st.Calls[ilosim.EndpointDownloadGet] != 1 {
						t.Errorf("want one download attempt, got %+v", st.Calls)
					}
					d.ILO.SetResetDownloadAfter(0)
				},
				// Nothing was recorded in state: the resource is still to be created.
				Config: iloBackupConfig(e, d, "1", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(checkLocalFile(iloRes, 0, nil), checkServed(d, false)),
			},
		},
	})
}

func TestAccILOBackup_hostileBackupLocations(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-hostile", nil)
	outside := filepath.Dir(e.backupDir) // the test's own folder, holding the store
	checkNothingWritten := func() {
		if files := regularFilesUnder(t, outside); len(files) != 0 {
			t.Errorf("a refused location left files: %v", files)
		}
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
				d.ILO.SetBackupLocation(loc)
			},
			Config:      iloBackupConfig(e, d, fmt.Sprint(i), ""),
			ExpectError: flexRE(`Backup of iLO .* failed.*read backup service failed: the iLO offered an unsafe backup location.*nothing was downloaded or written`),
		})
	}
	steps = append(steps, resource.TestStep{
		PreConfig: func() {
			checkNothingWritten()
			d.ILO.SetBackupLocation("")
		},
		Config: iloBackupConfig(e, d, "ok", ""),
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionCreate),
		}},
		Check: resource.ComposeAggregateTestCheckFunc(checkLocalFile(iloRes, 0, nil), checkServed(d, false)),
	})
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccILO_noSecretsInStateOrLog runs every iLO operation with TF_LOG=trace and
// checks that neither the state file nor the log holds the iLO password, a session
// token or the backup password.
func TestAccILO_noSecretsInStateOrLog(t *testing.T) {
	e := newSimEnv(t)
	tokens := &tokenRecorder{}
	d := e.addILOWrapped("ilo-secrets", nil, tokens.wrap)
	logFile := filepath.Join(t.TempDir(), "terraform.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TMPDIR", tmp) // the harness's working folders, with their state files, go here
	// Secrets come from the environment, as in a real pipeline: the test harness
	// itself logs the configuration text at trace level.
	const backupPassword = "Backup-Pw-for-the-log-test"
	t.Setenv(EnvILOUsername, testILOUser)
	t.Setenv(EnvILOPassword, testILOPass)
	t.Setenv("TF_VAR_backup_password", backupPassword)
	config := e.providerConfigWithoutCredentials() + fmt.Sprintf(`
variable "backup_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
resource "infrabackup_ilo_backup" "ilo" {
  host                       = %q
  port                       = %d
  trigger                    = "1"
  backup_password_wo         = var.backup_password
  backup_password_wo_version = 1
}
resource "infrabackup_ilo_custom_backup_restore" "flag" {
  host       = %q
  port       = %d
  enabled    = true
  depends_on = [infrabackup_ilo_backup.ilo]
}
data "infrabackup_ilo_backup" "live" {
  host         = infrabackup_ilo_backup.ilo.host
  port         = infrabackup_ilo_backup.ilo.port
  query_device = true
  depends_on   = [infrabackup_ilo_custom_backup_restore.flag]
}
`, d.Host, d.Port, d.Host, d.Port)
	var stateFiles int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				checkServed(d, true),
				resource.TestCheckResourceAttr("data.infrabackup_ilo_backup.live", "custom_backup_and_restore", "true"),
				func(*terraform.State) error {
					var text string
					text, stateFiles = readTree(t, tmp, "terraform.tfstate")
					if !strings.Contains(text, "infrabackup_ilo_backup") {
						return fmt.Errorf("found no state file with the backup under %s", tmp)
					}
					assertNoSecrets(t, "the state file", text, append(tokens.all(), testILOPass, backupPassword)...)
					return nil
				},
			),
		}},
	})
	if stateFiles == 0 {
		t.Fatal("no state file was checked")
	}
	if len(tokens.all()) < 3 {
		t.Fatalf("want the tokens of at least 3 sessions recorded, got %d", len(tokens.all()))
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	// The log must really hold the provider's own lines, including the device
	// traffic of the client subsystem, for the absence check to mean anything.
	for _, want := range []string{"ilo: session opened", "ilo: backup download started", "request done", "infrabackup.client: request done", "/bkupdata/"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the trace log (%d bytes) lacks %q: provider logs are not routed to TF_ACC_LOG_PATH", len(data), want)
		}
	}
	assertNoSecrets(t, "the trace log", text, append(tokens.all(), testILOPass, backupPassword)...)
}
