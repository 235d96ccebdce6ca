package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

const apstraData = "data.infrabackup_apstra_backup.fabric"

// stateValues is the attribute values of the resource or data source at address.
func stateValues(s *tfjson.State, address string) (map[string]any, error) {
	if s == nil || s.Values == nil || s.Values.RootModule == nil {
		return nil, errors.New("the state holds no resources")
	}
	for _, r := range s.Values.RootModule.Resources {
		if r.Address == address {
			return r.AttributeValues, nil
		}
	}
	return nil, fmt.Errorf("%s is not in the state", address)
}

// apstraBlueprintsOf is blueprints_backed_up of address.
func apstraBlueprintsOf(s *tfjson.State, address string) ([]map[string]any, error) {
	v, err := stateValues(s, address)
	if err != nil {
		return nil, err
	}
	return objects(v["blueprints_backed_up"]), nil
}

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// apstraExportChecked checks a backup of a against the server: every store file
// has the recorded SHA-256; each blueprint's graph file parses and holds the
// server's node and relationship counts; every managed system's deployed
// configuration is there, byte for byte; every other system node is skipped with a
// reason.
func apstraExportChecked(a *apstrasim.Apstra, address string) checkFunc {
	return func(s *tfjson.State) error {
		files, err := stateFiles(s, address)
		if err != nil {
			return err
		}
		for _, f := range files {
			data, err := os.ReadFile(text(f["path"]))
			if err != nil {
				return err
			}
			if got := sha256Hex(data); got != text(f["sha256"]) {
				return fmt.Errorf("%s: SHA-256 on disk %s, recorded %s", text(f["path"]), got, text(f["sha256"]))
			}
		}
		bps, err := apstraBlueprintsOf(s, address)
		if err != nil {
			return err
		}
		infos := a.Blueprints()
		if len(bps) != len(infos) {
			return fmt.Errorf("%d blueprints backed up, the server has %d", len(bps), len(infos))
		}
		for i, info := range infos {
			bp := bps[i]
			if text(bp["id"]) != info.ID || text(bp["label"]) != info.Label || text(bp["version"]) != fmt.Sprint(info.Version) {
				return fmt.Errorf("blueprint %d is %v/%v version %v, want %s/%s version %d", i, bp["id"], bp["label"], bp["version"], info.ID, info.Label, info.Version)
			}
			var graph struct {
				ID            string                     `json:"id"`
				Nodes         map[string]json.RawMessage `json:"nodes"`
				Relationships map[string]json.RawMessage `json:"relationships"`
			}
			data, err := os.ReadFile(text(bp["graph_path"]))
			if err != nil {
				return err
			}
			if err := json.Unmarshal(data, &graph); err != nil {
				return fmt.Errorf("graph of %s does not parse: %v", info.Label, err)
			}
			if graph.ID != info.ID || len(graph.Nodes) != info.Nodes || len(graph.Relationships) != info.Relationships {
				return fmt.Errorf("graph of %s: id %s, %d nodes, %d relationships; the server has %d and %d",
					info.Label, graph.ID, len(graph.Nodes), len(graph.Relationships), info.Nodes, info.Relationships)
			}
			var deployed []string
			for _, d := range objects(bp["devices"]) {
				node := text(d["node_id"])
				deployed = append(deployed, node)
				want, ok := a.DeployedConfig(info.ID, node)
				got, err := os.ReadFile(text(d["path"]))
				if !ok || err != nil || string(got) != want {
					return fmt.Errorf("%s: the deployed configuration of %s is not in the store as served (%v)", info.Label, node, err)
				}
			}
			if !slices.Equal(deployed, info.Managed) {
				return fmt.Errorf("%s: devices %v, want the managed systems %v", info.Label, deployed, info.Managed)
			}
			reasons := map[string]string{}
			var skipped []string
			for _, sk := range objects(bp["skipped"]) {
				skipped = append(skipped, text(sk["node_id"]))
				reasons[text(sk["node_id"])] = text(sk["reason"])
			}
			if want := append(slices.Clone(info.Unmanaged), info.StagingOnly...); !slices.Equal(skipped, want) {
				return fmt.Errorf("%s: skipped %v, want %v", info.Label, skipped, want)
			}
			for _, n := range info.Unmanaged {
				if !strings.HasPrefix(reasons[n], "not managed") {
					return fmt.Errorf("%s: %s skipped for %q, want not managed", info.Label, n, reasons[n])
				}
			}
			for _, n := range info.StagingOnly {
				if !strings.HasPrefix(reasons[n], "not deployed") {
					return fmt.Errorf("%s: %s skipped for %q, want not deployed", info.Label, n, reasons[n])
				}
			}
		}
		return nil
	}
}

