package backupjob

import (
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// heapGrowthLimit bounds how much the heap of this process (provider and simulator)
// may grow during a backup holding one configuration far larger than it.
const heapGrowthLimit = 24 << 20

// runWatchingHeap runs a backup and returns how much the heap grew at most.
func (f *apstraFixture) runWatchingHeap(t *testing.T) (ApstraResult, int64, error) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stop := testkit.WatchHeap()
	res, err := f.run(t, ApstraRequest{})
	return res, int64(stop()) - int64(ms.HeapAlloc), err
}

// A 40 MiB deployed configuration streams from the server into the store: the heap
// grows by a fraction of it, the stored bytes are the server's; the next backup,
// after a change, reports it changed without comparing it line by line (too large).
func TestRunApstraLargeConfigStreamsInBoundedMemory(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{{ManagedSystems: 1, UnmanagedSystems: 1, ConfigSize: 40 << 20}}})
	info := f.srv.Apstra.Blueprints()[0]
	want := func() string {
		h := sha256.New()
		if ok, err := f.srv.Apstra.WriteDeployedConfig(info.ID, info.Managed[0], h); !ok || err != nil {
			t.Fatalf("the simulator has no configuration for %s: %v", info.Managed[0], err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	for i := range 2 {
		res, growth, err := f.runWatchingHeap(t)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("backup %d: heap grew by %d KiB at most", i+1, growth>>10)
		if growth > heapGrowthLimit {
			t.Errorf("backup %d: the heap grew by %d MiB for a 40 MiB configuration", i+1, growth>>20)
		}
		d := res.Blueprints[0].Deployed
		if len(d) != 1 || d[0].NodeID != info.Managed[0] {
			t.Fatalf("backup %d: deployed %+v, want %s", i+1, d, info.Managed[0])
		}
		file, ok := res.Backup.File(d[0].Kind)
		if !ok || file.Size < 40<<20 || file.SHA256 != want() || sha256Of(t, file.Path) != file.SHA256 {
			t.Fatalf("backup %d: stored configuration %+v, want the server's (sha256 %s)", i+1, file, want())
		}
		if i == 1 && (!d[0].Changed || d[0].Diff.Compared || !strings.Contains(d[0].Diff.Skipped, "larger than")) {
			t.Errorf("backup 2: diff %+v, want changed and not compared (too large)", d[0].Diff)
		}
		if _, err := f.srv.Apstra.ChangeBlueprint(info.ID, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// A hostile server's answer without end (a 1 GiB configuration) fails the backup
// once the answer passes its limit, with an error naming the server, the blueprint
// and the node, in bounded memory; the store keeps only the failure record.
func TestRunApstraOversizeConfigFailsClearly(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{{Label: "hostile", ManagedSystems: 1, UnmanagedSystems: 1, ConfigSize: 1 << 30}}})
	info := f.srv.Apstra.Blueprints()[0]
	_, growth, err := f.runWatchingHeap(t)
	if err == nil {
		t.Fatal("a 1 GiB configuration was stored")
	}
	t.Logf("heap grew by %d KiB at most; error: %v", growth>>10, err)
	if msg := err.Error(); !strings.Contains(msg, f.srv.Host) || !strings.Contains(msg, `"hostile"`) || !strings.Contains(msg, info.Managed[0]) ||
		!strings.Contains(msg, "larger than 64 MiB") {
		t.Errorf("error %q, want one naming the server %s, blueprint \"hostile\", node %s and the limit", msg, f.srv.Host, info.Managed[0])
	}
	if growth > heapGrowthLimit {
		t.Errorf("the heap grew by %d MiB reading a hostile answer", growth>>20)
	}
	if files := testkit.FilesUnder(t, f.root); len(files) != 1 || !strings.HasSuffix(files[0], ".failed.json") {
		t.Errorf("the failed backup left %v, want its failure record only", files)
	}
	st, serr := f.store.Status(t.Context(), backupstore.FamilyApstra, "127.0.0.1")
	if serr != nil {
		t.Fatal(serr)
	}
	if a := st.LastAttempt; !strings.Contains(a.Step, "deployed configuration of node "+info.Managed[0]) {
		t.Errorf("last attempt %+v, want a failure reading the node's configuration", a)
	}
}
