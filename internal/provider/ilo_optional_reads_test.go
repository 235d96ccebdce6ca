package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// An iLO that links its BackupFiles collection but does not serve it (404): the
// backup, the flag resource and the data source's query_device never need the
// collection, so none of them fails. Only backup_file_count stays unknown, with a
// warning that says why.
func TestAccILOUnservedBackupFilesFailsNothing(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-nofiles", func(c *ilosim.Config) { c.BackupFilesMissing = true })
	const (
		flagRes = "infrabackup_ilo_custom_backup_restore.flag"
		live    = "data.infrabackup_ilo_backup.live"
	)
	config := iloBackupConfig(e, d, "1", "") + fmt.Sprintf(`
resource "infrabackup_ilo_custom_backup_restore" "flag" {
  host    = %q
  port    = %d
  enabled = true
}
data "infrabackup_ilo_backup" "live" {
  host         = %q
  port         = %d
  query_device = true
  depends_on   = [infrabackup_ilo_backup.ilo, infrabackup_ilo_custom_backup_restore.flag]
}
`, d.Host, d.Port, d.Host, d.Port)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				checkServed(d, false),
				resource.TestCheckResourceAttr(iloRes, "serial_number", d.ILO.Serial()),
				resource.TestCheckResourceAttr(iloRes, "firmware_version", d.ILO.Firmware()),
				resource.TestCheckResourceAttr(iloRes, "generation", d.ILO.Generation()),
				resource.TestCheckResourceAttr(flagRes, "enabled", "true"),
				resource.TestCheckResourceAttr(live, "http_push_uri", ilosim.HTTPPushURI),
				resource.TestCheckResourceAttr(live, "custom_backup_and_restore", "true"),
				resource.TestCheckNoResourceAttr(live, "backup_file_count"),
			),
		}},
	})

	// The warning, as the provider hands it to Terraform (the backup above is still
	// in the store: destroying a backup resource keeps its files).
	diags := readILODataSourceDiagnostics(t, e, map[string]any{"host": d.Host, "port": d.Port, "query_device": true})
	var warned bool
	for _, dg := range diags {
		if dg.Severity == tfprotov6.DiagnosticSeverityError {
			t.Errorf("error: %s: %s", dg.Summary, dg.Detail)
		}
		if dg.Severity == tfprotov6.DiagnosticSeverityWarning && strings.Contains(dg.Summary, "backup_file_count of iLO") &&
			strings.Contains(dg.Detail, "count backup files") && strings.Contains(dg.Detail, "404") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning about backup_file_count in %+v", diags)
	}
}

// readILODataSourceDiagnostics configures the provider for e and reads the
// infrabackup_ilo_backup data source with the given arguments, through the plugin
// protocol (which, unlike an acceptance test, shows warnings).
func readILODataSourceDiagnostics(t *testing.T, e *simEnv, args map[string]any) []*tfprotov6.Diagnostic {
	t.Helper()
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	providerType, ok := schemas.Provider.ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for the provider")
	}
	cfg := protoObject(t, providerType, map[string]any{
		"backup_dir":  e.backupDir,
		"ca_cert_pem": string(e.ca.CertPEM),
		"ilo":         map[string]any{"username": testILOUser, "password": testILOPass},
	})
	cresp, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: protoDynamic(t, providerType, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dg := range cresp.Diagnostics {
		if dg.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("configure: %s: %s", dg.Summary, dg.Detail)
		}
	}
	dsType, ok := schemas.DataSourceSchemas["infrabackup_ilo_backup"].ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for the data source")
	}
	rresp, err := srv.ReadDataSource(ctx, &tfprotov6.ReadDataSourceRequest{
		TypeName: "infrabackup_ilo_backup",
		Config:   protoDynamic(t, dsType, protoObject(t, dsType, args)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rresp.Diagnostics
}

// protoObject builds an object value of typ: the attributes in set (nested objects
// as maps), every other one null.
func protoObject(t *testing.T, typ tftypes.Object, set map[string]any) tftypes.Value {
	t.Helper()
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		switch v := set[name].(type) {
		case nil:
			vals[name] = tftypes.NewValue(at, nil)
		case map[string]any:
			ot, ok := at.(tftypes.Object)
			if !ok {
				t.Fatalf("attribute %s is not an object", name)
			}
			vals[name] = protoObject(t, ot, v)
		default:
			vals[name] = tftypes.NewValue(at, v)
		}
	}
	for name := range set {
		if _, ok := typ.AttributeTypes[name]; !ok {
			t.Fatalf("no attribute %s", name)
		}
	}
	return tftypes.NewValue(typ, vals)
}

func protoDynamic(t *testing.T, typ tftypes.Type, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	d, err := tfprotov6.NewDynamicValue(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return &d
}
