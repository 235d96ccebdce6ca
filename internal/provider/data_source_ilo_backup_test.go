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

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// TestILOBackupDataSource_refusals: what the data source refuses without a device
// or a backup to read.
func TestILOBackupDataSource_refusals(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(dataBlock("data.infrabackup_ilo_backup.none", set("host", "ilo-never-backed-up.example.com"))),
				ExpectError: errorRE(`No iLO backup found.*holds no complete ilo backup for host "ilo-never-backed-up\.example\.com"`),
			},
			{
				Config:      e.config(dataBlock("data.infrabackup_ilo_backup.both", set("host", "a"), set("name", "b"))),
				ExpectError: errorRE(`Invalid Attribute Combination`),
			},
		},
	})
}

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
	after := func(address string) option { return set("depends_on", expr("["+address+"]")) }
	config := e.config(
		iloBackup(d),
		dataBlock(byHost, set("host", expr(iloRes+".host")), after(iloRes)),
		dataBlock(byName, set("name", expr(iloRes+".name")), after(iloRes)),
		dataBlock(live, set("host", expr(iloRes+".host")), set("port", expr(iloRes+".port")), set("query_device", true), after(iloRes)),
		// Lookups by host ignore the port: "localhost" is another name for the same address.
		iloBackup(old, named("old"), set("host", "localhost")),
		dataBlock(oldDS, set("host", expr(oldRes+".host")), set("port", expr(oldRes+".port")), set("query_device", true)),
	)
	same := func(ds, attr string) statecheck.StateCheck {
		return statecheck.CompareValuePairs(ds, at(attr), iloRes, at(attr), compare.ValuesSame())
	}
	var serviceReadsBefore atomic.Int64
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					same(byHost, "id"),
					same(byHost, "local_path"),
					same(byHost, "sha256"),
					same(byHost, "size"),
					same(byHost, "completed_at"),
					same(byHost, "serial_number"),
					same(byHost, "firmware_version"),
					same(byHost, "generation"),
					same(byHost, "device_file_name"),
					statecheck.ExpectKnownValue(byHost, at("port"), knownvalue.Int64Exact(int64(d.Port))),
					statecheck.ExpectKnownValue(byHost, at("password_protected"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(byHost, at("files"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(byHost, at("http_push_uri"), knownvalue.Null()),
					statecheck.ExpectKnownValue(byHost, at("custom_backup_and_restore"), knownvalue.Null()),
					statecheck.ExpectKnownValue(byHost, at("backup_file_count"), knownvalue.Null()),
					same(byName, "id"),
					same(byName, "host"),
					same(live, "id"),
					statecheck.ExpectKnownValue(live, at("http_push_uri"), knownvalue.StringExact(ilosim.HTTPPushURI)),
					statecheck.ExpectKnownValue(live, at("custom_backup_and_restore"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(live, at("backup_file_count"), knownvalue.Int64Exact(1)),
					statecheck.CompareValuePairs(oldDS, at("id"), oldRes, at("id"), compare.ValuesSame()),
					statecheck.ExpectKnownValue(oldDS, at("generation"), knownvalue.StringExact("iLO 5")),
					statecheck.ExpectKnownValue(oldDS, at("http_push_uri"), knownvalue.StringExact(ilosim.HTTPPushURI)),
					statecheck.ExpectKnownValue(oldDS, at("custom_backup_and_restore"), knownvalue.Null()),
					deviceCheck(func() error {
						serviceReadsBefore.Store(d.ILO.Stats.Snapshot().Calls[ilosim.EndpointServiceGet])
						return nil
					}),
				},
			},
			{
				// query_device reads the live service on every refresh, and the iLO
				// writes a fresh backup to its NAND each time (as documented).
				Config:   config,
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					if got, before := d.ILO.Stats.Snapshot().Calls[ilosim.EndpointServiceGet], serviceReadsBefore.Load(); got <= before {
						t.Errorf("query_device did not read the service on refresh (%d reads before, %d after)", before, got)
					}
				},
				Config:   config,
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
	query := dataBlock("data.infrabackup_ilo_backup.live",
		set("host", d.Host), set("port", d.Port), set("query_device", true), withTimeouts("read", "2s"), set("depends_on", expr("["+iloRes+"]")))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(iloBackup(d))},
			{
				PreConfig:   func() { stall.set(true) },
				Config:      e.config(iloBackup(d), query),
				ExpectError: errorRE(fmt.Sprintf(`Reading the backup service of iLO 127\.0\.0\.1:%d failed.*read timeout \(2s\); raise timeouts\.read`, d.Port)),
			},
			{
				PreConfig: func() {
					stall.assertAbandoned(t, 1)
					stall.set(false)
				},
				Config: e.config(iloBackup(d)),
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
	trapAddr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	serial := d.ILO.Serial()
	const live = "data.infrabackup_ilo_backup.live"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(iloBackup(d))},
			{
				// The record names the trap's port: the configured port is contacted.
				PreConfig: func() { tamperRecords(t, e.backupDir, serial, d.Host, trapAddr.Port) },
				Config:    e.config(iloBackup(d), dataBlock(live, set("host", d.Host), set("port", d.Port), set("query_device", true))),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(live, at("port"), knownvalue.Int64Exact(int64(d.Port))),
					statecheck.ExpectKnownValue(live, at("http_push_uri"), knownvalue.StringExact(ilosim.HTTPPushURI)),
				},
			},
			{
				// Looked up by name, the only host known is the record's: refused at plan.
				PreConfig:   func() { tamperRecords(t, e.backupDir, serial, "localhost", trapAddr.Port) },
				Config:      e.config(iloBackup(d), dataBlock(live, set("name", serial), set("query_device", true))),
				ExpectError: errorRE(`query_device needs host`),
			},
			{Config: e.config(iloBackup(d))},
		},
	})
	if n := trapped.Load(); n != 0 {
		t.Errorf("%d requests reached the host a tampered backup record named", n)
	}
}
