package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

// apstraConfigText is text of the deployed configurations the simulator renders
// (the revision comment after the first change, which the diffs hold): it is in
// the store, never in the state or a log.
var apstraConfigText = map[string]string{
	"aggregated-devices line": "aggregated-devices {",
	"BGP line":                "multipath multiple-as",
	"revision comment":        "configuration revision 1 */",
}

// apstraDeviceDiffs checks every device of res against want (node id: lines added
// and removed; a device not in want must show 0 and 0, or null when compared is
// false): a device that changed has a diff file that `files` records, with the
// SHA-256 and size on disk, holding wantLines; the others have none.
func apstraDeviceDiffs(res string, compared bool, want map[string][2]int, wantLines ...string) checkFunc {
	return func(s *tfjson.State) error {
		bps, err := apstraBlueprintsOf(s, res)
		if err != nil {
			return err
		}
		files, err := stateFiles(s, res)
		if err != nil {
			return err
		}
		seen := 0
		for _, bp := range bps {
			for _, d := range objects(bp["devices"]) {
				node := text(d["node_id"])
				counts, changed := want[node]
				gotCounts := fmt.Sprintf("%v/%v", d["lines_added"], d["lines_removed"])
				wantCounts := fmt.Sprintf("%d/%d", counts[0], counts[1])
				if !compared {
					wantCounts = "<nil>/<nil>"
				}
				if gotCounts != wantCounts || fmt.Sprint(d["changed"]) != fmt.Sprint(changed || !compared) {
					return fmt.Errorf("device %s: lines added/removed %s, changed %v; want %s, %v", node, gotCounts, d["changed"], wantCounts, changed || !compared)
				}
				key, p := text(d["diff_key"]), text(d["diff_path"])
				if !changed || !compared {
					if d["diff_key"] != nil || d["diff_path"] != nil {
						return fmt.Errorf("device %s did not change but has a diff %q / %q", node, key, p)
					}
					continue
				}
				seen++
				if !regexp.MustCompile(`^apstra/[^/]+/\d{8}T\d{6}\.\d{3}Z-bp-[A-Za-z0-9]+-cfg-[A-Za-z0-9]+-diff\.diff$`).MatchString(key) ||
					!strings.HasSuffix(p, filepath.FromSlash(key)) {
					return fmt.Errorf("device %s: diff key %q, path %q", node, key, p)
				}
				var recorded map[string]any
				for _, f := range files {
					if text(f["key"]) == key {
						recorded = f
					}
				}
				if recorded == nil || text(recorded["path"]) != p || !strings.HasSuffix(text(recorded["kind"]), "-diff") {
					return fmt.Errorf("device %s: files does not record its diff %s (%v)", node, key, recorded)
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if got := sha256Hex(data); got != text(recorded["sha256"]) || fmt.Sprint(len(data)) != text(recorded["size"]) {
					return fmt.Errorf("device %s: the diff on disk has SHA-256 %s and %d bytes; files records %v and %v", node, got, len(data), recorded["sha256"], recorded["size"])
				}
				if err := diffText(string(data), wantLines, nil); err != nil {
					return fmt.Errorf("device %s: %w", node, err)
				}
			}
		}
		if seen != len(want) {
			return fmt.Errorf("%d changed devices found, want %d (%v)", seen, len(want), want)
		}
		return nil
	}
}

// TestAccApstraBackup_configDiff takes backups of a server one of whose devices
// changes one line of its deployed configuration, then only in a line that
// ignore_lines matches; all under TF_LOG=trace, and neither the log nor the state
// may hold configuration text.
func TestAccApstraBackup_configDiff(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	e := newSimEnv(t)
	srv := e.addApstra("apstra-diff", func(c *apstrasim.Config) {
		threeBlueprints(c)
		for i := range c.Blueprints {
			c.Blueprints[i].OneLineChanges = true
		}
	})
	a := srv.Apstra
	lab := a.Blueprints()[2]
	target := lab.Managed[1]
	for _, n := range apstraConfigText {
		if cfg, _ := a.DeployedConfig(lab.ID, target); !strings.Contains(strings.Replace(cfg, "revision 0", "revision 1", 1), n) {
			t.Fatalf("the simulator's configuration lacks %q: the test searches the state and log for it", n)
		}
	}
	backup := func(trigger string, opts ...option) string {
		return e.config(apstraBackup(srv, append([]option{set("trigger", trigger)}, opts...)...))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      backup("1", withIgnoreLines(`revision (\d+`)),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)ignore_lines\[0\].*"revision \(\\\\d\+" is not a regular expression`),
			},
			{
				// The first backup: every device is new, nothing compared.
				Config: backup("1"),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraDeviceDiffs(apstraRes, false, nil),
				},
			},
			{
				// One line of one device's configuration changed.
				PreConfig: func() {
					if err := a.ChangeNodes(lab.ID, target); err != nil {
						t.Fatal(err)
					}
				},
				Config: backup("2"),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraChanges(map[string][]string{"lab": {target}}),
					apstraDeviceDiffs(apstraRes, true, map[string][2]int{target: {1, 1}},
						"\n-    /* configuration revision 0 */\n", "\n+    /* configuration revision 1 */\n"),
					apstraExportChecked(a, apstraRes),
					stateLacks(apstraConfigText),
				},
			},
			{
				// It changed again, only in the line ignore_lines matches.
				PreConfig: func() {
					if err := a.ChangeNodes(lab.ID, target); err != nil {
						t.Fatal(err)
					}
				},
				Config: backup("3", withIgnoreLines(`^\s*/\* configuration revision \d+ \*/$`)),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraChanges(map[string][]string{"lab": nil}),
					apstraDeviceDiffs(apstraRes, true, nil),
					stateLacks(apstraConfigText),
				},
			},
		},
	})
	log := readTraceLog(t, logFile, "infrabackup.client: request done", "config-rendering")
	for what, n := range apstraConfigText {
		if strings.Contains(log, n) {
			t.Errorf("the trace log holds the %s", what)
		}
	}
}
