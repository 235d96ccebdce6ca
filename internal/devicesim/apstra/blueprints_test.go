package apstra

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

type graphDoc struct {
	ID            string                     `json:"id"`
	Label         string                     `json:"label"`
	Design        string                     `json:"design"`
	Version       int                        `json:"version"`
	LastModified  string                     `json:"last_modified_at"`
	Nodes         map[string]json.RawMessage `json:"nodes"`
	Relationships map[string]struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		SourceID string `json:"source_id"`
		TargetID string `json:"target_id"`
	} `json:"relationships"`
}

type nodeDoc struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Label      *string `json:"label"`
	SystemID   *string `json:"system_id"`
	DeployMode *string `json:"deploy_mode"`
	Role       string  `json:"role"`
}

func bpConfig() BlueprintConfig {
	return BlueprintConfig{Label: "dc-east", ManagedSystems: 5, UnmanagedSystems: 2, StagingOnlySystems: 1, Nodes: 200, Relationships: 333}
}

// The graph is Apstra's export shape, holds the configured numbers of nodes and
// relationships, every relationship joins two of its nodes, and what the API serves
// is byte for byte what WriteBlueprint writes.
func TestBlueprintGraphShape(t *testing.T) {
	c := start(t, Config{Blueprints: []BlueprintConfig{bpConfig(), {Label: "dc-west", Design: "freeform"}}})
	c.login("/api/aaa/login")
	var list struct {
		Items []struct {
			ID                    string `json:"id"`
			Label                 string `json:"label"`
			Design                string `json:"design"`
			Status                string `json:"status"`
			Version               int    `json:"version"`
			LastModifiedAt        string `json:"last_modified_at"`
			HasUncommittedChanges bool   `json:"has_uncommitted_changes"`
		} `json:"items"`
	}
	c.getJSON("/api/blueprints", &list)
	infos := c.a.Blueprints()
	if len(list.Items) != 2 || len(infos) != 2 {
		t.Fatalf("list %+v", list)
	}
	for i, it := range list.Items {
		if it.ID != infos[i].ID || it.Label != infos[i].Label || it.Version != infos[i].Version || it.Status != "created" || it.LastModifiedAt == "" {
			t.Fatalf("item %+v, info %+v", it, infos[i])
		}
	}
	if !list.Items[0].HasUncommittedChanges || list.Items[1].HasUncommittedChanges || list.Items[1].Design != "freeform" {
		t.Fatalf("items %+v", list.Items)
	}
	var ids struct{ Items []string }
	resp, body := c.do(http.MethodOptions, "/api/blueprints", nil, nil)
	if resp.StatusCode != 200 || json.Unmarshal(body, &ids) != nil || !slices.Equal(ids.Items, []string{infos[0].ID, infos[1].ID}) {
		t.Fatalf("OPTIONS: %d %s", resp.StatusCode, body)
	}

	info := infos[0]
	resp, body = c.do(http.MethodGet, "/api/blueprints/"+info.ID, nil, nil)
	if resp.StatusCode != 200 || resp.ContentLength != -1 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d, length %d, type %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	var want bytes.Buffer
	if err := c.a.WriteBlueprint(info.ID, &want); err != nil || !bytes.Equal(body, want.Bytes()) {
		t.Fatalf("served graph differs from WriteBlueprint (%v)", err)
	}
	var g graphDoc
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatal(err)
	}
	if g.ID != info.ID || g.Label != "dc-east" || g.Design != "two_stage_l3clos" || g.Version != info.Version || g.LastModified == "" {
		t.Fatalf("graph header %+v", g)
	}
	if len(g.Nodes) != 200 || len(g.Relationships) != 333 {
		t.Fatalf("%d nodes, %d relationships", len(g.Nodes), len(g.Relationships))
	}
	var managed, unmanaged, staging []string
	types := map[string]int{}
	for id, raw := range g.Nodes {
		var n nodeDoc
		if err := json.Unmarshal(raw, &n); err != nil || n.ID != id {
			t.Fatalf("node %s: %v %s", id, err, raw)
		}
		types[n.Type]++
		if n.Type != "system" {
			continue
		}
		switch {
		case n.SystemID == nil:
			unmanaged = append(unmanaged, id)
		case strings.HasPrefix(*n.Label, "leaf-new-"):
			staging = append(staging, id)
		default:
			managed = append(managed, id)
		}
	}
	for _, s := range [][]string{managed, unmanaged, staging, info.Managed, info.Unmanaged, info.StagingOnly} {
		sort.Strings(s)
	}
	if !slices.Equal(managed, info.Managed) || !slices.Equal(unmanaged, info.Unmanaged) || !slices.Equal(staging, info.StagingOnly) ||
		len(managed) != 5 || len(unmanaged) != 2 || len(staging) != 1 {
		t.Fatalf("systems %v %v %v; info %+v", managed, unmanaged, staging, info)
	}
	if types["interface"] == 0 || types["link"] == 0 || types["virtual_network"] == 0 {
		t.Fatalf("node types %v", types)
	}
	for id, r := range g.Relationships {
		if r.ID != id || g.Nodes[r.SourceID] == nil || g.Nodes[r.TargetID] == nil || r.SourceID == r.TargetID {
			t.Fatalf("relationship %+v", r)
		}
	}

	// The lighter node listing: only the systems.
	var nodes struct{ Nodes map[string]nodeDoc }
	c.getJSON("/api/blueprints/"+info.ID+"/nodes?node_type=system", &nodes)
	if len(nodes.Nodes) != 8 {
		t.Fatalf("%d system nodes", len(nodes.Nodes))
	}
	resp, body = c.do(http.MethodGet, "/api/blueprints/no-such-id", nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "Blueprint no-such-id of type staging not found")
	st := c.a.Stats.Snapshot()
	if st.Calls[EndpointBlueprint] != 2 || st.Calls[EndpointNodes] != 1 || st.Calls["OPTIONS /api/blueprints"] != 1 {
		t.Fatalf("calls %v", st.Calls)
	}
}

