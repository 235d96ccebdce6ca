package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// A conductor's running config with a line that changes on every backup, as
// AOS prints when the configuration was last saved.
const (
	stampPattern = `^! Last configuration change at `
	addedLine    = `ap-group "floor-2-diffmarker"`
)

func stampedConfig(base, stamp string) string {
	return "! Last configuration change at " + stamp + " by admin\n" + base
}

func withIgnoreLines(patterns ...string) option {
	quoted := make([]string, len(patterns))
	for i, p := range patterns {
		quoted[i] = hclString(p)
	}
	return set("ignore_lines", expr("["+strings.Join(quoted, ", ")+"]"))
}

// diffFileHolds checks the running-config diff of res in a local store: the file
// at running_config_diff_path is the one `files` records (kind, key, size,
// SHA-256) and holds want, not notWant.
func diffFileHolds(res string, want []string, notWant []string) checkFunc {
	return func(s *tfjson.State) error {
		v, err := attrs(s, res, "running_config_diff_path", "running_config_diff_key")
		if err != nil {
			return err
		}
		p, key := v[0], v[1]
		if p == "" || key == "" {
			return fmt.Errorf("%s: no running_config_diff_path (%q) or key (%q)", res, p, key)
		}
		if !regexp.MustCompile(`^aruba/[^/]+/\d{8}T\d{6}\.\d{3}Z-running-config-diff\.diff$`).MatchString(key) || !strings.HasSuffix(p, filepath.FromSlash(key)) {
			return fmt.Errorf("%s: diff key %q, path %q", res, key, p)
		}
		f, err := fileOfKind(s, res, "running-config-diff")
		if err != nil {
			return err
		}
		if text(f["key"]) != key || text(f["path"]) != p {
			return fmt.Errorf("%s: files records the diff at %v / %v, running_config_diff_* say %s / %s", res, f["key"], f["path"], key, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != text(f["sha256"]) || fmt.Sprint(len(data)) != text(f["size"]) {
			return fmt.Errorf("%s: the diff on disk has SHA-256 %s and %d bytes; files records %v and %v", res, got, len(data), f["sha256"], f["size"])
		}
		return diffText(string(data), want, notWant)
	}
}

func diffText(diff string, want, notWant []string) error {
	for _, w := range want {
		if !strings.Contains(diff, w) {
			return fmt.Errorf("the diff lacks %q:\n%s", w, diff)
		}
	}
	for _, w := range notWant {
		if strings.Contains(diff, w) {
			return fmt.Errorf("the diff holds %q:\n%s", w, diff)
		}
	}
	return nil
}

// fileOfKind is the entry of res's files with the given kind.
func fileOfKind(s *tfjson.State, res, kind string) (map[string]any, error) {
	files, err := stateFiles(s, res)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if text(f["kind"]) == kind {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%s records no %s file", res, kind)
}

// noDiff checks that res recorded no diff: nothing changed outside ignore_lines.
func noDiff(res string) checkFunc {
	return func(s *tfjson.State) error {
		if _, err := fileOfKind(s, res, "running-config-diff"); err == nil {
			return fmt.Errorf("%s records a running-config-diff file", res)
		}
		v, err := attrs(s, res, "running_config_diff_path", "running_config_diff_key")
		if err != nil {
			return err
		}
		if v[0] != "" || v[1] != "" {
			return fmt.Errorf("%s: running_config_diff_path %q, key %q; want null", res, v[0], v[1])
		}
		return nil
	}
}

// stateLacks checks that no value of the state holds any of needles.
func stateLacks(needles map[string]string) checkFunc {
	return func(s *tfjson.State) error {
		data, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "lines_added") {
			return fmt.Errorf("the state dump lacks the resource's attributes")
		}
		for what, n := range needles {
			if strings.Contains(string(data), n) {
				return fmt.Errorf("the state holds the %s", what)
			}
		}
		return nil
	}
}

// TestAccArubaBackup_configDiff takes backups of a conductor whose running config
// changes by one line, then only in its timestamp line, which ignore_lines
// matches; all under TF_LOG=trace, and neither the log nor the state may hold
// configuration text.
func TestAccArubaBackup_configDiff(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	e := newSimEnv(t)
	c := e.addConductor("mc-diff", nil)
	base := c.Conductor.RunningConfig()
	c.Conductor.SetRunningConfig(stampedConfig(base, "Mon Nov 30 10:00:00 2026"))
	changed := stampedConfig(base, "Mon Nov 30 11:22:33 2026") + addedLine + "\n"
	configText := map[string]string{
		"added line":     addedLine,
		"timestamp line": "Last configuration change at Mon Nov 30 11:22:33",
		"user hash line": "mgmt-user admin root 8a3f1e2b4c5d6e7f8091a2b3c4d5e6f708192a3b",
	}
	if !strings.Contains(base, configText["user hash line"]) {
		t.Fatalf("the simulator's running config lacks %q: the test searches the state and log for it", configText["user hash line"])
	}
	const latest = "data.infrabackup_aruba_conductor_backup.latest"
	var previousPath string
	backup := func(trigger string) string {
		return e.config(arubaBackup(c, set("trigger", trigger), withIgnoreLines(`^\s*$`, stampPattern)),
			dataBlock(latest, set("name", expr(arubaRes+".name")), set("depends_on", expr("["+arubaRes+"]"))))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: backup("week-1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_added"), knownvalue.Null()),
					statecheck.ExpectKnownValue(arubaRes, at("lines_removed"), knownvalue.Null()),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(1)),
					noDiff(arubaRes),
				},
			},
			{
				// One line added, and the timestamp changed.
				PreConfig: func() { c.Conductor.SetRunningConfig(changed) },
				Config:    backup("week-2"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_added"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_removed"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(2)),
					statecheck.ExpectKnownValue(arubaRes, at("files.1.kind"), knownvalue.StringExact("running-config-diff")),
					fileOnDisk(arubaRes, func() []byte { return []byte(changed) }),
					diffFileHolds(arubaRes, []string{"\n+" + addedLine + "\n"}, []string{"Last configuration change"}),
					// The data source reports the latest backup's diff.
					statecheck.CompareValuePairs(latest, at("running_config_diff_key"), arubaRes, at("running_config_diff_key"), compare.ValuesSame()),
					statecheck.CompareValuePairs(latest, at("running_config_diff_path"), arubaRes, at("running_config_diff_path"), compare.ValuesSame()),
					stateLacks(configText),
				},
			},
			{
				// Only the ignored timestamp line changed.
				PreConfig: func() {
					c.Conductor.SetRunningConfig(stampedConfig(base, "Tue Dec 1 08:00:00 2026") + addedLine + "\n")
				},
				Config: backup("week-3"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_added"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_removed"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(1)),
					noDiff(arubaRes),
					statecheck.ExpectKnownValue(latest, at("running_config_diff_key"), knownvalue.Null()),
					stateLacks(configText),
					checkFunc(func(s *tfjson.State) error {
						p, err := attrText(s, arubaRes, "running_config_path")
						previousPath = p
						return err
					}),
				},
			},
			{
				// The previous backup's copy was damaged after it was taken: the new
				// backup stands, uncompared, with a warning.
				PreConfig: func() {
					data, err := os.ReadFile(previousPath)
					if err != nil {
						t.Fatal(err)
					}
					data[len(data)/2] ^= 0x20
					if err := os.WriteFile(previousPath, data, 0o600); err != nil {
						t.Fatal(err)
					}
					c.Conductor.SetRunningConfig(stampedConfig(base, "Wed Dec 2 08:00:00 2026"))
				},
				Config: backup("week-4"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_added"), knownvalue.Null()),
					statecheck.ExpectKnownValue(arubaRes, at("lines_removed"), knownvalue.Null()),
					noDiff(arubaRes),
				},
			},
		},
	})
	log := readTraceLog(t, logFile, "infrabackup.client: request done", "showcommand")
	for what, n := range configText {
		if strings.Contains(log, n) {
			t.Errorf("the trace log holds the %s", what)
		}
	}
	warned := false
	for _, chunk := range strings.Split(log, "Response contains warning diagnostic")[1:] {
		w := chunk[:min(len(chunk), 3000)]
		warned = warned || strings.Contains(w, "conductor "+c.Host+" not compared with its previous backup") && strings.Contains(w, "changed or damaged after the backup")
	}
	if !warned {
		t.Errorf("no warning says that the damaged previous running config was not compared")
	}
}

