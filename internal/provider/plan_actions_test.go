package provider

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// Which changes update a resource in place and which replace it (for the backup and
// restore resources, a replacement is a new backup or a new restore). Each test also
// checks what the device saw: an update must not touch the device.

// expectAction is the plan check that res is planned for action before the apply.
func expectAction(res string, action plancheck.ResourceActionType) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(res, action)}}
}

// expectNoChange is the plan check that nothing at all is planned before the apply.
var expectNoChange = resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}}

func TestAccArubaBackup_planActions(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-plan", nil)
	scp := func(version int) option { return e.scp(set("password_wo_version", version)) }
	sameBackup := statecheck.CompareValue(compare.ValuesSame())
	newBackup := statecheck.CompareValue(compare.ValuesDiffer())
	oneSession := loginsAndLogouts(&c.Conductor.Stats, 1, 1) // an in-place update does not log in
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(arubaBackup(c, scp(1))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("flash_backup"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("name"), knownvalue.StringExact("mc-plan")),
					sameBackup.AddStateValue(arubaRes, at("id")),
					oneSession,
				},
			},
			{
				Config:            e.config(arubaBackup(c, scp(1))),
				ConfigPlanChecks:  expectNoChange,
				ConfigStateChecks: []statecheck.StateCheck{sameBackup.AddStateValue(arubaRes, at("id")), oneSession},
			},
			{
				// A new SCP password is recorded; the backup stays.
				Config:           e.config(arubaBackup(c, scp(2))),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("scp.password_wo_version"), knownvalue.Int64Exact(2)),
					sameBackup.AddStateValue(arubaRes, at("id")),
					oneSession,
				},
			},
			{
				Config:           e.config(arubaBackup(c, scp(2), withTimeouts("create", "10m"))),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("timeouts.create"), knownvalue.StringExact("10m")),
					statecheck.ExpectKnownValue(arubaRes, at("flash_backup"), knownvalue.Bool(true)),
					sameBackup.AddStateValue(arubaRes, at("id")),
					newBackup.AddStateValue(arubaRes, at("id")),
					oneSession,
				},
			},
			{
				Config:            e.config(arubaBackup(c, set("trigger", "2"), scp(2))),
				ConfigPlanChecks:  expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newBackup.AddStateValue(arubaRes, at("id"))},
			},
			{
				// Another spelling of the host is another device as far as Terraform knows.
				Config:            e.config(arubaBackup(c, set("host", "localhost"), set("trigger", "2"), scp(2))),
				ConfigPlanChecks:  expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newBackup.AddStateValue(arubaRes, at("id"))},
			},
			{
				// Without scp, flash_backup becomes false: a new backup.
				Config:           e.config(arubaBackup(c, set("host", "localhost"), set("trigger", "2"))),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("flash_backup"), knownvalue.Bool(false)),
					newBackup.AddStateValue(arubaRes, at("id")),
					loginsAndLogouts(&c.Conductor.Stats, 4, 4),
				},
			},
		},
	})
}

func TestAccILOBackup_planActions(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-plan", nil)
	sameBackup := statecheck.CompareValue(compare.ValuesSame())
	newBackup := statecheck.CompareValue(compare.ValuesDiffer())
	calls := &callMark{stats: &d.ILO.Stats}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            e.config(iloBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{sameBackup.AddStateValue(iloRes, at("id")), calls.mark()},
			},
			{
				Config:            e.config(iloBackup(d)),
				ConfigPlanChecks:  expectNoChange,
				ConfigStateChecks: []statecheck.StateCheck{calls.none("an apply with nothing to change")},
			},
			{
				Config:           e.config(iloBackup(d, withTimeouts("create", "10m"))),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					sameBackup.AddStateValue(iloRes, at("id")),
					newBackup.AddStateValue(iloRes, at("id")),
					calls.none("an in-place update"),
				},
			},
			{
				Config:            e.config(iloBackup(d, set("trigger", "2"))),
				ConfigPlanChecks:  expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newBackup.AddStateValue(iloRes, at("id"))},
			},
			{
				Config:            e.config(iloBackup(d, set("host", "localhost"), set("trigger", "2"))),
				ConfigPlanChecks:  expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newBackup.AddStateValue(iloRes, at("id"))},
			},
			{
				// A new backup password (its version) takes a new backup protected by it.
				Config: e.config(iloBackup(d, set("host", "localhost"), set("trigger", "2"),
					set("backup_password_wo", "Pl4n-Pw"), set("backup_password_wo_version", 1))),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(iloRes, at("password_protected"), knownvalue.Bool(true)),
					newBackup.AddStateValue(iloRes, at("id")),
				},
			},
		},
	})
}

