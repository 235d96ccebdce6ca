package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
)

// Deployed configurations that could not be compared give one warning, naming at
// most ten of them and counting the rest; none gives none.
func TestWarnNotComparedListsTheDevices(t *testing.T) {
	bp := backupjob.ApstraBlueprint{Label: "dc-east"}
	for i := range 12 {
		d := backupjob.ApstraDevice{NodeID: fmt.Sprintf("node-%02d", i)}
		if i%2 == 0 {
			d.Diff.Skipped = "the previous bp-x-cfg-y was not compared: it was damaged"
		}
		bp.Deployed = append(bp.Deployed, d, backupjob.ApstraDevice{NodeID: fmt.Sprintf("other-%02d", i)})
	}
	var diags diag.Diagnostics
	warnNotCompared("apstra 192.0.2.7", []backupjob.ApstraBlueprint{bp}, &diags)
	if len(diags) != 1 || diags.WarningsCount() != 1 {
		t.Fatalf("diagnostics %v, want one warning", diags)
	}
	d := diags[0]
	if d.Summary() != "6 deployed configurations of apstra 192.0.2.7 not compared with the previous backup" ||
		!strings.Contains(d.Detail(), "- node-10 (blueprint dc-east): the previous bp-x-cfg-y was not compared: it was damaged") ||
		strings.Contains(d.Detail(), "other-") || strings.Contains(d.Detail(), "more") {
		t.Errorf("warning %q: %q", d.Summary(), d.Detail())
	}
	for range 8 {
		bp.Deployed = append(bp.Deployed, backupjob.ApstraDevice{NodeID: "late", Diff: backupjob.TextDiff{Skipped: "too large"}})
	}
	diags = nil
	warnNotCompared("apstra 192.0.2.7", []backupjob.ApstraBlueprint{bp}, &diags)
	if len(diags) != 1 || strings.Count("\n"+diags[0].Detail(), "\n- ") != 11 || !strings.Contains(diags[0].Detail(), "- and 4 more") {
		t.Errorf("14 devices: %q", diags[0].Detail())
	}
	diags = nil
	warnNotCompared("apstra 192.0.2.7", []backupjob.ApstraBlueprint{{Deployed: []backupjob.ApstraDevice{{NodeID: "a"}}}}, &diags)
	if len(diags) != 0 {
		t.Errorf("all compared: %v", diags)
	}
}
