package provider

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

const backupsDS = "data.infrabackup_backups.all"

// testClock is a provider clock a test moves between steps.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) set(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
}

func TestAccBackups_fleetReport(t *testing.T) {
	e := newSimEnv(t)
	testFleetReport(t, e, e.provider())
}

func TestAccS3_backupsFleetReport(t *testing.T) {
	e := newSimEnv(t)
	testFleetReport(t, e, e.s3Provider(e.startS3(false)))
}

// testFleetReport: a fleet of two conductors and two iLOs, one of which refuses the
// provider's password. One conductor was backed up ten days ago (by the provider's
// clock). infrabackup_backups lists the four devices: the iLO failed at log in with
// the iLO's answer, the old conductor is stale against max_age = "8d", the totals
// say so, the Markdown and JUnit reports are well-formed and hold no password, and a
// check block on staleness fails (a warning) — and passes when nothing is stale.
// The failure record is not taken for a backup by the iLO data source.
func testFleetReport(t *testing.T, e *simEnv, provider *block) {
	const otherPass = "Other-iLO-Pw-77!"
	c1, c2 := e.addConductor("fleet-mc-a", nil), e.addConductor("fleet-mc-b", nil)
	i1 := e.addILO("fleet-ilo-a", nil)
	i2 := e.addILO("fleet-ilo-b", func(c *ilosim.Config) { c.Password = otherPass })
	failedName, err := backupstore.SanitizeName(i2.Host)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	mcA := resourceBlock("infrabackup_aruba_conductor_backup.a", set("host", c1.Host), set("port", c1.Port), set("trigger", "1"))
	mcB := resourceBlock("infrabackup_aruba_conductor_backup.b", set("host", c2.Host), set("port", c2.Port), set("trigger", "1"))
	iloA := resourceBlock("infrabackup_ilo_backup.a", set("host", i1.Host), set("port", i1.Port), set("trigger", "1"))
	iloB := resourceBlock("infrabackup_ilo_backup.b", set("host", i2.Host), set("port", i2.Port), set("trigger", "1"))
	all := func(opts ...option) *block {
		return dataBlock(backupsDS, append([]option{set("max_age", "8d")}, opts...)...)
	}
	// A check block (the builder writes attributes, and assert is a block).
	staleCheck := `
check "fresh" {
  assert {
    condition     = alltrue([for d in ` + backupsDS + `.devices : !d.stale])
    error_message = "Stale backups: ${join(", ", [for d in ` + backupsDS + `.devices : d.name if d.stale])}"
  }
}
`
	cfg := func(blocks ...*block) string { return hclConfig(append([]*block{provider}, blocks...)...) }
	withCheck := func(blocks ...*block) string { return cfg(blocks...) + staleCheck }
	secrets := []string{testArubaPass, testILOPass, otherPass, testSCPPass}

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"infrabackup": providerserver.NewProtocol6WithError(&infrabackupProvider{version: "test", now: clock.now}),
		},
		Steps: []resource.TestStep{
			{
				PreConfig: func() { clock.set(-10 * 24 * time.Hour) },
				Config:    cfg(mcA),
			},
			{
				PreConfig:   func() { clock.set(0) },
				Config:      cfg(mcA, mcB, iloA, iloB),
				ExpectError: errorRE(`Backup of iLO .* failed`),
			},
			{
				Config: withCheck(mcA, mcB, iloA, all()),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupsDS, at("totals"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"devices": knownvalue.Int64Exact(4), "ok": knownvalue.Int64Exact(2), "backed_up": knownvalue.Int64Exact(2),
						"stale": knownvalue.Int64Exact(2), "failed": knownvalue.Int64Exact(1),
					})),
					checkFunc(func(s *tfjson.State) error {
						return checkFleet(s, map[string]wantDevice{
							"aruba/fleet-mc-a":       {status: "stale", stale: true, outcome: "succeeded", backups: 1},
							"aruba/fleet-mc-b":       {status: "ok", outcome: "succeeded", backups: 1},
							"ilo/" + i1.ILO.Serial(): {status: "ok", outcome: "succeeded", backups: 1},
							"ilo/" + failedName:      {status: "failed", stale: true, failed: true, outcome: "failed", step: "log in", message: `(?i)log in failed.*401`},
						}, i2.Host, i2.Port, "ilo/"+failedName)
					}),
					checkFunc(func(s *tfjson.State) error {
						return checkReports(s, failedName, "fleet-mc-a", secrets)
					}),
					checkFunc(func(s *tfjson.State) error {
						return checkStatus(s, "check.fresh", tfjson.CheckStatusFail, "Stale backups: fleet-mc-a, "+failedName)
					}),
					checkFunc(func(s *tfjson.State) error {
						data, err := json.Marshal(s)
						if err != nil {
							return err
						}
						for _, p := range secrets {
							if strings.Contains(string(data), p) {
								return errors.New("the state holds a password")
							}
						}
						return nil
					}),
				},
			},
			{
				// The same check passes once every device it looks at is fresh.
				Config: withCheck(mcA, mcB, iloA, all(set("max_age", "30d"),
					set("names", expr(fmt.Sprintf("[%s, %s, %s]", hclString("fleet-mc-a"), hclString("fleet-mc-b"), hclString(i1.ILO.Serial())))))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupsDS, at("totals.devices"), knownvalue.Int64Exact(3)),
					checkFunc(func(s *tfjson.State) error { return checkStatus(s, "check.fresh", tfjson.CheckStatusPass, "") }),
				},
			},
			{
				// A failure record is never a backup: the iLO that failed has none.
				Config:      cfg(mcA, mcB, iloA, dataBlock("data.infrabackup_ilo_backup.failed", set("name", failedName))),
				ExpectError: errorRE(`holds no complete ilo backup for name`),
			},
		},
	})
}

