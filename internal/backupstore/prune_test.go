package backupstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// backupAt commits a backup of mc1 started at started, with two stored files and a
// remote copy.
func backupAt(t *testing.T, s *Store, started time.Time) Backup {
	t.Helper()
	return backupOf(t, s, "mc1", started)
}

// backupOf commits a backup of an Aruba device as backupAt does.
func backupOf(t *testing.T, s *Store, device string, started time.Time) Backup {
	t.Helper()
	r, err := s.Begin(bg, FamilyAruba, device, started)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	for _, kind := range []string{"config", "flash"} {
		if _, err := r.WriteFile(bg, kind, "bin", bytes.NewReader([]byte(kind+started.String()))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddFile(File{Kind: "flash-scp", Location: "scp://u@10.0.0.9/b/" + formatStamp(started)}); err != nil {
		t.Fatal(err)
	}
	b, err := r.Commit(bg, "10.0.0.1", 4343, nil, started.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// objectsOf lists the keys of backups, as the store keeps them.
func objectsOf(bs ...Backup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.RecordKey())
		for _, f := range b.Files {
			if f.InStore() {
				out = append(out, f.Key)
			}
		}
	}
	slices.Sort(out)
	return out
}

func ids(bs ...Backup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

func keptIDs(r PruneResult) []string {
	var out []string
	for _, k := range r.Kept {
		out = append(out, k.ID)
	}
	return out
}

func TestPruneKeepLast(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		var bs []Backup
		for i := range 5 {
			bs = append(bs, backupAt(t, ts.Store, t0.Add(time.Duration(i)*time.Hour)))
		}
		newest := bs[4]
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 2}, newest.ID, t0.Add(5*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if want := ids(bs[2], bs[1], bs[0]); !slices.Equal(res.Deleted, want) {
			t.Errorf("Deleted = %v, want %v", res.Deleted, want)
		}
		wantKept := []Kept{{ID: bs[4].ID, Reason: KeptJustMade}, {ID: bs[3].ID, Reason: KeptNewest}}
		if !slices.Equal(res.Kept, wantKept) || len(res.Locked()) != 0 || len(res.Leftovers) != 0 {
			t.Errorf("result = %+v, want kept %+v", res, wantKept)
		}
		// Exactly the two newest remain: their records and files, nothing else.
		if got, want := ts.keys(t, ""), objectsOf(bs[3], bs[4]); !slices.Equal(got, want) {
			t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
		}
		if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != newest.ID {
			t.Errorf("Latest = %v %v", got.ID, err)
		}
		for _, old := range bs[:3] {
			if _, err := ts.Get(bg, FamilyAruba, "mc1", old.ID); !errors.Is(err, ErrNoBackup) {
				t.Errorf("Get(%s) after Prune = %v, want ErrNoBackup", old.ID, err)
			}
		}
		// Again: nothing more to delete.
		res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 2}, newest.ID, t0.Add(5*time.Hour))
		if err != nil || len(res.Deleted) != 0 || len(res.Kept) != 2 {
			t.Errorf("second Prune = %+v, %v", res, err)
		}
	})
}