// An ignore_lines entry that is not a regular expression fails the plan, naming
// the entry and the pattern.
func TestAccArubaBackup_ignoreLinesInvalidRegexFailsAtPlan(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-badre", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:      e.config(arubaBackup(c, withIgnoreLines(stampPattern, `counter (\d+`))),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`(?s)ignore_lines\[1\].*"counter \(\\\\d\+" is not a regular expression.*missing closing \)`),
		}},
	})
}

// TestAccS3_configDiffLandsInTheBucket: the diff is a file of the backup in an S3
// store too, with its recorded SHA-256 checked by the server.
func TestAccS3_configDiffLandsInTheBucket(t *testing.T) {
	e := newSimEnv(t)
	b := e.startS3(false)
	c := e.addConductor("mc-diff-s3", nil)
	base := c.Conductor.RunningConfig()
	backup := func(trigger string) string {
		return hclConfig(e.s3Provider(b), arubaBackup(c, set("trigger", trigger)))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: backup("week-1")},
			{
				PreConfig: func() { c.Conductor.SetRunningConfig(base + addedLine + "\n") },
				Config:    backup("week-2"),
				ConfigStateChecks: append(stateChecks(e.inBucket(b, arubaRes), func(s *tfjson.State) error {
					key, err := attrText(s, arubaRes, "running_config_diff_key")
					if err != nil || key == "" {
						return fmt.Errorf("running_config_diff_key %q: %v", key, err)
					}
					data, _, err := b.read(context.Background(), key)
					if err != nil {
						return err
					}
					return diffText(string(data), []string{"\n+" + addedLine + "\n"}, nil)
				}),
					statecheck.ExpectKnownValue(arubaRes, at("running_config_changed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_added"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(arubaRes, at("lines_removed"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(arubaRes, at("running_config_diff_path"), knownvalue.Null()),
					statecheck.ExpectKnownValue(arubaRes, at("files.1.kind"), knownvalue.StringExact("running-config-diff")),
				),
			},
		},
	})
}