type wantDevice struct {
	status        string
	stale, failed bool
	outcome, step string
	message       string // a regular expression
	backups       int
}

// checkFleet checks the data source's devices: exactly want's, by kind/name.
// The failed device, failedKey (kind/name), has no backup and the given address.
func checkFleet(s *tfjson.State, want map[string]wantDevice, failedHost string, failedPort int, failedKey string) error {
	devs, err := dataValues(s, backupsDS, "devices")
	if err != nil {
		return err
	}
	list, _ := devs.([]any)
	if len(list) != len(want) {
		return fmt.Errorf("%d devices, want %d: %v", len(list), len(want), list)
	}
	for _, v := range list {
		d, _ := v.(map[string]any)
		key := fmt.Sprint(d["kind"], "/", d["name"])
		w, ok := want[key]
		if !ok {
			return fmt.Errorf("unexpected device %s", key)
		}
		attempt, _ := d["last_attempt"].(map[string]any)
		latest, _ := d["latest_backup"].(map[string]any)
		if d["status"] != w.status || d["stale"] != w.stale || d["failed"] != w.failed || attempt == nil || attempt["outcome"] != w.outcome ||
			attempt["step"] != w.step || fmt.Sprint(d["backups"]) != fmt.Sprint(w.backups) {
			return fmt.Errorf("device %s: %v, want %+v", key, d, w)
		}
		if w.message != "" && !regexp.MustCompile(w.message).MatchString(fmt.Sprint(attempt["message"])) {
			return fmt.Errorf("device %s: message %q, want %s", key, attempt["message"], w.message)
		}
		if w.outcome == "failed" {
			if latest != nil || (key == failedKey && (d["host"] != failedHost || fmt.Sprint(d["port"]) != fmt.Sprint(failedPort))) {
				return fmt.Errorf("failed device %s: %v", key, d)
			}
			continue
		}
		files, _ := latest["files"].([]any)
		if len(files) == 0 {
			return fmt.Errorf("device %s: latest backup without files: %v", key, latest)
		}
		for _, f := range files {
			f, _ := f.(map[string]any)
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fmt.Sprint(f["sha256"])) {
				return fmt.Errorf("device %s: file without a sha256: %v", key, f)
			}
		}
		age, err := strconv.ParseFloat(fmt.Sprint(latest["age_seconds"]), 64)
		if err != nil {
			return fmt.Errorf("device %s: age_seconds %v", key, latest["age_seconds"])
		}
		if old := w.stale; (old && age < 9*86400) || (!old && age > 3600) {
			return fmt.Errorf("device %s: age %vs does not fit stale=%v", key, age, old)
		}
	}
	return nil
}