func TestPruneKeepDays(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		day := 24 * time.Hour
		var bs []Backup
		for _, ago := range []time.Duration{10 * day, 8 * day, 6 * day, day, 0} {
			bs = append(bs, backupAt(t, ts.Store, t0.Add(-ago)))
		}
		now := t0.Add(time.Hour) // the injected clock
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepDays: 7}, bs[4].ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := ids(bs[1], bs[0]); !slices.Equal(res.Deleted, want) {
			t.Errorf("Deleted = %v, want %v", res.Deleted, want)
		}
		wantKept := []Kept{{ID: bs[4].ID, Reason: KeptJustMade}, {ID: bs[3].ID, Reason: KeptYoung}, {ID: bs[2].ID, Reason: KeptYoung}}
		if !slices.Equal(res.Kept, wantKept) {
			t.Errorf("Kept = %+v, want %+v", res.Kept, wantKept)
		}
		if got, want := ts.keys(t, ""), objectsOf(bs[2:]...); !slices.Equal(got, want) {
			t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
		}

		// A month later, with no new backup: everything is older than keep_days,
		// but the last good backup stays.
		res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepDays: 7}, "", t0.Add(30*day))
		if err != nil {
			t.Fatal(err)
		}
		if want := ids(bs[3], bs[2]); !slices.Equal(res.Deleted, want) || !slices.Equal(res.Kept, []Kept{{ID: bs[4].ID, Reason: KeptLastGood}}) {
			t.Errorf("a month later: %+v, want %v deleted and %s kept as the last good one", res, want, bs[4].ID)
		}
		if got, want := ts.keys(t, ""), objectsOf(bs[4]); !slices.Equal(got, want) {
			t.Errorf("stored a month later: %q, want %q", got, want)
		}

		// Both rules: kept when either keeps it.
		more := []Backup{bs[4], backupAt(t, ts.Store, t0.Add(day)), backupAt(t, ts.Store, t0.Add(20*day))}
		res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1, KeepDays: 7}, more[2].ID, t0.Add(21*day))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Deleted, ids(more[1], more[0])) || !slices.Equal(keptIDs(res), ids(more[2])) {
			t.Errorf("keep_last 1 and keep_days 7 = %+v", res)
		}
	})
}

// Prune never deletes the backup just made nor the newest usable one, even when
// newer records are damaged and the policy would.
func TestPruneKeepsLastGoodBackup(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		var bs []Backup
		for i := range 4 {
			bs = append(bs, backupAt(t, ts.Store, t0.Add(time.Duration(i)*time.Hour)))
		}
		// The two newest records are damaged: bs[1] is the last good backup.
		ts.put(t, bs[3].RecordKey(), []byte("{not json"))
		ts.remove(t, bs[2].Files[0].Key)
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, "", t0.Add(time.Hour*5))
		if err != nil {
			t.Fatal(err)
		}
		wantKept := []Kept{{ID: bs[3].ID, Reason: KeptNewest}, {ID: bs[1].ID, Reason: KeptLastGood}}
		if !slices.Equal(res.Kept, wantKept) || !slices.Equal(res.Deleted, ids(bs[2], bs[0])) {
			t.Errorf("result = %+v\nwant kept %+v and %v deleted", res, wantKept, ids(bs[2], bs[0]))
		}
		if got, err := ts.Get(bg, FamilyAruba, "mc1", bs[1].ID); err != nil || !bytes.Equal(readFile(t, ts.Store, got.Files[1]), []byte("flash"+bs[1].StartedAt.String())) {
			t.Errorf("the last good backup is not usable any more: %v", err)
		}
	})
}

func TestPruneRefuses(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		a := backupAt(t, ts.Store, t0)
		b := backupAt(t, ts.Store, t0.Add(time.Hour))
		before := ts.keys(t, "")
		// Zero values keep everything.
		if res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{}, b.ID, t0.Add(1000*24*time.Hour)); err != nil || len(res.Deleted)+len(res.Kept) != 0 {
			t.Errorf("Prune with a zero policy = %+v, %v", res, err)
		}
		for _, tc := range []struct {
			policy Policy
			just   string
			family string
			device string
			want   string
		}{
			{Policy{KeepLast: -1}, b.ID, FamilyAruba, "mc1", "must not be negative"},
			{Policy{KeepDays: -1}, b.ID, FamilyAruba, "mc1", "must not be negative"},
			{Policy{KeepLast: 1}, formatStamp(t0.Add(2 * time.Hour)), FamilyAruba, "mc1", "is not listed"},
			{Policy{KeepLast: 1}, b.ID, "cisco", "mc1", "unknown device family"},
			{Policy{KeepLast: 1}, b.ID, FamilyAruba, "../x", "invalid device name"},
		} {
			if _, err := ts.Prune(bg, tc.family, tc.device, tc.policy, tc.just, t0.Add(48*time.Hour)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prune(%+v, %s/%s, just %s) = %v, want %q", tc.policy, tc.family, tc.device, tc.just, err, tc.want)
			}
		}
		if got := ts.keys(t, ""); !slices.Equal(got, before) {
			t.Errorf("a refused Prune changed the store: %q, was %q", got, before)
		}
		_ = a
	})
}

