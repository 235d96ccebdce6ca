package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// TestILORestore_backupNameCheckedAtPlan: a backup_id or backup_key that cannot
// name an iLO backup in the store is refused by terraform plan, before its
// destructive-restore warning, with what the value should look like; the iLO is
// never contacted. Values known only at apply (another resource's id or key) pass.
func TestILORestore_backupNameCheckedAtPlan(t *testing.T) {
	e := newSimEnv(t)
	s, err := ilosim.Start(e.ca, iloConfig("ilo-restore-plan", nil)) // contacted by no step: no TF_ACC needed
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.ilos = append(e.ilos, s.ILO)
	d := &iloSim{Host: s.Host, Port: s.Port, ILO: s.ILO}
	t.Cleanup(func() { // after every case
		if n := d.ILO.Stats.Snapshot().TotalCalls(); n != 0 {
			t.Errorf("plan-time refusals contacted the iLO %d times", n)
		}
	})
	const (
		idForm  = `a backup id looks like <name>/<backup id>, e\.g\. CZ1234567X/20261125T101500\.123Z`
		keyForm = `looks like ilo/<name>/<backup id>-ilo-backup\.bak, e\.g\. ilo/CZ1234567X/20261125T101500\.123Z-ilo-backup\.bak`
	)
	for name, tc := range map[string]struct {
		attribute, value, want string
	}{
		"id without slash":      {"backup_id", "CZ1234567X", `Invalid backup_id.*"CZ1234567X" is not a backup id: it has no '/'; ` + idForm},
		"id with a date":        {"backup_id", "CZ1234567X/2026-01-01", `"CZ1234567X/2026-01-01" is not a backup id: "2026-01-01" after the '/' is not the UTC time a backup started, like 20261125T101500\.123Z; ` + idForm},
		"id with no month 13":   {"backup_id", "CZ1234567X/20261301T101500.123Z", `"20261301T101500\.123Z" after the '/' is not the UTC time a backup started`},
		"id with a path":        {"backup_id", "../etc/20261125T101500.123Z", `device name "\.\." must not start with '\.'.*` + idForm},
		"id of a key":           {"backup_id", "ilo/CZ1234567X/20261125T101500.123Z-ilo-backup.bak", `Invalid backup_id.*is not a backup id`},
		"key of a conductor":    {"backup_key", "aruba/mc1/20260101T000000.000Z-running-config.cfg", `Invalid backup_key.*"aruba/mc1/20260101T000000\.000Z-running-config\.cfg" is not the key of an iLO backup file; the key of an iLO backup file ` + keyForm},
		"key of another kind":   {"backup_key", "ilo/CZ1234567X/20260101T000000.000Z-ilo-backup.tar.gz", `is not the key of an iLO backup file; .*` + keyForm},
		"key escaping":          {"backup_key", "ilo/../20260101T000000.000Z-ilo-backup.bak", `is not the key of a backup file: object key .* has a segment starting with '\.'.*` + keyForm},
		"absolute path":         {"backup_key", "/var/backups/ilo/CZ1234567X/20260101T000000.000Z-ilo-backup.bak", `is not the key of a backup file: object key .* empty segment.*` + keyForm},
		"key without backup id": {"backup_key", "ilo/CZ1234567X/ilo-backup.bak", `does not start with a backup id and '-'.*` + keyForm},
		"id as key":             {"backup_key", "CZ1234567X/20261125T101500.123Z", `has 2 parts separated by '/'.*` + keyForm},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      e.config(resourceBlock(restoreRes, set("host", d.Host), set("port", d.Port), set(tc.attribute, tc.value))),
					PlanOnly:    true,
					ExpectError: errorRE(tc.want),
				}},
			})
		})
	}
	for _, attribute := range []string{"backup_id", "backup_key"} {
		t.Run("unknown "+attribute, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:             e.config(iloBackup(d), restoreFromStore(d, attribute)),
					PlanOnly:           true,
					ExpectNonEmptyPlan: true,
				}},
			})
		})
	}
	for name, tc := range map[string]struct{ attribute, value string }{
		"well-formed id":  {"backup_id", "CZ1234567X/20261125T101500.123Z"},
		"well-formed key": {"backup_key", "ilo/CZ1234567X/20261125T101500.123Z-ilo-backup.bak"},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:             e.config(resourceBlock(restoreRes, set("host", d.Host), set("port", d.Port), set(tc.attribute, tc.value))),
					PlanOnly:           true,
					ExpectNonEmptyPlan: true,
				}},
			})
		})
	}
}