func TestAccILORestore_planActions(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-plan", nil)
	sameRestore := statecheck.CompareValue(compare.ValuesSame())
	newRestore := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            e.config(iloBackup(d), restoreOfBackup(d)),
				ConfigStateChecks: []statecheck.StateCheck{sameRestore.AddStateValue(restoreRes, at("id")), restoresAndUploads(d, 1, 1)},
			},
			{
				Config:            e.config(iloBackup(d), restoreOfBackup(d)),
				ConfigPlanChecks:  expectNoChange,
				ConfigStateChecks: []statecheck.StateCheck{restoresAndUploads(d, 1, 1)},
			},
			{
				Config:           e.config(iloBackup(d), restoreOfBackup(d, set("backup_password_wo_version", 3), withTimeouts("create", "20m"))),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					sameRestore.AddStateValue(restoreRes, at("id")),
					newRestore.AddStateValue(restoreRes, at("id")),
					restoresAndUploads(d, 1, 1),
				},
			},
			{
				Config:            e.config(iloBackup(d), restoreOfBackup(d, set("trigger", "again"))),
				ConfigPlanChecks:  expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newRestore.AddStateValue(restoreRes, at("id")), restoresAndUploads(d, 2, 2)},
			},
			{
				Config:            e.config(iloBackup(d), restoreOfBackup(d, set("host", "localhost"), set("trigger", "again"))),
				ConfigPlanChecks:  expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{newRestore.AddStateValue(restoreRes, at("id")), restoresAndUploads(d, 3, 3)},
			},
		},
	})
}

func TestAccILOCustomBackupRestore_planActions(t *testing.T) {
	e := newSimEnv(t)
	spy := &patchSpy{}
	d := e.addILOWrapped("ilo-flag-plan", nil, spy.wrap)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             afterDestroy(flagOnDevice(d, false)),
		Steps: []resource.TestStep{
			{
				Config:            e.config(customBackupRestore(d, true)),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, true), spy.patched(http.StatusOK)},
			},
			{
				Config:            e.config(customBackupRestore(d, true)),
				ConfigPlanChecks:  expectNoChange,
				ConfigStateChecks: []statecheck.StateCheck{spy.patched()},
			},
			{
				// Only timeouts change: recorded, the iLO is not written to.
				Config:           e.config(customBackupRestore(d, true, withTimeouts("update", "1m"))),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("timeouts.update"), knownvalue.StringExact("1m")),
					spy.patched(),
				},
			},
			{
				Config:            e.config(customBackupRestore(d, false, withTimeouts("update", "1m"))),
				ConfigPlanChecks:  expectAction(flagRes, plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, false), spy.patched(http.StatusOK)},
			},
			{
				// Another host is another iLO's flag: the old one is reset (it already is
				// false: no PATCH), the new one set.
				Config:           e.config(customBackupRestore(d, true, set("host", "localhost"))),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionDestroyBeforeCreate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("id"), knownvalue.StringExact(fmt.Sprintf("localhost:%d", d.Port))),
					flagOnDevice(d, true),
					spy.patched(http.StatusOK),
				},
			},
		},
	})
}