// With Object Lock, Prune deletes nothing locked: a backup with any protected
// object is kept whole, and the result says which, until when; the unlocked
// backups the policy does not keep are deleted all the same.
func TestPruneObjectLock(t *testing.T) {
	t.Run("all locked", func(t *testing.T) {
		ts := openS3(t, true, func(c *objstore.S3Config) { c.LockMode, c.LockRetention = objstore.LockCompliance, time.Hour })
		var bs []Backup
		for i := range 5 {
			bs = append(bs, backupAt(t, ts.Store, t0.Add(time.Duration(i)*time.Hour)))
		}
		before := ts.keys(t, "")
		start := time.Now()
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 2}, bs[4].ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 0 || len(res.Leftovers) != 0 {
			t.Errorf("Prune deleted %v (leftovers %v) under COMPLIANCE lock", res.Deleted, res.Leftovers)
		}
		locked := res.Locked()
		if !slices.Equal(keptIDs(PruneResult{Kept: locked}), ids(bs[2], bs[1], bs[0])) {
			t.Fatalf("locked = %+v, want %v", locked, ids(bs[2], bs[1], bs[0]))
		}
		for i, k := range locked {
			b := bs[2-i]
			if k.Location != ts.wantLocation(b.RecordKey()) || k.LockMode != objstore.LockCompliance ||
				k.RetainUntil.Before(start.Add(59*time.Minute)) || k.RetainUntil.After(time.Now().Add(time.Hour+2*time.Second)) {
				t.Errorf("locked backup %d = %+v, want its record under COMPLIANCE for about an hour", i, k)
			}
			msg := k.String()
			for _, want := range []string{b.ID, k.Location, "COMPLIANCE", k.RetainUntil.UTC().Format(time.RFC3339)} {
				if !strings.Contains(msg, want) {
					t.Errorf("warning %q does not name %q", msg, want)
				}
			}
		}
		if got := ts.keys(t, ""); !slices.Equal(got, before) {
			t.Errorf("stored after Prune: %q, was %q", got, before)
		}
		for _, b := range bs {
			if _, err := ts.Get(bg, FamilyAruba, "mc1", b.ID); err != nil {
				t.Errorf("backup %s is not usable after Prune: %v", b.ID, err)
			}
		}
	})
	t.Run("some locked", func(t *testing.T) {
		// One bucket with Object Lock; two runners, one of which locks what it writes.
		ts := openS3(t, true)
		lockedCfg := ts.cfg
		lockedCfg.LockMode, lockedCfg.LockRetention = objstore.LockCompliance, time.Hour
		locking := newS3Store(t, lockedCfg)
		bs := []Backup{backupAt(t, locking, t0), backupAt(t, locking, t0.Add(time.Hour))}
		for i := 2; i < 5; i++ {
			bs = append(bs, backupAt(t, ts.Store, t0.Add(time.Duration(i)*time.Hour)))
		}
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, bs[4].ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Deleted, ids(bs[3], bs[2])) {
			t.Errorf("Deleted = %v, want %v", res.Deleted, ids(bs[3], bs[2]))
		}
		if !slices.Equal(keptIDs(res), ids(bs[4], bs[1], bs[0])) || len(res.Locked()) != 2 {
			t.Errorf("Kept = %+v", res.Kept)
		}
		// The locked backups stay whole, with their reservations (locked too).
		want := objectsOf(bs[0], bs[1], bs[4])
		want = append(want, reservationKey(FamilyAruba, "mc1", bs[0].ID), reservationKey(FamilyAruba, "mc1", bs[1].ID))
		slices.Sort(want)
		if got := ts.keys(t, ""); !slices.Equal(got, want) {
			t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
		}
	})
}

