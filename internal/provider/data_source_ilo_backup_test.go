package provider

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
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
  host         = infrabackup_ilo_backup.ilo.host
  port         = infrabackup_ilo_backup.ilo.port
  query_device = true
  depends_on   = [infrabackup_ilo_backup.ilo]
}
resource "infrabackup_ilo_backup" "old" {
  host    = "localhost" # lookups by host ignore the port: another name for the same address
  port    = %d
  trigger = "1"
}
data "infrabackup_ilo_backup" "old" {
  host         = infrabackup_ilo_backup.old.host
  port         = infrabackup_ilo_backup.old.port
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

// TestAccILOBackupDataSource_queryTimeout: a stalled answer to query_device cannot
// hold up the plan for longer than the data source's read timeout.
func TestAccILOBackupDataSource_queryTimeout(t *testing.T) {
	e := newSimEnv(t)
	stall := &bodyStall{}
	d := e.addILOWrapped("ilo-ds-stall", nil, stall.wrap)
	query := fmt.Sprintf(`
data "infrabackup_ilo_backup" "live" {
  host         = %q
  port         = %d
  query_device = true
  timeouts     = { read = "2s" }
  depends_on   = [infrabackup_ilo_backup.ilo]
}
`, d.Host, d.Port)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: iloBackupConfig(e, d, "1", "")},
			{
				PreConfig:   func() { stall.set(true) },
				Config:      iloBackupConfig(e, d, "1", "") + query,
				ExpectError: flexRE(fmt.Sprintf(`Reading the backup service of iLO 127\.0\.0\.1:%d failed.*read timeout \(2s\); raise timeouts\.read`, d.Port)),
			},
			{
				PreConfig: func() {
					checkStallsAbandoned(t, stall, 1)
					stall.set(false)
				},
				Config: iloBackupConfig(e, d, "1", ""),
			},
		},
	})
}

// tamperRecords rewrites host and port in every backup record of the iLO backup
// folder name, as someone with write access to a shared store could.
func tamperRecords(t *testing.T, backupDir, name, host string, port int) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(backupDir, "ilo", name, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no backup records of %s (%v)", name, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		rec["host"], rec["port"] = host, port
		if data, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAccILOBackupDataSource_queryContactsOnlyConfiguredHost: query_device sends the
// iLO credentials only to the host and port the configuration names, never to
// wherever a (tampered) backup record points.
func TestAccILOBackupDataSource_queryContactsOnlyConfiguredHost(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-ds-trust", nil)
	var trapped atomic.Int64
	trap := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		http.Error(w, "not an iLO", http.StatusTeapot)
	}))
	l, err := e.ca.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	trap.Listener = l // trusted like the iLOs: the provider would log in to it
	trap.Start()
	t.Cleanup(trap.Close)
	trapPort := l.Addr().(*net.TCPAddr).Port
	serial := d.ILO.Serial()
	const live = "data.infrabackup_ilo_backup.live"
	byHost := fmt.Sprintf(`
data "infrabackup_ilo_backup" "live" {
  host         = %q
  port         = %d
  query_device = true
}
`, d.Host, d.Port)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: iloBackupConfig(e, d, "1", "")},
			{
				// The record names the trap's port: the configured port is contacted.
				PreConfig: func() { tamperRecords(t, e.backupDir, serial, d.Host, trapPort) },
				Config:    iloBackupConfig(e, d, "1", "") + byHost,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(live, "port", fmt.Sprint(d.Port)),
					resource.TestCheckResourceAttr(live, "http_push_uri", ilosim.HTTPPushURI),
				),
			},
			{
				// Looked up by name, the only host known is the record's: refused at plan.
				PreConfig: func() { tamperRecords(t, e.backupDir, serial, "localhost", trapPort) },
				Config: iloBackupConfig(e, d, "1", "") + fmt.Sprintf(`
data "infrabackup_ilo_backup" "live" {
  name         = %q
  query_device = true
}
`, serial),
				ExpectError: flexRE(`query_device needs host`),
			},
			{Config: iloBackupConfig(e, d, "1", "")},
		},
	})
	if n := trapped.Load(); n != 0 {
		t.Errorf("%d requests reached the host a tampered backup record named", n)
	}
}