// checkReports parses the JUnit report and reads the Markdown table: one case per
// device, failed for the failed and the stale one, and no password anywhere.
func checkReports(s *tfjson.State, failedName, staleName string, secrets []string) error {
	md, err := attrText(s, backupsDS, "summary_markdown")
	if err != nil {
		return err
	}
	junit, err := attrText(s, backupsDS, "junit_xml")
	if err != nil {
		return err
	}
	for _, p := range secrets {
		if strings.Contains(md, p) || strings.Contains(junit, p) {
			return errors.New("a report holds a password")
		}
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type    string `xml:"type,attr"`
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(junit), &doc); err != nil {
		return fmt.Errorf("the JUnit report does not parse: %w", err)
	}
	failures := map[string]string{}
	cases := 0
	for _, su := range doc.Suites {
		for _, c := range su.Cases {
			cases++
			if c.Failure != nil {
				failures[c.Name] = c.Failure.Type + ": " + c.Failure.Message
			}
		}
	}
	if doc.Tests != 4 || doc.Failures != 2 || cases != 4 || len(failures) != 2 ||
		!strings.HasPrefix(failures[failedName], "failed: ") || !strings.Contains(failures[failedName], "log in") ||
		!strings.HasPrefix(failures[staleName], "stale: ") {
		return fmt.Errorf("JUnit: %d tests, %d failures, %d cases, failures %v", doc.Tests, doc.Failures, cases, failures)
	}
	var rows []string
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| ") {
			rows = append(rows, l)
		}
	}
	if !strings.HasPrefix(md, "### Backups on ") || !strings.Contains(md, "4 devices") || len(rows) != 6 {
		return fmt.Errorf("markdown:\n%s", md)
	}
	for _, r := range rows {
		if strings.Count(strings.ReplaceAll(r, `\|`, ""), "|") != 7 {
			return fmt.Errorf("markdown row %q does not have 6 cells", r)
		}
	}
	if !strings.Contains(md, "log in") || !strings.Contains(md, "stale") {
		return fmt.Errorf("markdown does not tell the failure and the staleness:\n%s", md)
	}
	return nil
}

// checkStatus checks the result of the check block at address in the state, and
// that its failure message holds message.
func checkStatus(s *tfjson.State, address string, want tfjson.CheckStatus, message string) error {
	for _, c := range s.Checks {
		if c.Address.ToDisplay != address {
			continue
		}
		if c.Status != want {
			return fmt.Errorf("%s is %s, want %s: %+v", address, c.Status, want, c.Instances)
		}
		if message == "" {
			return nil
		}
		for _, in := range c.Instances {
			for _, p := range in.Problems {
				if strings.Contains(p.Message, message) {
					return nil
				}
			}
		}
		return fmt.Errorf("%s failed without %q: %+v", address, message, c.Instances)
	}
	return fmt.Errorf("no result of %s in the state (%d checks)", address, len(s.Checks))
}

// dataValues is the value of attribute name of the resource or data source at address.
func dataValues(s *tfjson.State, address, name string) (any, error) {
	if s == nil || s.Values == nil || s.Values.RootModule == nil {
		return nil, errors.New("the state holds no resources")
	}
	for _, r := range s.Values.RootModule.Resources {
		if r.Address == address {
			return r.AttributeValues[name], nil
		}
	}
	return nil, fmt.Errorf("%s is not in the state", address)
}