// Prune deletes a backup's record before its files: when deleting a file fails,
// the backup is already invisible, never listed as complete with a file missing.
func TestPruneDeletesRecordFirst(t *testing.T) {
	ts, proxy := proxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 1 })
	var bs []Backup
	for i := range 3 {
		bs = append(bs, backupAt(t, ts.Store, t0.Add(time.Duration(i)*time.Hour)))
	}
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Op == "DeleteObject" && strings.HasSuffix(r.Path, "-flash.bin") {
			return s3test.SlowDown
		}
		return s3test.Pass
	})
	res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, bs[2].ID, t0.Add(3*time.Hour))
	flash := ts.wantLocation(bs[0].Files[1].Key)
	if err == nil || !strings.Contains(err.Error(), flash) || !strings.Contains(err.Error(), "SlowDown") || !strings.Contains(err.Error(), "invisible") {
		t.Fatalf("Prune with a failing delete = %v, want an error naming %s", err, flash)
	}
	if len(res.Deleted) != 0 {
		t.Errorf("Deleted = %v after the failure", res.Deleted)
	}
	// The oldest backup, whose file could not be deleted, is no longer listed.
	if _, err := ts.Get(bg, FamilyAruba, "mc1", bs[0].ID); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Get of the half-deleted backup = %v, want ErrNoBackup", err)
	}
	if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != bs[2].ID {
		t.Errorf("Latest = %v %v", got.ID, err)
	}
	if !slices.Contains(ts.keys(t, ""), bs[0].Files[1].Key) {
		t.Error("the file whose delete failed is gone: the test does not test what it should")
	}
	// The next run finishes the job: the backups still recorded, and the file no
	// record names any more.
	proxy.SetRule(nil)
	res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, bs[2].ID, t0.Add(3*time.Hour))
	if err != nil || !slices.Equal(res.Deleted, ids(bs[1])) || !slices.Equal(res.Orphans, []string{flash}) {
		t.Errorf("second Prune = %+v, %v; want %s deleted and %s as an orphan", res, err, bs[1].ID, flash)
	}
	if got, want := ts.keys(t, ""), objectsOf(bs[2]); !slices.Equal(got, want) {
		t.Errorf("stored after the second Prune: %q, want %q", got, want)
	}
}

// Only files that no run owns are orphans: not those of a run in progress (it
// holds its reservation), of a complete backup, nor of a crashed run whose
// reservation is still there.
func TestPruneOrphans(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		bs := []Backup{backupAt(t, ts.Store, t0), backupAt(t, ts.Store, t0.Add(time.Hour))}
		inFlight, err := ts.Begin(bg, FamilyAruba, "mc1", t0.Add(-time.Hour)) // an older id, still running
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inFlight.WriteFile(bg, "config", "cfg", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		orphan := "aruba/mc1/" + formatStamp(t0.Add(-2*time.Hour)) + "-config.cfg"
		ts.put(t, orphan, []byte("left by a failed prune"))
		notOurs := []string{"aruba/mc1/README", "aruba/mc1/" + formatStamp(t0.Add(-3*time.Hour)) + ".json.bak"}
		for _, k := range notOurs {
			ts.put(t, k, []byte("x"))
		}
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 5}, bs[1].ID, t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Orphans, []string{ts.wantLocation(orphan)}) || len(res.Deleted) != 0 {
			t.Errorf("result = %+v, want only %s deleted as an orphan", res, orphan)
		}
		want := append(objectsOf(bs...), notOurs...)
		want = append(want, "aruba/mc1/"+inFlight.ID()+"-config.cfg", reservationKey(FamilyAruba, "mc1", inFlight.ID()))
		slices.Sort(want)
		if got := ts.keys(t, ""); !slices.Equal(got, want) {
			t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
		}
		if err := inFlight.Abort(); err != nil {
			t.Fatal(err)
		}
	})
}

// killedRun reserves a run of an Aruba device started at started and writes a file
// of each kind, then drops it, neither committed nor aborted, as a process killed
// mid-run would. It returns the run's id and the keys of its files.
func killedRun(t *testing.T, s *Store, device string, started time.Time, kinds ...string) (string, []string) {
	t.Helper()
	r, err := s.Begin(bg, FamilyAruba, device, started)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kind := range kinds {
		f, err := r.WriteFile(bg, kind, "cfg", strings.NewReader("running config with hashed secrets: "+kind))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, f.Key)
	}
	return r.ID(), keys
}