// apstraChanges checks which blueprints (by label) and devices the backup reports
// changed (the resource apstraRes).
func apstraChanges(want map[string][]string) checkFunc {
	return func(s *tfjson.State) error {
		bps, err := apstraBlueprintsOf(s, apstraRes)
		if err != nil {
			return err
		}
		for _, bp := range bps {
			label := text(bp["label"])
			devices, changed := want[label]
			if fmt.Sprint(bp["changed"]) != fmt.Sprint(changed) {
				return fmt.Errorf("%s: changed = %v, want %v", label, bp["changed"], changed)
			}
			if devices == nil {
				devices = []string{}
			}
			got := stringList(bp["changed_devices"])
			slices.Sort(got)
			devices = slices.Sorted(slices.Values(devices))
			if !slices.Equal(got, devices) {
				return fmt.Errorf("%s: changed devices %v, want %v", label, got, devices)
			}
		}
		return nil
	}
}

func TestAccApstraBackup_threeBlueprintsAndChanges(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-dc", threeBlueprints)
	a := srv.Apstra
	infos := a.Blueprints()
	var changedWest []string
	changedLab := infos[2].Managed[1:3]
	backup := func(trigger string) *block { return apstraBackup(srv, set("trigger", trigger)) }
	ds := dataBlock(apstraData, set("host", srv.Host))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(backup("1")),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraExportChecked(a, apstraRes),
					loginsAndLogouts(&a.Stats, 1, 1),
					// The first backup of a server: everything is new.
					apstraChanges(map[string][]string{
						"dc-east": infos[0].Managed, "dc-west": infos[1].Managed, "lab": infos[2].Managed}),
				},
			},
			{
				// The data source reads the latest backup from the store, no server call.
				Config: e.config(backup("1"), ds),
				ConfigStateChecks: []statecheck.StateCheck{
					loginsAndLogouts(&a.Stats, 1, 1),
					statecheck.CompareValuePairs(apstraData, tfjsonpath.New("id"), apstraRes, tfjsonpath.New("id"), compare.ValuesSame()),
					statecheck.CompareValuePairs(apstraData, at("blueprints_backed_up.1.graph_path"), apstraRes, at("blueprints_backed_up.1.graph_path"), compare.ValuesSame()),
					statecheck.CompareValuePairs(apstraData, at("blueprints_backed_up.2.devices.3.path"), apstraRes, at("blueprints_backed_up.2.devices.3.path"), compare.ValuesSame()),
					statecheck.CompareValuePairs(apstraData, at("blueprints_backed_up.0.skipped"), apstraRes, at("blueprints_backed_up.0.skipped"), compare.ValuesSame()),
					apstraExportChecked(a, apstraData),
				},
			},
			{
				// Nothing changed on the server.
				Config: e.config(backup("2")),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraChanges(nil),
					loginsAndLogouts(&a.Stats, 2, 2),
				},
			},
			{
				PreConfig: func() {
					var err error
					if changedWest, err = a.ChangeBlueprint(infos[1].ID, 1); err != nil {
						t.Fatal(err)
					}
					if err := a.ChangeNodes(infos[2].ID, changedLab...); err != nil {
						t.Fatal(err)
					}
				},
				Config: e.config(backup("3")),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraExportChecked(a, apstraRes),
					checkFunc(func(s *tfjson.State) error {
						return apstraChanges(map[string][]string{"dc-west": changedWest, "lab": changedLab})(s)
					}),
					loginsAndLogouts(&a.Stats, 3, 3),
				},
			},
		},
	})
}

