package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

func TestAccILOBackupDataSource(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-ds", nil)
	old := e.addILO("ilo-ds-old", func(c *ilosim.Config) { c.Generation, c.OldFirmware = ilosim.ILO5, true })
	const (
		byHost = "data.infrabackup_ilo_backup.by_host"
		byName = "data.infrabackup_ilo_backup.by_name"
		live   = "data.infrabackup_ilo_backup.live"
		oldRes = "infrabackup_ilo_backup.old"
		oldDS  = "data.infrabackup_ilo_backup.old"
	)
	dataSources := fmt.Sprintf(`
data "infrabackup_ilo_backup" "by_host" {
  host       = infrabackup_ilo_backup.ilo.host
  depends_on = [infrabackup_ilo_backup.ilo]
}
data "infrabackup_ilo_backup" "by_name" {
  name       = infrabackup_ilo_backup.ilo.name
  depends_on = [infrabackup_ilo_backup.ilo]
}
data "infrabackup_ilo_backup" "live" {
  name         = infrabackup_ilo_backup.ilo.name
  query_device = true
  depends_on   = [infrabackup_ilo_backup.ilo]
}
resource "infrabackup_ilo_backup" "old" {
  host    = "localhost" # lookups by host ignore the port: another name for the same address
  port    = %d
  trigger = "1"
}
data "infrabackup_ilo_backup" "old" {
  name         = infrabackup_ilo_backup.old.name
  query_device = true
}
`, old.Port)
	var serviceReadsBefore int64
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.providerConfig() + `
data "infrabackup_ilo_backup" "none" {
  host = "ilo-never-backed-up.example.com"
}
`,
				ExpectError: flexRE(`No iLO backup found.*holds no complete ilo backup for host "ilo-never-backed-up\.example\.com"`),
			},
			{
				Config: e.providerConfig() + `
data "infrabackup_ilo_backup" "both" {
  host = "a"
  name = "b"
}
`,
				ExpectError: flexRE(`Invalid Attribute Combination`),
			},
			{
				Config: iloBackupConfig(e, d, "1", "") + dataSources,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair(byHost, "id", iloRes, "id"),
					resource.TestCheckResourceAttrPair(byHost, "local_path", iloRes, "local_path"),
					resource.TestCheckResourceAttrPair(byHost, "sha256", iloRes, "sha256"),
					resource.TestCheckResourceAttrPair(byHost, "size", iloRes, "size"),
					resource.TestCheckResourceAttrPair(byHost, "completed_at", iloRes, "completed_at"),
					resource.TestCheckResourceAttrPair(byHost, "serial_number", iloRes, "serial_number"),
					resource.TestCheckResourceAttrPair(byHost, "firmware_version", iloRes, "firmware_version"),
					resource.TestCheckResourceAttrPair(byHost, "generation", iloRes, "generation"),
					resource.TestCheckResourceAttrPair(byHost, "device_file_name", iloRes, "device_file_name"),
					resource.TestCheckResourceAttr(byHost, "port", fmt.Sprint(d.Port)),
					resource.TestCheckResourceAttr(byHost, "password_protected", "false"),
					resource.TestCheckResourceAttr(byHost, "files.#", "1"),
					resource.TestCheckNoResourceAttr(byHost, "http_push_uri"),
					resource.TestCheckNoResourceAttr(byHost, "custom_backup_and_restore"),
					resource.TestCheckNoResourceAttr(byHost, "backup_file_count"),
					resource.TestCheckResourceAttrPair(byName, "id", iloRes, "id"),
					resource.TestCheckResourceAttrPair(byName, "host", iloRes, "host"),
					resource.TestCheckResourceAttrPair(live, "id", iloRes, "id"),
					resource.TestCheckResourceAttr(live, "http_push_uri", ilosim.HTTPPushURI),
					resource.TestCheckResourceAttr(live, "custom_backup_and_restore", "false"),
					resource.TestCheckResourceAttr(live, "backup_file_count", "1"),
					resource.TestCheckResourceAttrPair(oldDS, "id", oldRes, "id"),
					resource.TestCheckResourceAttr(oldDS, "generation", "iLO 5"),
					resource.TestCheckResourceAttr(oldDS, "http_push_uri", ilosim.HTTPPushURI),
					resource.TestCheckNoResourceAttr(oldDS, "custom_backup_and_restore"),
					func(*terraform.State) error {
						serviceReadsBefore = d.ILO.Stats.Snapshot().Calls[ilosim.EndpointServiceGet]
						return nil
					},
				),
			},
			{
				// query_device reads the live service on every refresh, and the iLO
				// writes a fresh backup to its NAND each time (as documented).
				Config:   iloBackupConfig(e, d, "1", "") + dataSources,
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					if got := d.ILO.Stats.Snapshot().Calls[ilosim.EndpointServiceGet]; got <= serviceReadsBefore {
						t.Errorf("query_device did not read the service on refresh (%d reads before, %d after)", serviceReadsBefore, got)
					}
				},
				Config:   iloBackupConfig(e, d, "1", "") + dataSources,
				PlanOnly: true,
			},
		},
	})
}