// The files of a run that died before its record (killed, say) belong to no backup
// and hold running configs: Prune deletes them, then the run's reservation, once the
// run is older than the newest backup and than any run can take. A run that may
// still be going is left alone.
func TestPruneDeletesKilledRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		base := time.Now().UTC() // when the reservations below are written
		now := base.Add(abandonedAfter + time.Hour)
		killed, killedFiles := killedRun(t, ts.Store, "mc1", base.Add(-48*time.Hour), "config", "flash")
		empty, _ := killedRun(t, ts.Store, "mc1", base.Add(-47*time.Hour)) // killed before its first file
		old := backupOf(t, ts.Store, "mc1", base.Add(-24*time.Hour))
		// Within the bound, though older than the newest backup: it may be running.
		young, youngFiles := killedRun(t, ts.Store, "mc1", now.Add(-abandonedAfter+time.Hour), "config")
		newest := backupOf(t, ts.Store, "mc1", now.Add(-abandonedAfter+2*time.Hour))
		all := ts.keys(t, "")

		// The stamps say the killed runs are two days old, but their reservations
		// were written an hour ago by the store's clock: a runner's clock may be
		// wrong, so they are left alone.
		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 5}, newest.ID, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Orphans)+len(res.Abandoned)+len(res.Deleted) != 0 {
			t.Errorf("Prune an hour after the reservations = %+v, want nothing deleted", res)
		}
		if got := ts.keys(t, ""); !slices.Equal(got, all) {
			t.Errorf("stored after Prune an hour later:\n%q\nwant\n%q", got, all)
		}

		res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, newest.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		var wantOrphans []string
		for _, k := range killedFiles {
			wantOrphans = append(wantOrphans, ts.wantLocation(k))
		}
		slices.Sort(wantOrphans)
		if !slices.Equal(res.Deleted, ids(old)) || !slices.Equal(res.Orphans, wantOrphans) ||
			!slices.Equal(res.Abandoned, []string{empty, killed}) || len(res.LockedOrphans) != 0 {
			t.Errorf("result = %+v\nwant %s deleted, orphans %q and abandoned runs %s, %s", res, old.ID, wantOrphans, empty, killed)
		}
		want := append(objectsOf(newest), youngFiles...)
		want = append(want, reservationKey(FamilyAruba, "mc1", young))
		slices.Sort(want)
		if got := ts.keys(t, ""); !slices.Equal(got, want) {
			t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
		}
		got, err := ts.Latest(bg, FamilyAruba, "mc1")
		if err != nil || got.ID != newest.ID {
			t.Fatalf("Latest = %s %v, want %s", got.ID, err, newest.ID)
		}
		for _, f := range got.Files {
			if f.InStore() && !bytes.Equal(readFile(t, ts.Store, f), []byte(f.Kind+newest.StartedAt.String())) {
				t.Errorf("%s file of the kept backup changed", f.Kind)
			}
		}

		// A run older than the bound but newer than the device's newest backup may
		// be running too.
		only := backupOf(t, ts.Store, "mc2", base.Add(-72*time.Hour))
		killedRun(t, ts.Store, "mc2", base.Add(-48*time.Hour), "config")
		before := ts.keys(t, "aruba/mc2/")
		res, err = ts.Prune(bg, FamilyAruba, "mc2", Policy{KeepLast: 1}, only.ID, now)
		if err != nil || len(res.Orphans)+len(res.Abandoned)+len(res.Deleted) != 0 {
			t.Errorf("Prune of mc2 = %+v, %v; want nothing deleted", res, err)
		}
		if got := ts.keys(t, "aruba/mc2/"); !slices.Equal(got, before) {
			t.Errorf("stored for mc2 after Prune:\n%q\nwant\n%q", got, before)
		}
	})
}