func TestAccApstraBackup_selectedBlueprints(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-sel", threeBlueprints)
	west := srv.Apstra.Blueprints()[1]
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(apstraBackup(srv, set("blueprints", expr(`["lab", "dc-north"]`)))),
				ExpectError: errorRE(`no blueprint has the id or label "dc-north"`),
			},
			{
				Config: e.config(apstraBackup(srv, set("blueprints", expr(fmt.Sprintf(`[%q, "lab"]`, west.ID))))),
				ConfigStateChecks: []statecheck.StateCheck{
					checkFunc(func(s *tfjson.State) error {
						bps, err := apstraBlueprintsOf(s, apstraRes)
						if err != nil {
							return err
						}
						var labels []string
						for _, bp := range bps {
							labels = append(labels, text(bp["label"]))
						}
						if !slices.Equal(labels, []string{"dc-west", "lab"}) {
							return fmt.Errorf("backed up %v, want dc-west and lab", labels)
						}
						return nil
					}),
				},
			},
		},
	})
}

func TestAccApstraBackup_tokenExpiresMidBackup(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-exp", threeBlueprints)
	a := srv.Apstra
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() {
				// Once the backup has made a few calls, the server drops its session.
				// The catalog, exported last, is slow, so that the drop always comes
				// before the backup ends.
				a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultSlow, PathPrefix: "/api/design/", Times: 1, Delay: 500 * time.Millisecond})
				go func() {
					deadline := time.Now().Add(time.Minute)
					for a.Stats.Snapshot().TotalCalls() < 6 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					a.ExpireNextCalls(1)
				}()
			},
			Config: e.config(apstraBackup(srv)),
			ConfigStateChecks: []statecheck.StateCheck{
				apstraExportChecked(a, apstraRes),
				deviceCheck(func() error {
					st := a.Stats.Snapshot()
					if st.Logins != 2 || st.ExpiredSessions != 1 || st.Logouts != 1 || st.FailedLogins != 0 {
						return fmt.Errorf("want one expired session, one new login and one logout, got %+v", st)
					}
					return nil
				}),
			},
		}},
	})
}

func TestAccApstraBackup_refusedPassword(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-pw", nil)
	a := srv.Apstra
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(e.provider(set("apstra", object(set("username", testApstraUser), set("password", "not-the-password")))),
				apstraBackup(srv)),
			ExpectError: errorRE(`apstra 127\.0\.0\.1:\d+: log in failed \(HTTP 401\): Invalid credentials. check the apstra username and password`),
		}},
	})
	st := a.Stats.Snapshot()
	if st.FailedLogins != 1 || st.Logins != 0 {
		t.Errorf("want exactly one refused login attempt, got %+v", st)
	}
	if banned := a.BannedAddresses(); len(banned) != 0 {
		t.Errorf("a refused password must not lead to a ban: %v banned", banned)
	}
	assertOnlyFailureRecords(t, e.backupDir, "a refused login", 1, "log in")
}

func TestAccApstraBackup_throttledWaitsAndCompletes(t *testing.T) {
	e := newSimEnv(t)
	var mu sync.Mutex
	var configPath string
	var seen []time.Time // when the throttled path was asked for
	srv := e.addApstraWrapped("apstra-429", threeBlueprints, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if r.URL.Path == configPath {
				seen = append(seen, time.Now())
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	a := srv.Apstra
	info := a.Blueprints()[0]
	configPath = "/api/blueprints/" + info.ID + "/nodes/" + info.Managed[0] + "/config-rendering"
	const retryAfter = 2 * time.Second
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() {
				a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultTooManyRequests, PathPrefix: configPath, Times: 1, RetryAfter: retryAfter})
			},
			Config: e.config(apstraBackup(srv)),
			ConfigStateChecks: []statecheck.StateCheck{
				apstraExportChecked(a, apstraRes),
				loginsAndLogouts(&a.Stats, 1, 1),
				deviceCheck(func() error {
					mu.Lock()
					defer mu.Unlock()
					if len(seen) != 2 {
						return fmt.Errorf("the throttled call was made %d times, want 2 (refused, then repeated)", len(seen))
					}
					if waited := seen[1].Sub(seen[0]); waited < retryAfter {
						return fmt.Errorf("the call was repeated after %v, before the %v Retry-After asked for", waited, retryAfter)
					}
					return nil
				}),
			},
		}},
	})
}