// config-rendering serves a deployed managed system's configuration, 422 for a node
// that is not a managed system (or no node), 404 for a system that exists only in
// staging when the deployed configuration is asked, and 422 with an object of errors
// for a bad type.
func TestConfigRendering(t *testing.T) {
	c := start(t, Config{Blueprints: []BlueprintConfig{bpConfig()}})
	c.login("/api/aaa/login")
	info := c.a.Blueprints()[0]
	base := "/api/blueprints/" + info.ID + "/nodes/"
	for _, id := range info.Managed {
		var out struct{ Config string }
		c.getJSON(base+id+"/config-rendering?type=deployed", &out)
		want, ok := c.a.DeployedConfig(info.ID, id)
		if !ok || out.Config != want || !strings.Contains(out.Config, "host-name ") || len(out.Config) < DefaultConfigSize/2 {
			t.Fatalf("config of %s: %.100q", id, out.Config)
		}
	}
	for _, id := range info.Unmanaged {
		resp, body := c.do(http.MethodGet, base+id+"/config-rendering?type=deployed", nil, nil)
		wantError(t, resp, body, http.StatusUnprocessableEntity, "is not a system with an assigned device")
		if _, ok := c.a.DeployedConfig(info.ID, id); ok {
			t.Fatal("DeployedConfig of an unmanaged node")
		}
	}
	staged := info.StagingOnly[0]
	resp, body := c.do(http.MethodGet, base+staged+"/config-rendering?type=deployed", nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "does not exist in the deployed blueprint")
	var out struct{ Config string }
	c.getJSON(base+staged+"/config-rendering?type=staging", &out)
	if !strings.Contains(out.Config, "leaf-new-001") {
		t.Fatalf("staging config %.80q", out.Config)
	}
	// A node that is not a system, and one that does not exist.
	var nodes struct{ Nodes map[string]nodeDoc }
	c.getJSON("/api/blueprints/"+info.ID+"/nodes?node_type=link", &nodes)
	for id := range nodes.Nodes {
		resp, body = c.do(http.MethodGet, base+id+"/config-rendering?type=deployed", nil, nil)
		wantError(t, resp, body, http.StatusUnprocessableEntity, "is not a system")
		break
	}
	resp, body = c.do(http.MethodGet, base+"nope/config-rendering?type=deployed", nil, nil)
	wantError(t, resp, body, http.StatusUnprocessableEntity, "No node with id: nope")
	resp, body = c.do(http.MethodGet, base+info.Managed[0]+"/config-rendering", nil, nil)
	var e struct {
		ErrorCode int               `json:"error_code"`
		Errors    map[string]string `json:"errors"`
	}
	if resp.StatusCode != 422 || json.Unmarshal(body, &e) != nil || e.Errors["type"] == "" {
		t.Fatalf("no type: HTTP %d %s", resp.StatusCode, body)
	}
	if n := c.a.Stats.Snapshot().Calls[EndpointConfigRendering]; n != int64(len(info.Managed)+len(info.Unmanaged)+5) {
		t.Fatalf("%d config-rendering calls", n)
	}
}