// Under Object Lock, a killed run's locked files stay, and so does its reservation,
// so that a later prune deletes them after their date; Prune succeeds and names
// them. The reservation here is not locked: it stays for its file's sake.
func TestPruneKilledRunUnderObjectLock(t *testing.T) {
	ts := openS3(t, true)
	lockedCfg := ts.cfg
	lockedCfg.LockMode, lockedCfg.LockRetention = objstore.LockCompliance, 3*time.Second
	locking := newS3Store(t, lockedCfg)
	base := time.Now().UTC()
	now := base.Add(abandonedAfter + time.Hour)
	killed, files := killedRun(t, ts.Store, "mc1", base.Add(-48*time.Hour), "flash")
	lockedKey := devicePrefix(FamilyAruba, "mc1") + killed + "-config.cfg"
	if _, err := locking.obj.Put(bg, lockedKey, []byte("running config with hashed secrets")); err != nil {
		t.Fatal(err)
	}
	b := backupAt(t, ts.Store, base.Add(-24*time.Hour))

	res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, b.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Orphans, []string{ts.wantLocation(files[0])}) || len(res.Abandoned) != 0 || len(res.LockedOrphans) != 1 {
		t.Fatalf("result = %+v, want %s deleted and %s kept, locked, with the reservation", res, files[0], lockedKey)
	}
	lock := res.LockedOrphans[0]
	if lock.Location != ts.wantLocation(lockedKey) || lock.Mode != objstore.LockCompliance ||
		lock.RetainUntil.Before(base) || lock.RetainUntil.After(time.Now().Add(5*time.Second)) {
		t.Errorf("locked = %+v, want %s under COMPLIANCE for 3 s", lock, lockedKey)
	}
	if msg := lock.Error(); !strings.Contains(msg, lock.Location) || !strings.Contains(msg, lock.RetainUntil.UTC().Format(time.RFC3339)) {
		t.Errorf("warning %q does not name the file and its date", msg)
	}
	want := append(objectsOf(b), lockedKey, reservationKey(FamilyAruba, "mc1", killed))
	slices.Sort(want)
	if got := ts.keys(t, ""); !slices.Equal(got, want) {
		t.Errorf("stored after Prune:\n%q\nwant\n%q", got, want)
	}

	// After the lock's date, the next prune finishes the job.
	time.Sleep(time.Until(lock.RetainUntil.Add(time.Second)))
	res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, b.ID, now)
	if err != nil || !slices.Equal(res.Orphans, []string{ts.wantLocation(lockedKey)}) || !slices.Equal(res.Abandoned, []string{killed}) || len(res.LockedOrphans) != 0 {
		t.Errorf("Prune after the lock's date = %+v, %v; want %s and its reservation deleted", res, err, lockedKey)
	}
	if got, want := ts.keys(t, ""), objectsOf(b); !slices.Equal(got, want) {
		t.Errorf("stored after the second Prune:\n%q\nwant\n%q", got, want)
	}
}

// staleListing lists the store as it was before some objects were written: a
// listing taken while another runner committed (its record written, then its
// reservation deleted) can show the run's files and neither of those.
type staleListing struct {
	objstore.Store
	hidden map[string]bool
}

func (s *staleListing) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	all, err := s.Store.List(ctx, prefix)
	return slices.DeleteFunc(all, func(o objstore.ObjectInfo) bool { return s.hidden[o.Key] }), err
}

// Prune deletes the files of a run with neither record nor reservation only when
// the store still says so: the files of a backup committed while the listing was
// taken stay whole.
func TestPruneSparesARunCommittedDuringItsListing(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		base := time.Now().UTC().Add(-time.Hour)
		backupOf(t, ts.Store, "mc1", base)
		other := backupOf(t, ts.Store, "mc1", base.Add(time.Minute)) // the other runner's
		newest := backupOf(t, ts.Store, "mc1", base.Add(2*time.Minute))
		s := New(&staleListing{Store: ts.Objects(), hidden: map[string]bool{other.RecordKey(): true}})
		res, err := s.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 10}, newest.ID, base.Add(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Orphans) != 0 {
			t.Errorf("Prune deleted %v, files of a backup it did not see in its listing", res.Orphans)
		}
		if _, err := ts.Get(bg, FamilyAruba, "mc1", other.ID); err != nil {
			t.Errorf("the backup committed during the listing is damaged: %v", err)
		}
	})
}
