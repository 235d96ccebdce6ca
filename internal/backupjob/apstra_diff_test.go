package backupjob

import (
	"context"
	"errors"
	"io"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// countingStore counts the objects opened, by key.
type countingStore struct {
	objstore.Store
	mu     sync.Mutex
	opened map[string]int
}

func (s *countingStore) Open(ctx context.Context, key string) (io.ReadCloser, objstore.ObjectInfo, error) {
	s.mu.Lock()
	s.opened[key]++
	s.mu.Unlock()
	return s.Store.Open(ctx, key)
}

func (s *countingStore) reset() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.opened
	s.opened = map[string]int{}
	return o
}

// Each deployed configuration is compared with the previous backup's: exactly the
// changed device reports its changed line and has a diff in the store, holding
// that line, with the SHA-256 the record gives; a line ignore_lines matches is no
// change. The previous backup is looked up once per backup, and only the changed
// device's previous configuration is read.
func TestRunApstraDiffsDeployedConfigs(t *testing.T) {
	f := newApstraFixture(t, apstrasim.Config{Blueprints: []apstrasim.BlueprintConfig{
		{ManagedSystems: 4, OneLineChanges: true}, {ManagedSystems: 2, OneLineChanges: true},
	}})
	local, err := objstore.OpenLocal(f.root)
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: local, opened: map[string]int{}}
	f.store = backupstore.New(counting)

	first, err := f.run(t, ApstraRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bp := range first.Blueprints {
		for _, d := range bp.Deployed {
			if !d.Changed || d.Diff.Compared || d.Diff.File.Key != "" {
				t.Errorf("first backup, %s: %+v, want changed and nothing compared", d.NodeID, d)
			}
		}
	}

	info := f.srv.Apstra.Blueprints()[0]
	target := info.Managed[2]
	if err := f.srv.Apstra.ChangeNodes(info.ID, target); err != nil {
		t.Fatal(err)
	}
	counting.reset()
	second, err := f.run(t, ApstraRequest{})
	if err != nil {
		t.Fatal(err)
	}
	opened := counting.reset()
	var changedPrevious string
	for _, bp := range second.Blueprints {
		for _, d := range bp.Deployed {
			diffKind := DiffKind(d.Kind)
			file, hasDiff := second.Backup.File(diffKind)
			if d.NodeID != target {
				if d.Changed || !d.Diff.Compared || d.Diff.Added != 0 || d.Diff.Removed != 0 || hasDiff {
					t.Errorf("unchanged %s: %+v, diff file %v", d.NodeID, d.Diff, hasDiff)
				}
				continue
			}
			if !d.Changed || !d.Diff.Compared || d.Diff.Added != 1 || d.Diff.Removed != 1 || !hasDiff || d.Diff.File != file {
				t.Fatalf("changed %s: %+v, diff file %+v", d.NodeID, d.Diff, file)
			}
			if name := path.Base(file.Key); len(name) > backupstore.MaxNameLen || len(bp.Token) != 12 || !strings.HasSuffix(name, "-cfg-"+idToken(d.NodeID)+"-diff.diff") {
				t.Errorf("diff file name %q (token %q)", name, bp.Token)
			}
			diff := readChecked(t, f.store, file)
			if !strings.Contains(diff, "\n-    /* configuration revision 0 */\n") || !strings.Contains(diff, "\n+    /* configuration revision 1 */\n") ||
				strings.Count(diff, "\n+") != 1+strings.Count(diff, "\n+++") || strings.Count(diff, "\n-") != 1+strings.Count(diff, "\n---") {
				t.Errorf("diff of %s:\n%s", d.NodeID, diff)
			}
			prev, _ := first.Backup.File(d.Kind)
			changedPrevious = prev.Key
		}
	}
	if got := second.Blueprints[0].ChangedDevices(); len(got) != 1 || got[0] != target {
		t.Errorf("changed devices %v, want [%s]", got, target)
	}
	if len(second.Blueprints[1].ChangedDevices()) != 0 {
		t.Errorf("second blueprint: changed devices %v", second.Blueprints[1].ChangedDevices())
	}
	prevRecord := path.Dir(changedPrevious) + "/" + first.Backup.ID + ".json"
	for key, n := range opened {
		switch {
		case key == prevRecord && n != 1, key == changedPrevious && n != 1:
			t.Errorf("%s opened %d times, want once", key, n)
		case key != prevRecord && key != changedPrevious && strings.HasPrefix(path.Base(key), first.Backup.ID):
			t.Errorf("%s of the previous backup opened %d times, want never", key, n)
		}
	}
	if opened[prevRecord] != 1 || opened[changedPrevious] != 1 {
		t.Errorf("opened %v: want the previous record %s and %s once each", opened, prevRecord, changedPrevious)
	}

	// The only changed line is ignored: no change, nothing counted, no diff.
	if err := f.srv.Apstra.ChangeNodes(info.ID, target); err != nil {
		t.Fatal(err)
	}
	third, err := f.run(t, ApstraRequest{IgnoreLines: []*regexp.Regexp{regexp.MustCompile(`configuration revision \d+`)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bp := range third.Blueprints {
		if len(bp.ChangedDevices()) != 0 {
			t.Errorf("%s: changed devices %v with the changed line ignored", bp.ID, bp.ChangedDevices())
		}
		for _, d := range bp.Deployed {
			if d.Changed || !d.Diff.Compared || d.Diff.Added != 0 || d.Diff.Removed != 0 {
				t.Errorf("%s with the changed line ignored: %+v", d.NodeID, d.Diff)
			}
			if _, ok := third.Backup.File(DiffKind(d.Kind)); ok {
				t.Errorf("%s: a diff file with the changed line ignored", d.NodeID)
			}
		}
	}
	if !third.Blueprints[0].Changed {
		t.Error("the blueprint's version changed: it is changed")
	}
}

// readChecked reads a stored file whole, checked against its recorded size and SHA-256.
func readChecked(t *testing.T, store *backupstore.Store, file backupstore.File) string {
	t.Helper()
	data, err := readStored(t.Context(), store, file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The longest file name of an Apstra backup, a configuration's diff when both ids
// are hashed, is one the store takes.
func TestApstraDiffFileNameFits(t *testing.T) {
	long := strings.Repeat("n", 36)
	bp := ApstraBlueprint{Token: idToken(long)}
	kind := DiffKind(bp.Kind(apstraConfigPrefix + idToken(long)))
	name := "20261201T000000.000Z-" + kind + ".diff"
	if err := backupstore.ValidName(name); err != nil || len(name) != 63 {
		t.Errorf("%q (%d characters): %v", name, len(name), err)
	}
}

// A comparison takes its texts' size from the backup's budget before it reads
// anything: with the budget spent it waits (here until its context ends, having
// opened nothing); identical bytes take nothing and go through.
func TestConfigDiffsWaitForTheMemoryBudget(t *testing.T) {
	root := t.TempDir()
	local, err := objstore.OpenLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: local, opened: map[string]int{}}
	store := backupstore.New(counting)
	const kind = "bp-t-cfg-n"
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	commit := func(text string) backupstore.Backup {
		run, err := store.Begin(t.Context(), backupstore.FamilyApstra, "a1", at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.WriteFile(t.Context(), kind, "txt", strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
		b, err := run.Commit(t.Context(), "192.0.2.1", 443, nil, at.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
		return b
	}
	previous := commit("a\nb\n")
	run, err := store.Begin(t.Context(), backupstore.FamilyApstra, "a1", at)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = run.Abort() }()
	diffs := &configDiffs{store: store, previous: previous, budget: semaphore.NewWeighted(diffBudget)}
	if err := diffs.budget.Acquire(t.Context(), diffBudget); err != nil {
		t.Fatal(err)
	}
	counting.reset()

	same, err := run.WriteFile(t.Context(), kind, "txt", strings.NewReader("a\nb\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := diffs.compare(t.Context(), run, same); err != nil || d.Changed || !d.Compared {
		t.Errorf("identical bytes with the budget spent: %+v, %v", d, err)
	}

	other, err := store.Begin(t.Context(), backupstore.FamilyApstra, "a1", at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Abort() }()
	changed, err := other.WriteFile(t.Context(), kind, "txt", strings.NewReader("a\nc\n"))
	if err != nil {
		t.Fatal(err)
	}
	counting.reset()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d, err := diffs.compare(ctx, other, changed); !errors.Is(err, context.Canceled) {
		t.Errorf("a change with the budget spent: %+v, %v; want to wait until the context ends", d, err)
	}
	if opened := counting.reset(); len(opened) != 0 {
		t.Errorf("opened %v while waiting for the budget", opened)
	}

	diffs.budget.Release(diffBudget)
	if d, err := diffs.compare(t.Context(), other, changed); err != nil || !d.Changed || d.Added != 1 || d.Removed != 1 {
		t.Errorf("a change with the budget free: %+v, %v", d, err)
	}
}