// Deploy state, revisions and the connectivity-template export have Apstra's shapes,
// and a change moves the version, adds a revision and changes exactly the chosen
// systems' graph nodes and deployed configurations.
func TestDeployRevisionsCTsAndChange(t *testing.T) {
	c := start(t, Config{Blueprints: []BlueprintConfig{{ManagedSystems: 6, Nodes: 100}}})
	c.login("/api/aaa/login")
	info := c.a.Blueprints()[0]
	p := "/api/blueprints/" + info.ID
	var deploy struct {
		State   string  `json:"state"`
		Version int     `json:"version"`
		Error   *string `json:"error"`
	}
	c.getJSON(p+"/deploy", &deploy)
	if deploy.State != "success" || deploy.Version != info.Version || deploy.Error != nil {
		t.Fatalf("deploy %+v, version %d", deploy, info.Version)
	}
	type revs struct {
		Items []struct {
			RevisionID  string `json:"revision_id"`
			Description string `json:"description"`
			CreatedAt   string `json:"created_at"`
			User        string `json:"user"`
		} `json:"items"`
	}
	var before revs
	c.getJSON(p+"/revisions", &before)
	if len(before.Items) != 2 || before.Items[0].RevisionID != "2" || before.Items[0].User != "admin" {
		t.Fatalf("revisions %+v", before)
	}
	var cts struct{ Policies []map[string]any }
	c.getJSON(p+"/obj-policy-export", &cts)
	if len(cts.Policies) < 2 || cts.Policies[0]["policy_type_name"] != "batch" {
		t.Fatalf("policies %v", cts.Policies)
	}

	hashGraph := func() [32]byte {
		_, body := c.do(http.MethodGet, p, nil, nil)
		return sha256.Sum256(body)
	}
	configs := func() map[string]string {
		out := map[string]string{}
		for _, id := range info.Managed {
			var cfg struct{ Config string }
			c.getJSON(p+"/nodes/"+id+"/config-rendering?type=deployed", &cfg)
			out[id] = cfg.Config
		}
		return out
	}
	g0, c0 := hashGraph(), configs()
	if hashGraph() != g0 {
		t.Fatal("two downloads of an unchanged blueprint differ")
	}
	c.clock.Advance(time.Hour)
	changed, err := c.a.ChangeBlueprint(info.ID, 2)
	if err != nil || len(changed) != 2 {
		t.Fatalf("%v %v", changed, err)
	}
	g1, c1 := hashGraph(), configs()
	if g1 == g0 {
		t.Fatal("the graph did not change")
	}
	for _, id := range info.Managed {
		if (c1[id] != c0[id]) != slices.Contains(changed, id) {
			t.Fatalf("node %s: changed %v, in %v", id, c1[id] != c0[id], changed)
		}
	}
	c.getJSON(p+"/deploy", &deploy)
	var after revs
	c.getJSON(p+"/revisions", &after)
	now, _ := c.a.Blueprint(info.ID)
	if now.Version != info.Version+1 || deploy.Version != now.Version || len(after.Items) != 3 || after.Items[0].RevisionID != "3" ||
		!strings.HasPrefix(after.Items[0].CreatedAt, "2025-03-14T10:26:53") {
		t.Fatalf("version %d→%d, deploy %+v, revisions %+v", info.Version, now.Version, deploy, after)
	}
	// The next change takes the next systems.
	next, _ := c.a.ChangeBlueprint(info.ID, 2)
	if slices.ContainsFunc(next, func(id string) bool { return slices.Contains(changed, id) }) {
		t.Fatalf("second change %v repeats %v", next, changed)
	}
	if err := c.a.ChangeNodes(info.ID, info.Managed[5]); err != nil {
		t.Fatal(err)
	}
	if err := c.a.ChangeNodes(info.ID, "nope"); err == nil {
		t.Fatal("ChangeNodes of an unknown node")
	}
}