func TestAccApstraBackup_resetMidBlueprint(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-cut", func(c *apstrasim.Config) {
		threeBlueprints(c)
		c.Blueprints[1].Nodes = 5000
	})
	a := srv.Apstra
	west := a.Blueprints()[1]
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig:   func() { a.CutNextDownload(west.ID, 100<<10) },
			Config:      e.config(apstraBackup(srv)),
			ExpectError: errorRE(`apstra 127\.0\.0\.1:\d+: download the graph of blueprint "dc-west" \(id ` + west.ID + `\) failed.*broke off`),
		}},
	})
	loginsAndLogoutsNow(t, &a.Stats, 1, 1)
	assertOnlyFailureRecords(t, e.backupDir, "a backup cut in the middle of a blueprint", 1, "")
	if _, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyApstra, srv.Host); !errors.Is(err, backupstore.ErrNoBackup) {
		t.Errorf("the store must list no backup, got %v", err)
	}
}

func loginsAndLogoutsNow(t *testing.T, stats *devicesim.Stats, logins, logouts int64) {
	t.Helper()
	if err := loginsAndLogouts(stats, logins, logouts)(nil); err != nil {
		t.Error(err)
	}
}

func TestAccApstraBackup_snapshot(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-snap", nil)
	a := srv.Apstra
	ssh := e.addApstraSSH(srv)
	other := e.addApstraSSH(e.addApstra("apstra-other", nil)) // another server: another host key
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(apstraBackup(srv, apstraSnapshot(ssh, set("host_key", other.AuthorizedKey())))),
				ExpectError: errorRE(`SSH host key mismatch`),
			},
			{
				PreConfig: func() {
					if n := len(a.Snapshots()); n != 0 {
						t.Errorf("with a wrong host key, aos_backup ran %d times", n)
					}
				},
				Config: e.config(apstraBackup(srv, apstraSnapshot(ssh))),
				ConfigStateChecks: []statecheck.StateCheck{
					apstraExportChecked(a, apstraRes),
					checkFunc(func(s *tfjson.State) error {
						files, err := stateFiles(s, apstraRes)
						if err != nil {
							return err
						}
						snaps := a.Snapshots()
						if len(snaps) != 1 {
							return fmt.Errorf("aos_backup ran %d times, want once", len(snaps))
						}
						for _, f := range files {
							if text(f["kind"]) != "aos-snapshot" {
								continue
							}
							if text(f["sha256"]) != snaps[0].SHA256 || text(f["size"]) != fmt.Sprint(snaps[0].Size) {
								return fmt.Errorf("stored snapshot %v, the server wrote %+v", f, snaps[0])
							}
							if ssh.Exists(snaps[0].Path) {
								return fmt.Errorf("%s is still on the server", snaps[0].Path)
							}
							return nil
						}
						return errors.New("no aos-snapshot file in the backup")
					}),
				},
			},
		},
	})
}

func TestAccApstraBackup_s3(t *testing.T) {
	e := newSimEnv(t)
	srv := e.addApstra("apstra-s3", threeBlueprints)
	b := e.startS3(false)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(e.s3Provider(b), apstraBackup(srv)),
			ConfigStateChecks: []statecheck.StateCheck{
				e.inBucket(b, apstraRes),
				bucketHoldsExactly(t, b, apstraRes),
				loginsAndLogouts(&srv.Apstra.Stats, 1, 1),
			},
		}},
	})
}
