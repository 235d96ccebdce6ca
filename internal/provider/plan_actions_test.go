package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// Which changes update a resource in place and which replace it (for the backup and
// restore resources, a replacement is a new backup or a new restore). Each test also
// counts the device's calls: an update must not touch the device.

func expectAction(res string, action plancheck.ResourceActionType) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(res, action)}}
}

// checkSameAttr asserts that attribute key still holds *want.
func checkSameAttr(res, key string, want *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		if got := stateAttr(s, res, key); got != *want {
			return fmt.Errorf("%s.%s changed from %q to %q", res, key, *want, got)
		}
		return nil
	}
}

// checkNewAttr asserts that attribute key no longer holds *old, and remembers the new value.
func checkNewAttr(res, key string, old *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		got := stateAttr(s, res, key)
		if got == *old {
			return fmt.Errorf("%s.%s kept %q: no new backup was taken", res, key, got)
		}
		*old = got
		return nil
	}
}

func TestAccArubaBackup_planActions(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-plan", nil)
	scp := func(version int) string {
		return strings.Replace(e.scpBlock(), "  }\n", fmt.Sprintf("    password_wo_version = %d\n  }\n", version), 1)
	}
	config := func(host, trigger, extra string) string {
		return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_aruba_conductor_backup" "mc" {
  host    = %q
  port    = %d
  trigger = %q
%s
}
`, host, c.Port, trigger, extra)
	}
	var id string
	var logins int64
	unchanged := func(*terraform.State) error {
		if got := c.Conductor.Stats.Snapshot().Logins; got != logins {
			return fmt.Errorf("an in-place update logged in to the conductor (%d logins, %d before)", got, logins)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(c.Host, "1", scp(1)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "flash_backup", "true"),
					resource.TestCheckResourceAttr(arubaRes, "name", "mc-plan"),
					checkNewAttr(arubaRes, "id", &id),
					func(*terraform.State) error { logins = c.Conductor.Stats.Snapshot().Logins; return nil },
				),
			},
			{
				Config:           config(c.Host, "1", scp(1)),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionNoop),
				Check:            unchanged,
			},
			{
				// A new SCP password is recorded; the backup stays.
				Config:           config(c.Host, "1", scp(2)),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "scp.password_wo_version", "2"),
					checkSameAttr(arubaRes, "id", &id),
					unchanged,
				),
			},
			{
				Config:           config(c.Host, "1", scp(2)+`  timeouts = { create = "10m" }`),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "timeouts.create", "10m"),
					resource.TestCheckResourceAttr(arubaRes, "flash_backup", "true"),
					checkSameAttr(arubaRes, "id", &id),
					unchanged,
				),
			},
			{
				Config:           config(c.Host, "2", scp(2)),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            checkNewAttr(arubaRes, "id", &id),
			},
			{
				// Another spelling of the host is another device as far as Terraform knows.
				Config:           config("localhost", "2", scp(2)),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            checkNewAttr(arubaRes, "id", &id),
			},
			{
				// Without scp, flash_backup becomes false: a new backup.
				Config:           config("localhost", "2", ""),
				ConfigPlanChecks: expectAction(arubaRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "flash_backup", "false"),
					checkNewAttr(arubaRes, "id", &id),
				),
			},
		},
	})
}

func TestAccILOBackup_planActions(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-plan", nil)
	config := func(host, trigger, extra string) string {
		return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_ilo_backup" "ilo" {
  host    = %q
  port    = %d
  trigger = %q
%s
}
`, host, d.Port, trigger, extra)
	}
	var id string
	var calls int64
	unchanged := func(*terraform.State) error {
		if got := d.ILO.Stats.Snapshot().TotalCalls(); got != calls {
			return fmt.Errorf("an in-place update made %d device calls", got-calls)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(d.Host, "1", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkNewAttr(iloRes, "id", &id),
					func(*terraform.State) error { calls = d.ILO.Stats.Snapshot().TotalCalls(); return nil },
				),
			},
			{
				Config:           config(d.Host, "1", ""),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionNoop),
				Check:            unchanged,
			},
			{
				Config:           config(d.Host, "1", `  timeouts = { create = "10m" }`),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionUpdate),
				Check:            resource.ComposeAggregateTestCheckFunc(checkSameAttr(iloRes, "id", &id), unchanged),
			},
			{
				Config:           config(d.Host, "2", ""),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            checkNewAttr(iloRes, "id", &id),
			},
			{
				Config:           config("localhost", "2", ""),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            checkNewAttr(iloRes, "id", &id),
			},
			{
				// A new backup password (its version) takes a new backup protected by it.
				Config:           config("localhost", "2", "  backup_password_wo = \"Pl4n-Pw\"\n  backup_password_wo_version = 1\n"),
				ConfigPlanChecks: expectAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(iloRes, "password_protected", "true"),
					checkNewAttr(iloRes, "id", &id),
				),
			},
		},
	})
}