// assertOnlyFailureRecords fails unless what is under dir is n failure records
// (nothing else: no partial or temporary file, no backup record), each naming step
// as the step that failed (any step when step is "").
func assertOnlyFailureRecords(t *testing.T, dir, after string, n int, step string) {
	t.Helper()
	files := testkit.FilesUnder(t, dir)
	if len(files) != n {
		t.Errorf("%s left %v, want %d failure records only", after, files, n)
		return
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Outcome string `json:"outcome"`
			Step    string `json:"step"`
		}
		if !strings.HasSuffix(p, ".failed.json") || json.Unmarshal(data, &rec) != nil || rec.Outcome != "failed" || (step != "" && rec.Step != step) {
			t.Errorf("%s left %s, not a failure record at step %q: %s", after, p, step, data)
		}
	}
}

// TestBackups_failureBeforeContactIsRecorded: a backup that fails before any device
// is contacted (no credentials) is recorded too, under the resource's name or else
// its host, and infrabackup_backups reports it; when the record cannot be written
// (TestUnrecordedFailureIsAWarning). It changes the environment, so it does not
// run in parallel.
func TestBackups_failureBeforeContactIsRecorded(t *testing.T) {
	t.Setenv(EnvILOUsername, "")
	t.Setenv(EnvILOPassword, "")
	dir := filepath.Join(t.TempDir(), "backups")
	provider := &block{kind: "provider", labels: []string{"infrabackup"}, attrs: []attribute{{"backup_dir", dir}}}
	byHost := resourceBlock("infrabackup_ilo_backup.a", set("host", "ilo-a.invalid"), set("trigger", "1"))
	byName := resourceBlock("infrabackup_ilo_backup.b", set("host", "ilo-b.invalid"), set("name", "web01"), set("trigger", "1"))
	want := map[string]wantDevice{
		"ilo/ilo-a.invalid": {status: "failed", stale: true, failed: true, outcome: "failed", step: "check credentials", message: `^Missing iLO credentials: The iLO ilo-a\.invalid has no user name \(set username on this resource, ilo\.username`},
		"ilo/web01":         {status: "failed", stale: true, failed: true, outcome: "failed", step: "check credentials", message: `^Missing iLO credentials`},
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      hclConfig(provider, byHost, byName),
				ExpectError: errorRE(`Missing iLO credentials`),
			},
			{
				Config: hclConfig(provider, dataBlock(backupsDS)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupsDS, at("totals"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"devices": knownvalue.Int64Exact(2), "ok": knownvalue.Int64Exact(0), "backed_up": knownvalue.Int64Exact(0),
						"stale": knownvalue.Int64Exact(2), "failed": knownvalue.Int64Exact(2),
					})),
					checkFunc(func(s *tfjson.State) error {
						return checkFleet(s, want, "ilo-a.invalid", 443, "ilo/ilo-a.invalid")
					}),
				},
			},
		},
	})
}

// TestUnrecordedFailureIsAWarning: when the failure record cannot be written (here
// the device's folder is a file), the backup's own error stays the error and a
// warning says the record is missing — for a failure before any device was
// contacted (start) and for one the backup job reports (stored). Terraform prints
// warnings apart from errors, so the diagnostics are checked here.
func TestUnrecordedFailureIsAWarning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(filepath.Join(dir, "ilo"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ilo", "blocked"), []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &providerData{store: localStore(dir), credentials: map[string]deviceCredentials{}, now: time.Now, deviceLock: &keyedMutex{}}
	_, op, diags := iloKind.start(t.Context(), d, opSpec{host: "ilo.invalid", name: "blocked", store: needStore})
	if op != nil || len(diags.Errors()) != 1 || diags.Errors()[0].Summary() != "Missing iLO credentials" ||
		len(diags.Warnings()) != 1 || diags.Warnings()[0].Summary() != "Failure not recorded in the backup store" {
		t.Fatalf("diagnostics %v, want the missing credentials and a warning", diags)
	}
	// A backup job's error that carries a record's failure.
	op = &deviceOp[*redfish.Client]{host: "ilo.invalid"}
	var got diag.Diagnostics
	cause := &client.DeviceError{Device: "ilo.invalid", Step: "log in", Message: "refused"}
	if op.stored(t.Context(), &got, "Backup of iLO ilo.invalid", &backupjob.FailureNotRecorded{Err: cause, Record: errors.New("disk full")}, nil) {
		t.Fatal("a failed backup was reported as stored")
	}
	if len(got.Errors()) != 1 || !strings.Contains(got.Errors()[0].Detail(), "log in failed: refused") ||
		len(got.Warnings()) != 1 || !strings.Contains(got.Warnings()[0].Detail(), "disk full") {
		t.Fatalf("diagnostics %v, want the backup's error and a warning naming the record's failure", got)
	}
}

// TestBackups_argumentsCheckedAtPlan: max_age, kinds, names and name_regex are
// refused at plan time with what to write instead.
func TestBackups_argumentsCheckedAtPlan(t *testing.T) {
	provider := &block{kind: "provider", labels: []string{"infrabackup"}, attrs: []attribute{{"backup_dir", t.TempDir()}}}
	for name, tc := range map[string]struct {
		opt  option
		want string
	}{
		"max_age words":   {set("max_age", "8 days"), `"8 days" is not a duration: write it like "8d"`},
		"max_age zero":    {set("max_age", "0s"), `must be longer than zero`},
		"max_age days":    {set("max_age", "xd"), `is not a number of days`},
		"unknown kind":    {set("kinds", expr(`["switch"]`)), `value must be one of`},
		"name with slash": {set("names", expr(`["a/b"]`)), `Invalid names`},
		"regex":           {set("name_regex", "mc-("), `missing closing \)`},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      hclConfig(provider, dataBlock(backupsDS, tc.opt)),
					PlanOnly:    true,
					ExpectError: errorRE(tc.want),
				}},
			})
		})
	}
}