// Every design catalog and resource pool collection answers {"items":[...]} to GET
// and the ids to OPTIONS; pool counters are strings; nothing holds a password.
func TestCatalogAndPools(t *testing.T) {
	c := start(t, Config{CatalogItems: 4, Password: "pw-Not-Anywhere"})
	c.login("/api/aaa/login")
	paths := CatalogPaths()
	if len(paths) != 15 {
		t.Fatalf("%d catalog paths", len(paths))
	}
	for _, p := range append(paths, "/api/systems", "/api/aaa/users", "/api/aaa/roles") {
		resp, body := c.do(http.MethodGet, p, nil, nil)
		var doc struct{ Items []map[string]any }
		if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || len(doc.Items) == 0 {
			t.Fatalf("%s: HTTP %d %.200s", p, resp.StatusCode, body)
		}
		if bytes.Contains(body, []byte("pw-Not-Anywhere")) {
			t.Fatalf("%s holds the password", p)
		}
		if strings.HasPrefix(p, "/api/resources/") {
			if _, ok := doc.Items[0]["used"].(string); !ok || len(doc.Items) != 4 {
				t.Fatalf("%s: %v", p, doc.Items[0])
			}
		}
		var ids struct{ Items []string }
		resp, body = c.do(http.MethodOptions, p, nil, nil)
		if resp.StatusCode != 200 || json.Unmarshal(body, &ids) != nil || len(ids.Items) != len(doc.Items) {
			t.Fatalf("OPTIONS %s: HTTP %d %.200s", p, resp.StatusCode, body)
		}
	}
	var features map[string]struct{ Status string }
	c.getJSON("/api/features", &features)
	var version struct{ Major, Minor, Version, Build string }
	c.token = "" // the version is read before logging in
	c.getJSON("/api/versions/api", &version)
	if version.Major != "6" || version.Minor != "1" || version.Version != "6.1.2" || len(features) == 0 {
		t.Fatalf("version %+v, features %v", version, features)
	}
	resp, body := c.do(http.MethodGet, "/api/design/templates", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgNoToken)
}

