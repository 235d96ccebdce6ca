package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// An iLO that links its BackupFiles collection but does not serve it (404): the
// backup, the flag resource and the data source's query_device never need the
// collection, so none of them fails. Only backup_file_count stays unknown, with a
// warning that says why.
func TestAccILOUnservedBackupFilesFailsNothing(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-nofiles", func(c *ilosim.Config) { c.BackupFilesMissing = true })
	const live = "data.infrabackup_ilo_backup.live"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.config(
				iloBackup(d),
				customBackupRestore(d, true),
				dataBlock(live, set("host", d.Host), set("port", d.Port), set("query_device", true),
					set("depends_on", expr("["+iloRes+", "+flagRes+"]"))),
			),
			ConfigStateChecks: []statecheck.StateCheck{
				servedBy(d, false),
				statecheck.ExpectKnownValue(iloRes, at("serial_number"), knownvalue.StringExact(d.ILO.Serial())),
				statecheck.ExpectKnownValue(iloRes, at("firmware_version"), knownvalue.StringExact(d.ILO.Firmware())),
				statecheck.ExpectKnownValue(iloRes, at("generation"), knownvalue.StringExact(d.ILO.Generation())),
				statecheck.ExpectKnownValue(flagRes, at("enabled"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(live, at("http_push_uri"), knownvalue.StringExact(ilosim.HTTPPushURI)),
				statecheck.ExpectKnownValue(live, at("custom_backup_and_restore"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(live, at("backup_file_count"), knownvalue.Null()),
			},
		}},
	})

	// The warning, as the provider hands it to Terraform (the backup above is still
	// in the store: destroying a backup resource keeps its files).
	diags := readILODataSourceDiagnostics(t, e, map[string]any{"host": d.Host, "port": d.Port, "query_device": true})
	if findWarning(t, diags, func(summary, detail string) bool {
		return strings.Contains(summary, "backup_file_count of iLO") && strings.Contains(detail, "count backup files") && strings.Contains(detail, "404")
	}) == nil {
		t.Errorf("no warning about backup_file_count in %+v", diags)
	}
}

// readILODataSourceDiagnostics configures the provider for e and reads the
// infrabackup_ilo_backup data source with the given arguments, through the plugin
// protocol (which, unlike an acceptance test, shows warnings).
func readILODataSourceDiagnostics(t *testing.T, e *simEnv, args map[string]any) []*tfprotov6.Diagnostic {
	t.Helper()
	p := newProtocolProvider(t)
	p.configure(map[string]any{
		"backup_dir":  e.backupDir,
		"ca_cert_pem": string(e.ca.CertPEM),
		"ilo":         map[string]any{"username": testILOUser, "password": testILOPass},
	})
	typ := p.dataSourceType("infrabackup_ilo_backup")
	resp, err := p.srv.ReadDataSource(t.Context(), &tfprotov6.ReadDataSourceRequest{
		TypeName: "infrabackup_ilo_backup",
		Config:   p.dynamic(typ, p.object(typ, args)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Diagnostics
}
