package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

func TestAccArubaBackup_localOnlyNewTriggerAndDataSource(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-lab-01", nil)
	runningConfig := func() []byte { return []byte(c.Conductor.RunningConfig()) }
	calls := &callMark{stats: &c.Conductor.Stats}
	newBackup := statecheck.CompareValue(compare.ValuesDiffer())
	kept := &backupsKept{res: arubaRes, path: "files.0.path"}
	const (
		byHost = "data.infrabackup_aruba_conductor_backup.by_host"
		byName = "data.infrabackup_aruba_conductor_backup.by_name"
	)
	dataSources := []*block{
		dataBlock(byHost, set("host", expr(arubaRes+".host")), set("depends_on", expr("["+arubaRes+"]"))),
		dataBlock(byName, set("name", expr(arubaRes+".name")), set("depends_on", expr("["+arubaRes+"]"))),
	}

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(arubaBackup(c, set("trigger", "week-1"))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("name"), knownvalue.StringExact("mc-lab-01")),
					statecheck.ExpectKnownValue(arubaRes, at("hostname"), knownvalue.StringExact("mc-lab-01")),
					statecheck.ExpectKnownValue(arubaRes, at("flash_backup"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(arubaRes, at("config_path"), knownvalue.StringExact("/md")),
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(arubaRes, at("files.0.kind"), knownvalue.StringExact("running-config")),
					statecheck.ExpectKnownValue(arubaRes, at("files.0.path"),
						knownvalue.StringRegexp(regexp.MustCompile(`/aruba/mc-lab-01/\d{8}T\d{6}\.\d{3}Z-running-config\.cfg$`))),
					statecheck.CompareValuePairs(arubaRes, at("running_config_path"), arubaRes, at("files.0.path"), compare.ValuesSame()),
					fileOnDisk(arubaRes, runningConfig),
					loginsAndLogouts(&c.Conductor.Stats, 1, 1),
					newBackup.AddStateValue(arubaRes, at("id")),
					kept.check(),
					calls.mark(),
				},
			},
			{
				Config:   e.config(arubaBackup(c, set("trigger", "week-1"))),
				PlanOnly: true,
			},
			{
				PreConfig: func() { calls.assertNoneSince(t, "plan and refresh of an existing backup") },
				// A new trigger is a new backup; the running config did not change.
				Config: e.config(arubaBackup(c, set("trigger", "week-2"))),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(false)),
					fileOnDisk(arubaRes, runningConfig),
					newBackup.AddStateValue(arubaRes, at("id")),
					kept.check(),
				},
			},
			{
				PreConfig: func() {
					c.Conductor.SetRunningConfig(string(runningConfig()) + "ap-group \"new-floor\"\n!\n")
				},
				Config: e.config(append([]*block{arubaBackup(c, set("trigger", "week-3"))}, dataSources...)...),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					fileOnDisk(arubaRes, runningConfig),
					newBackup.AddStateValue(arubaRes, at("id")),
					kept.check(),
					statecheck.CompareValuePairs(byHost, at("id"), arubaRes, at("id"), compare.ValuesSame()),
					statecheck.CompareValuePairs(byHost, at("running_config_path"), arubaRes, at("running_config_path"), compare.ValuesSame()),
					statecheck.CompareValuePairs(byHost, at("running_config_sha256"), arubaRes, at("files.0.sha256"), compare.ValuesSame()),
					statecheck.CompareValuePairs(byHost, at("completed_at"), arubaRes, at("completed_at"), compare.ValuesSame()),
					statecheck.CompareValuePairs(byName, at("id"), arubaRes, at("id"), compare.ValuesSame()),
					statecheck.ExpectKnownValue(byName, at("remote_locations"), knownvalue.ListSizeExact(0)),
				},
			},
		},
	})
	kept.assertKeptAfterDestroy(t)
	if _, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyAruba, "mc-lab-01"); err != nil {
		t.Errorf("the store must still record the backups after destroy: %v", err)
	}
}

func TestAccArubaBackup_withSCP(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-dc1", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.config(arubaBackup(c, set("name", "mc-dc1-a"), e.scp())),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(arubaRes, at("flash_backup"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(arubaRes, at("scp.password_wo"), knownvalue.Null()),
				// The files pushed by SCP are copied into the store (copy_to_store).
				statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(5)),
				statecheck.ExpectKnownValue(arubaRes, at("files.0.kind"), knownvalue.StringExact("running-config")),
				statecheck.ExpectKnownValue(arubaRes, at("files.1.kind"), knownvalue.StringExact("running-config-flash")),
				statecheck.ExpectKnownValue(arubaRes, at("files.2.kind"), knownvalue.StringExact("running-config-scp")),
				statecheck.ExpectKnownValue(arubaRes, at("files.3.kind"), knownvalue.StringExact("flash-archive")),
				statecheck.ExpectKnownValue(arubaRes, at("files.4.kind"), knownvalue.StringExact("flash-archive-scp")),
				statecheck.ExpectKnownValue(arubaRes, at("files.4.location"),
					knownvalue.StringRegexp(regexp.MustCompile(`^scp://mcbackup@127\.0\.0\.1/conductors/mc-dc1-a_\d{8}T\d{6}\.\d{3}Z-flash\.tar\.gz$`))),
				fileOnDisk(arubaRes, func() []byte { return []byte(c.Conductor.RunningConfig()) }),
				e.fileOnSCPServer(2),
				e.fileOnSCPServer(4),
				e.scpCopiesInStore(true, fromDisk),
				loginsAndLogouts(&c.Conductor.Stats, 1, 1),
				deviceCheck(func() error { return noTarOnFlash(c, "a backup") }),
			},
		}},
	})
}

// noTarOnFlash says which tar file a conductor still holds on its flash after what.
func noTarOnFlash(c *arubasim.Server, after string) error {
	for name := range c.Conductor.FlashFiles() {
		if strings.Contains(name, ".tar") {
			return fmt.Errorf("tar file %s left on the conductor's flash after %s: tar_flash_clean must run", name, after)
		}
	}
	return nil
}