func TestAccILORestore_planActions(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-plan", nil)
	config := func(host, extra string) string {
		return e.providerConfig() + iloBackupBlock(d, "") + fmt.Sprintf(`
resource "infrabackup_ilo_restore" "r" {
  host        = %q
  port        = %d
  backup_file = infrabackup_ilo_backup.ilo.local_path
%s
}
`, host, d.Port, extra)
	}
	var id string
	var restores int
	unchanged := func(*terraform.State) error {
		if got := d.ILO.Restores(); got != restores {
			return fmt.Errorf("an in-place update restored the iLO (%d restores, %d before)", got, restores)
		}
		return nil
	}
	restoredAgain := func(*terraform.State) error {
		if got := d.ILO.Restores(); got != restores+1 {
			return fmt.Errorf("want one more restore, the iLO has %d (%d before)", got, restores)
		}
		restores = d.ILO.Restores()
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(d.Host, ""),
				Check:  resource.ComposeAggregateTestCheckFunc(checkNewAttr(restoreRes, "id", &id), restoredAgain),
			},
			{
				Config:           config(d.Host, ""),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionNoop),
				Check:            unchanged,
			},
			{
				Config:           config(d.Host, "  backup_password_wo_version = 3\n  timeouts = { create = \"20m\" }\n"),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionUpdate),
				Check:            resource.ComposeAggregateTestCheckFunc(checkSameAttr(restoreRes, "id", &id), unchanged),
			},
			{
				Config:           config(d.Host, "  trigger = \"again\"\n"),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            resource.ComposeAggregateTestCheckFunc(checkNewAttr(restoreRes, "id", &id), restoredAgain),
			},
			{
				Config:           config("localhost", "  trigger = \"again\"\n"),
				ConfigPlanChecks: expectAction(restoreRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check:            resource.ComposeAggregateTestCheckFunc(checkNewAttr(restoreRes, "id", &id), restoredAgain),
			},
		},
	})
}

func TestAccILOCustomBackupRestore_planActions(t *testing.T) {
	e := newSimEnv(t)
	spy := &patchSpy{}
	d := e.addILOWrapped("ilo-flag-plan", nil, spy.wrap)
	config := func(host string, enabled bool, extra string) string {
		return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_ilo_custom_backup_restore" "flag" {
  host    = %q
  port    = %d
  enabled = %t
%s
}
`, host, d.Port, enabled, extra)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             checkDeviceFlag(d, false),
		Steps: []resource.TestStep{
			{
				Config: config(d.Host, true, ""),
				Check:  resource.ComposeAggregateTestCheckFunc(checkDeviceFlag(d, true), checkPatches(spy, 200)),
			},
			{
				Config:           config(d.Host, true, ""),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionNoop),
				Check:            checkPatches(spy),
			},
			{
				// Only timeouts change: recorded, the iLO is not written to.
				Config:           config(d.Host, true, `  timeouts = { update = "1m" }`),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "timeouts.update", "1m"),
					checkPatches(spy),
				),
			},
			{
				Config:           config(d.Host, false, `  timeouts = { update = "1m" }`),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionUpdate),
				Check:            resource.ComposeAggregateTestCheckFunc(checkDeviceFlag(d, false), checkPatches(spy, 200)),
			},
			{
				// Another host is another iLO's flag: the old one is reset (it already is
				// false: no PATCH), the new one set.
				Config:           config("localhost", true, ""),
				ConfigPlanChecks: expectAction(flagRes, plancheck.ResourceActionDestroyBeforeCreate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "id", fmt.Sprintf("localhost:%d", d.Port)),
					checkDeviceFlag(d, true),
					checkPatches(spy, 200),
				),
			},
		},
	})
}