// TestBackups_emptyStore: a store that holds nothing yet (its folder not even
// created) is an empty report, not an error.
func TestBackups_emptyStore(t *testing.T) {
	provider := &block{kind: "provider", labels: []string{"infrabackup"}, attrs: []attribute{{"backup_dir", filepath.Join(t.TempDir(), "none")}}}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(provider, dataBlock(backupsDS, set("max_age", "36h"))),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(backupsDS, at("devices"), knownvalue.ListExact([]knownvalue.Check{})),
				statecheck.ExpectKnownValue(backupsDS, at("totals.devices"), knownvalue.Int64Exact(0)),
				statecheck.ExpectKnownValue(backupsDS, at("summary_markdown"), knownvalue.StringRegexp(regexp.MustCompile(`0 devices(.|\n)*No device has a backup`))),
				statecheck.ExpectKnownValue(backupsDS, at("junit_xml"), knownvalue.StringRegexp(regexp.MustCompile(`<testsuites name="infrabackup backups" tests="0" failures="0"`))),
			},
		}},
	})
}

// TestAccBackups_failedLoginLandsBesideTheBackups: an iLO backed up under its serial
// number, then refused the provider's password: the failure happened before the iLO
// said its serial, and is recorded beside its backups all the same (found by its
// address), so the device is one device that failed, with its backup still latest.
func TestAccBackups_failedLoginLandsBesideTheBackups(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-known", nil)
	const wrong = "Not-The-iLO-Pw-1"
	wrongProvider := e.provider(set("ilo", object(set("username", testILOUser), set("password", wrong))))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(iloBackup(d))},
			{
				Config:      hclConfig(wrongProvider, iloBackup(d, set("trigger", "2"))),
				ExpectError: errorRE(`log in failed \(HTTP 401\)`),
			},
			{
				Config: e.config(dataBlock(backupsDS)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupsDS, at("devices"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"kind": knownvalue.StringExact("ilo"), "name": knownvalue.StringExact(d.ILO.Serial()),
							"status": knownvalue.StringExact("failed"), "stale": knownvalue.Bool(false), "backups": knownvalue.Int64Exact(1),
							"latest_backup": knownvalue.NotNull(),
							"last_attempt": knownvalue.ObjectPartial(map[string]knownvalue.Check{
								"outcome": knownvalue.StringExact("failed"), "step": knownvalue.StringExact("log in"),
								"message": knownvalue.StringRegexp(regexp.MustCompile(`log in failed \(HTTP 401\)`)),
							}),
						}),
					})),
				},
			},
		},
	})
}
