package provider

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// TestAccILOBackup_perDevicePasswords: a fleet of iLOs whose passwords differ, each
// simulator accepting only its own, backs up in one apply, the passwords coming from
// a map in an ephemeral variable (as from a secret store) through password_wo; web01
// logs in with the provider block's user name, db01 with its own username. A flag resource with its own password sets
// the flag, and its refresh, which has no password (write-only values reach only
// create and update), keeps the recorded value instead of logging in with the
// provider's, and its destroy leaves the flag. Bumping password_wo_version records
// it without contacting the iLO.
// Neither password reaches the state or a TF_LOG=trace log.
func TestAccILOBackup_perDevicePasswords(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TMPDIR", tmp) // the harness's working folders, with their state files
	t.Setenv(EnvILOUsername, "")
	t.Setenv(EnvILOPassword, "")
	passwords := map[string]string{"web01": "Web01-iLO-S3cret!", "db01": "Db01-iLO-S3cret!"}
	secretMap, err := json.Marshal(passwords)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_VAR_ilo_passwords", string(secretMap))

	e := newSimEnv(t)
	// The fleet is a list and the resource uses count: the test harness reads the
	// state through a shim that does not support for_each (the documentation's
	// example uses for_each over a map).
	sims := map[string]*iloSim{}
	index := map[string]int{}
	var fleet []string
	// db01 has an account of its own too; web01 uses the provider's user name.
	users := map[string]string{"db01": "db01-operator"}
	for _, name := range []string{"web01", "db01"} {
		sims[name] = e.addILO(name, func(c *ilosim.Config) {
			c.Password = passwords[name]
			if u := users[name]; u != "" {
				c.Username = u
			}
		})
		index[name] = len(fleet)
		user := "null"
		if u := users[name]; u != "" {
			user = fmt.Sprintf("%q", u)
		}
		fleet = append(fleet, fmt.Sprintf("{ name = %q, host = %q, port = %d, user = %s }", name, sims[name].Host, sims[name].Port, user))
	}
	fleetRes := func(name string) string { return fmt.Sprintf("infrabackup_ilo_backup.fleet[%d]", index[name]) }
	config := func(version int) string {
		return hclConfig(
			e.provider(set("ilo", object(set("username", testILOUser)))),
			&block{kind: "variable", labels: []string{"ilo_passwords"}, attrs: []attribute{
				{"type", expr("map(string)")}, {"sensitive", true}, {"ephemeral", true}}},
			&block{kind: "locals", attrs: []attribute{{"ilos", expr("[\n" + strings.Join(fleet, ",\n") + "\n]")}}},
			resourceBlock("infrabackup_ilo_backup.fleet",
				set("count", expr("length(local.ilos)")),
				set("host", expr("local.ilos[count.index].host")),
				set("port", expr("local.ilos[count.index].port")),
				set("trigger", "1"),
				set("username", expr("local.ilos[count.index].user")),
				set("password_wo", expr("var.ilo_passwords[local.ilos[count.index].name]")),
				set("password_wo_version", version)),
			customBackupRestore(sims["db01"], true,
				set("username", users["db01"]),
				set("password_wo", expr(`var.ilo_passwords["db01"]`)),
				set("password_wo_version", version)),
		)
	}
	for _, pw := range passwords {
		if strings.Contains(config(1), pw) {
			t.Fatal("the test configuration must not hold the passwords literally")
		}
	}
	var states []string
	readState := deviceCheck(func() error {
		text, n := readTree(t, tmp, "terraform.tfstate")
		if n == 0 || !strings.Contains(text, "infrabackup_ilo_backup") {
			return fmt.Errorf("found no state file with the backups under %s", tmp)
		}
		backups, _ := readTree(t, tmp, "terraform.tfstate.backup") // the prior states Terraform keeps
		states = append(states, text, backups)
		return nil
	})
	oneLoginEach := func(flagLogins int64) statecheck.StateCheck {
		return deviceCheck(func() error {
			for name, d := range sims {
				want := int64(1)
				if name == "db01" {
					want += flagLogins
				}
				if st := d.ILO.Stats.Snapshot(); st.Logins != want || st.Logouts != want || st.FailedLogins != 0 {
					return fmt.Errorf("iLO %s: want %d logins and logouts and no failed login, got %+v", name, want, st)
				}
			}
			return nil
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(1),
				ConfigStateChecks: []statecheck.StateCheck{
					fileOnDisk(fleetRes("web01"), nil), fileOnDisk(fleetRes("db01"), nil),
					flagOnDevice(sims["db01"], true),
					oneLoginEach(1), // the flag's refresh after the apply logged in nowhere
					readState,
				},
			},
			{
				Config: config(2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(fleetRes("web01"), plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(fleetRes("db01"), plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(flagRes, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(fleetRes("web01"), at("password_wo_version"), knownvalue.Int64Exact(2)),
					oneLoginEach(1), // recorded only: no device was contacted
					readState,
				},
			},
		},
	})

	// The destroy had no password for the flag resource (write-only values never reach
	// a destroy): it left the flag, with a warning, and logged in nowhere.
	if !sims["db01"].ILO.CustomBackupAndRestore() {
		t.Error("destroying the flag resource reset the flag without its password")
	}
	if st := sims["db01"].ILO.Stats.Snapshot(); st.Logins != 2 || st.FailedLogins != 0 {
		t.Errorf("the destroy logged in to db01: %+v", st)
	}

	log := readTraceLog(t, logFile, "/redfish/v1/SessionService/Sessions")
	var forms []string
	for _, pw := range passwords {
		forms = append(forms, pw, url.QueryEscape(pw))
	}
	for _, d := range sims {
		forms = append(forms, d.ILO.IssuedTokens()...)
	}
	assertNoSecrets(t, "the trace log", log, forms...)
	if len(states) != 4 {
		t.Fatalf("%d state checks ran, want 2", len(states)/2)
	}
	assertNoSecrets(t, "the state file", strings.Join(states, "\n"), forms...)
}
