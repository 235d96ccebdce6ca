package backupjob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit/fixture"
)

const (
	testApstraUser = "fabric-ops"
	testApstraPass = "Apstra-S3cret pw"
)

type apstraFixture struct {
	srv   *apstrasim.Server
	store *backupstore.Store
	root  string
	hc    *client.Client
}

func newApstraFixture(t *testing.T, cfg apstrasim.Config) *apstraFixture {
	t.Helper()
	cfg.Username, cfg.Password = testApstraUser, testApstraPass
	srv, err := apstrasim.Start(testkit.CA(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fixture.StopAtEnd(t, "the Apstra server", srv.Close, srv.Apstra.OpenSessions)
	store, root := fixture.Store(t)
	return &apstraFixture{srv: srv, store: store, root: root, hc: fixture.HTTPClient(t)}
}

func (f *apstraFixture) run(t *testing.T, req ApstraRequest) (ApstraResult, error) {
	t.Helper()
	c, err := apstra.New(f.hc, apstra.Config{Host: f.srv.Host, Port: f.srv.Port, Username: testApstraUser, Password: testApstraPass})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req.Client, req.Target = c, Target{Host: f.srv.Host, Port: f.srv.Port}
	return RunApstra(ctx, f.store, req)
}

func sha256Of(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestRunApstraExportsEveryBlueprint(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{
		{ManagedSystems: 3, UnmanagedSystems: 1, StagingOnlySystems: 1},
		{ManagedSystems: 2, UnmanagedSystems: 2, Nodes: 500},
	}})
	res, err := f.run(t, ApstraRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range res.Backup.Files {
		if got := sha256Of(t, file.Path); got != file.SHA256 {
			t.Errorf("%s: sha256 %s, recorded %s", file.Kind, got, file.SHA256)
		}
	}
	infos := f.srv.Apstra.Blueprints()
	if len(res.Blueprints) != len(infos) {
		t.Fatalf("%d blueprints, want %d", len(res.Blueprints), len(infos))
	}
	for i, info := range infos {
		bp := res.Blueprints[i]
		if bp.ID != info.ID || bp.Version != info.Version || bp.Nodes != info.Nodes || bp.Relationships != info.Relationships || !bp.Changed {
			t.Errorf("blueprint %d: %+v, want %+v (changed)", i, bp, info)
		}
		graph, ok := res.Backup.File(bp.GraphKind())
		if !ok {
			t.Fatalf("no graph file for %s", bp.ID)
		}
		var want bytes.Buffer
		if err := f.srv.Apstra.WriteBlueprint(info.ID, &want); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(graph.Path)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("graph of %s differs from what the server serves", bp.ID)
		}
		var deployed []string
		for _, d := range bp.Deployed {
			deployed = append(deployed, d.NodeID)
			file, ok := res.Backup.File(d.Kind)
			cfg, _ := f.srv.Apstra.DeployedConfig(info.ID, d.NodeID)
			if !ok {
				t.Errorf("no file for %s", d.Kind)
				continue
			}
			if data, _ := os.ReadFile(file.Path); string(data) != cfg {
				t.Errorf("%s: stored config differs from the deployed one", d.NodeID)
			}
		}
		if !slices.Equal(deployed, info.Managed) {
			t.Errorf("deployed %v, want %v", deployed, info.Managed)
		}
		var skipped []string
		for _, s := range bp.Skipped {
			skipped = append(skipped, s.NodeID)
			if s.Reason == "" {
				t.Errorf("%s skipped without a reason", s.NodeID)
			}
		}
		if want := append(slices.Clone(info.Unmanaged), info.StagingOnly...); !slices.Equal(skipped, want) {
			t.Errorf("skipped %v, want %v", skipped, want)
		}
	}
	for _, col := range append(slices.Clone(apstra.DesignCatalog), apstra.ResourcePools...) {
		if _, ok := res.Backup.File(CollectionKind(col)); !ok {
			t.Errorf("no file for %s", col.Name)
		}
	}
	st := f.srv.Apstra.Stats.Snapshot()
	if st.Logins != 1 || st.Logouts != 1 {
		t.Errorf("logins %d logouts %d, want 1 and 1", st.Logins, st.Logouts)
	}
}

func TestRunApstraReportsWhatChanged(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{{ManagedSystems: 4}, {ManagedSystems: 3}}})
	if _, err := f.run(t, ApstraRequest{}); err != nil {
		t.Fatal(err)
	}
	res, err := f.run(t, ApstraRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bp := range res.Blueprints {
		if bp.Changed || len(bp.ChangedDevices()) != 0 {
			t.Errorf("nothing changed, but %s reports changed=%v devices %v", bp.ID, bp.Changed, bp.ChangedDevices())
		}
	}
	second := f.srv.Apstra.Blueprints()[1]
	changed, err := f.srv.Apstra.ChangeBlueprint(second.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	res, err = f.run(t, ApstraRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blueprints[0].Changed || len(res.Blueprints[0].ChangedDevices()) != 0 {
		t.Errorf("the first blueprint did not change: %+v", res.Blueprints[0])
	}
	if !res.Blueprints[1].Changed || !slices.Equal(res.Blueprints[1].ChangedDevices(), changed) {
		t.Errorf("second blueprint: changed=%v devices %v, want true and %v", res.Blueprints[1].Changed, res.Blueprints[1].ChangedDevices(), changed)
	}
}

func TestRunApstraSelectsBlueprints(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{{Label: "east"}, {Label: "west"}}})
	west := f.srv.Apstra.Blueprints()[1]
	res, err := f.run(t, ApstraRequest{Blueprints: []string{west.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blueprints) != 1 || res.Blueprints[0].Label != "west" {
		t.Errorf("selected %+v, want west only", res.Blueprints)
	}
	_, err = f.run(t, ApstraRequest{Blueprints: []string{"east", "north"}})
	if err == nil || !strings.Contains(err.Error(), `"north"`) {
		t.Errorf("an unknown blueprint: err %v, want one naming \"north\"", err)
	}
}

func TestRunApstraSnapshot(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{})
	ssh, err := f.srv.Apstra.StartSSH(apstrasim.SSHConfig{RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssh.Close() })
	snap := &ApstraSnapshot{Host: "127.0.0.1", Port: ssh.Port(), Username: testApstraUser, Password: testApstraPass, HostKey: ssh.AuthorizedKey()}
	res, err := f.run(t, ApstraRequest{Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	file, ok := res.Backup.File(KindApstraSnapshot)
	snaps := f.srv.Apstra.Snapshots()
	if !ok || len(snaps) != 1 || file.SHA256 != snaps[0].SHA256 || sha256Of(t, file.Path) != file.SHA256 {
		t.Fatalf("snapshot file %+v, server wrote %+v", file, snaps)
	}
	if ssh.Exists(snaps[0].Path) {
		t.Errorf("%s is still on the server", snaps[0].Path)
	}
}

func TestRunApstraMalformedGraphLeavesOnlyItsFailureRecord(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{{Label: "east"}, {Label: "west"}}})
	west := f.srv.Apstra.Blueprints()[1]
	f.srv.Apstra.Faults.Add(devicesim.Fault{Kind: devicesim.FaultMalformedJSON, PathPrefix: "/api/blueprints/" + west.ID, Times: 1})
	_, err := f.run(t, ApstraRequest{})
	if err == nil || !strings.Contains(err.Error(), `"west"`) {
		t.Fatalf("a malformed graph: err %v, want one naming the blueprint", err)
	}
	if files := testkit.FilesUnder(t, f.root); len(files) != 1 || !strings.HasSuffix(files[0], ".failed.json") {
		t.Errorf("a failed backup left %v, want its failure record only", files)
	}
	if st := f.srv.Apstra.Stats.Snapshot(); st.Logins != 1 || st.Logouts != 1 {
		t.Errorf("logins %d logouts %d, want 1 and 1", st.Logins, st.Logouts)
	}
}

// A failure is recorded under the server's name, the step before the server said
// anything (a refused login) as well as a later one (an unknown blueprint), so that
// infrabackup_backups reports the named server's last attempt.
func TestRunApstraFailuresRecordedUnderTheName(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{})
	for _, tc := range []struct {
		password   string
		blueprints []string
		step       string
	}{
		{"Wr0ng-apstra-pw!", nil, "log in"},
		{testApstraPass, []string{"no-such-blueprint"}, "select the blueprints"},
	} {
		c, err := apstra.New(f.hc, apstra.Config{Host: f.srv.Host, Port: f.srv.Port, Username: testApstraUser, Password: tc.password})
		if err != nil {
			t.Fatal(err)
		}
		_, err = RunApstra(t.Context(), f.store, ApstraRequest{Client: c, Target: Target{Host: f.srv.Host, Port: f.srv.Port},
			Name: "fabric-a", Blueprints: tc.blueprints})
		if err == nil {
			t.Fatalf("%s: the backup succeeded", tc.step)
		}
		st, serr := f.store.Status(t.Context(), backupstore.FamilyApstra, "fabric-a")
		if serr != nil {
			t.Fatal(serr)
		}
		if a := st.LastAttempt; a.Outcome != backupstore.OutcomeFailed || a.Step != tc.step {
			t.Errorf("last attempt of fabric-a %+v, want a failure at step %q (err: %v)", a, tc.step, err)
		}
	}
	for _, p := range testkit.FilesUnder(t, f.root) {
		if !strings.Contains(filepath.ToSlash(p), "/apstra/fabric-a/") {
			t.Errorf("%s is not in the server's folder apstra/fabric-a/", p)
		}
	}
}
