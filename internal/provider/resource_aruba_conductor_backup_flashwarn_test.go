package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestArubaBackupPlanWarnsFlashClean checks that a plan that takes a conductor
// backup with flash_backup on warns that every tar file on the conductor's flash is
// deleted, and that other plans do not.
func TestArubaBackupPlanWarnsFlashClean(t *testing.T) {
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	objType, ok := schemas.ResourceSchemas["infrabackup_aruba_conductor_backup"].ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for infrabackup_aruba_conductor_backup")
	}
	scpType := objType.AttributeTypes["scp"].(tftypes.Object)
	object := func(typ tftypes.Object, set map[string]tftypes.Value) tftypes.Value {
		vals := map[string]tftypes.Value{}
		for name, at := range typ.AttributeTypes {
			vals[name] = tftypes.NewValue(at, nil)
		}
		for name, v := range set {
			vals[name] = v
		}
		return tftypes.NewValue(typ, vals)
	}
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	scp := func(withPassword bool) tftypes.Value {
		set := map[string]tftypes.Value{
			"host": str("127.0.0.1"), "username": str("mcbackup"), "host_key_fingerprint": str("SHA256:" + strings.Repeat("A", 43)),
		}
		if withPassword { // write-only: in the configuration only
			set["password_wo"] = str("pw")
		}
		return object(scpType, set)
	}
	resourceValue := func(trigger string, withSCP, withPassword bool, flash *bool) tftypes.Value {
		set := map[string]tftypes.Value{"host": str("mc1.example.net"), "trigger": str(trigger)}
		if withSCP {
			set["scp"] = scp(withPassword)
		}
		if flash != nil {
			set["flash_backup"] = tftypes.NewValue(tftypes.Bool, *flash)
		}
		return object(objType, set)
	}
	dv := func(v tftypes.Value) *tfprotov6.DynamicValue {
		d, err := tfprotov6.NewDynamicValue(objType, v)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	// state is a backup with scp and flash_backup on, as recorded after its apply.
	state := func(trigger string) tftypes.Value {
		sc := scp(false).Copy()
		var scpVals map[string]tftypes.Value
		if err := sc.As(&scpVals); err != nil {
			t.Fatal(err)
		}
		scpVals["port"] = tftypes.NewValue(tftypes.Number, 22)
		scpVals["remote_dir"] = str("")
		scpVals["verify"] = tftypes.NewValue(tftypes.Bool, true)
		scpVals["insecure_ignore_host_key"] = tftypes.NewValue(tftypes.Bool, false)
		return object(objType, map[string]tftypes.Value{
			"host": str("mc1.example.net"), "trigger": str(trigger), "id": str("mc1/20260101T000000.000Z"), "name": str("mc1"),
			"config_path": str("/md"), "flash_backup": tftypes.NewValue(tftypes.Bool, true), "scp": tftypes.NewValue(scpType, scpVals),
		})
	}
	plan := func(prior, proposed, config tftypes.Value) bool {
		t.Helper()
		resp, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
			TypeName:         "infrabackup_aruba_conductor_backup",
			PriorState:       dv(prior),
			ProposedNewState: dv(proposed),
			Config:           dv(config),
		})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityError {
				t.Errorf("plan error: %s: %s", d.Summary, d.Detail)
			}
			if d.Severity == tfprotov6.DiagnosticSeverityWarning && strings.Contains(d.Summary, "mc1.example.net") &&
				strings.Contains(d.Summary, "every tar file") && strings.Contains(d.Detail, "tar_flash_clean") &&
				strings.Contains(d.Detail, "archives an administrator made") && strings.Contains(d.Detail, "flash_backup = false") {
				found = true
			}
		}
		return found
	}
	warned := func(withSCP bool, flash *bool) bool {
		t.Helper()
		return plan(tftypes.NewValue(objType, nil), resourceValue("1", withSCP, false, flash), resourceValue("1", withSCP, true, flash))
	}
	on, off := true, false
	if !warned(true, nil) {
		t.Error("a new backup with scp (flash_backup on by default) carries no warning that every tar file on flash is deleted")
	}
	if !warned(true, &on) {
		t.Error("a new backup with flash_backup = true carries no warning that every tar file on flash is deleted")
	}
	if warned(true, &off) {
		t.Error("a backup with flash_backup = false warns about deleting tar files")
	}
	if warned(false, nil) {
		t.Error("a backup without scp (no flash archive) warns about deleting tar files")
	}
	// A plan that takes no new backup does not warn. (A replacement warns: Terraform
	// plans it again as a create, with no prior state, which is the case above.)
	if plan(state("1"), state("1"), resourceValue("1", true, true, nil)) {
		t.Error("a plan that takes no new backup warns about deleting tar files")
	}
}