// A cut armed for a blueprint resets the connection in the middle of its next
// download, and only that one.
func TestCutBlueprintDownload(t *testing.T) {
	c := start(t, Config{Blueprints: []BlueprintConfig{{Nodes: 2000}}})
	c.login("/api/aaa/login")
	info := c.a.Blueprints()[0]
	c.a.CutNextDownload(info.ID, 100<<10)
	resp, err := c.req(http.MethodGet, "/api/blueprints/"+info.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n != 100<<10 {
		t.Fatalf("read %d bytes, error %v; want a cut at %d", n, err, 100<<10)
	}
	_, body := c.do(http.MethodGet, "/api/blueprints/"+info.ID, nil, nil)
	var g graphDoc
	if err := json.Unmarshal(body, &g); err != nil || len(g.Nodes) != 2000 {
		t.Fatalf("second download: %v, %d nodes", err, len(g.Nodes))
	}
}

// Injected faults reach the API: 429 with Retry-After, malformed JSON, resets.
func TestFaultsReachTheAPI(t *testing.T) {
	c := start(t, Config{})
	c.login("/api/aaa/login")
	c.a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultTooManyRequests, PathPrefix: "/api/blueprints", Times: 1, RetryAfter: 2 * time.Second})
	resp, _ := c.do(http.MethodGet, "/api/blueprints", nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("HTTP %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	c.a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultReset, PathPrefix: "/api/blueprints", Times: 1})
	// On a fresh connection: net/http repeats a GET that a reused one lost.
	c.hc.Transport.(*http.Transport).CloseIdleConnections()
	if _, err := c.req(http.MethodGet, "/api/blueprints", nil, nil); err == nil {
		t.Fatal("no reset")
	}
	if resp, _ := c.do(http.MethodGet, "/api/blueprints", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("HTTP %d after the faults", resp.StatusCode)
	}
}

// Node ids map back to their index, so lookups need no table.
func TestNodeIDsRoundTrip(t *testing.T) {
	bp := newBlueprint([8]byte{1}, 1, BlueprintConfig{}.withDefaults(1), epoch)
	for _, i := range []int{0, 1, 63, 12345, 1 << 30} {
		if bp.cfg.Nodes <= i {
			bp.cfg.Nodes = i + 1
		}
		id := bp.nodeID(i)
		if j, ok := bp.nodeIndex(id); !ok || j != i || len(id) != 11 {
			t.Fatalf("%d → %q → %d %v", i, id, j, ok)
		}
	}
	for _, id := range []string{"", "short", "zzzzzzzzzzz", "!!!!!!!!!!!", bp.nodeID(bp.cfg.Nodes)} {
		if _, ok := bp.nodeIndex(id); ok {
			t.Fatalf("%q found", id)
		}
	}
}

// A 50 MB graph streams while the heap (server and the reading client together)
// grows by a small fraction of it: the simulator never builds a graph in memory.
func TestLargeBlueprintStreamsInBoundedMemory(t *testing.T) {
	const growthLimit = 16 << 20
	c := start(t, Config{Blueprints: []BlueprintConfig{{ManagedSystems: 200, UnmanagedSystems: 50, Nodes: 125_000, Relationships: 150_000}}})
	c.login("/api/aaa/login")
	id := c.a.Blueprints()[0].ID
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := testkit.WatchHeap()
	resp, err := c.req(http.MethodGet, "/api/blueprints/"+id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	peak := stop()
	if err != nil || n < 50_000_000 {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	want := sha256.New()
	if err := c.a.WriteBlueprint(id, want); err != nil || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("downloaded graph differs from WriteBlueprint (%v)", err)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MB graph; heap grew by %d KiB at most", n/1_000_000, growth>>10)
	if growth > growthLimit {
		t.Fatalf("heap grew by %d MiB while streaming a %d MB graph", growth>>20, n/1_000_000)
	}
}

// With OneLineChanges, a change rewrites exactly one line of the changed system's
// configuration, and none of the others'; by default it rewrites several.
func TestOneLineChanges(t *testing.T) {
	for _, oneLine := range []bool{true, false} {
		a := start(t, Config{Blueprints: []BlueprintConfig{{ManagedSystems: 3, OneLineChanges: oneLine}}}).a
		info := a.Blueprints()[0]
		before := map[string]string{}
		for _, id := range info.Managed {
			before[id], _ = a.DeployedConfig(info.ID, id)
		}
		if err := a.ChangeNodes(info.ID, info.Managed[1]); err != nil {
			t.Fatal(err)
		}
		for _, id := range info.Managed {
			after, _ := a.DeployedConfig(info.ID, id)
			old, cur := strings.Split(before[id], "\n"), strings.Split(after, "\n")
			if len(old) != len(cur) {
				t.Fatalf("OneLineChanges=%v: %s has %d lines, had %d", oneLine, id, len(cur), len(old))
			}
			var differ []string
			for k := range old {
				if old[k] != cur[k] {
					differ = append(differ, cur[k])
				}
			}
			switch {
			case id != info.Managed[1] && len(differ) != 0:
				t.Errorf("OneLineChanges=%v: unchanged %s has new lines %q", oneLine, id, differ)
			case id == info.Managed[1] && oneLine && (len(differ) != 1 || strings.TrimSpace(differ[0]) != "/* configuration revision 1 */"):
				t.Errorf("one-line change of %s: new lines %q", id, differ)
			case id == info.Managed[1] && !oneLine && len(differ) < 3:
				t.Errorf("default change of %s: only %d new lines", id, len(differ))
			}
		}
	}
}
