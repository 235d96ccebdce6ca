package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// backupIDs collects, step by step, the backup ids a resource recorded (its id is
// "<name>/<backup id>"), and checks what the store holds of that device.
type backupIDs struct {
	res, family, device string
	objects             func() objstore.Store
	// reservationsStay: a backup's reservation (<id>.lock) may stay beside it
	// when the store cannot delete it at commit (Object Lock, refused deletes).
	reservationsStay bool
	mu               sync.Mutex
	ids              []string // oldest first
}

// record is a check that adds the resource's current backup to the list.
func (b *backupIDs) record() checkFunc {
	return func(s *tfjson.State) error {
		id, err := attrText(s, b.res, "id")
		if err != nil {
			return err
		}
		_, backupID, _ := strings.Cut(id, "/")
		b.mu.Lock()
		defer b.mu.Unlock()
		if !slices.Contains(b.ids, backupID) {
			b.ids = append(b.ids, backupID)
		}
		return nil
	}
}

// newest returns the n newest recorded ids, oldest first.
func (b *backupIDs) newest(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ids[max(0, len(b.ids)-n):])
}

// storeHolds checks that the store holds exactly the backups want() of the device:
// their records, and no other object under the device's folder (no file of a
// deleted backup, no reservation).
func (b *backupIDs) storeHolds(want func() []string) checkFunc {
	return deviceCheck(func() error {
		objs, err := b.objects().List(context.Background(), b.family+"/"+b.device+"/")
		if err != nil {
			return err
		}
		wanted := want()
		var records []string
		for _, o := range objs {
			name := strings.TrimPrefix(o.Key, b.family+"/"+b.device+"/")
			if strings.HasSuffix(name, ".failed.json") {
				continue // a failed attempt's record: no backup (retention keeps the newest)
			}
			if id, ok := strings.CutSuffix(name, ".json"); ok {
				records = append(records, id)
				continue
			}
			if !slices.ContainsFunc(wanted, func(id string) bool {
				return strings.HasPrefix(name, id+"-") || b.reservationsStay && name == id+".lock"
			}) {
				return fmt.Errorf("the store holds %s, which belongs to no backup that should remain %v", o.Key, wanted)
			}
		}
		sort.Strings(records)
		if !slices.Equal(records, wanted) {
			return fmt.Errorf("the store holds the backups %v of %s, want %v (all made: %v)", records, b.device, wanted, b.newest(100))
		}
		// What remains is whole: every file a kept backup records is there, with
		// the recorded SHA-256 (OpenFile checks it while reading).
		store := backupstore.New(b.objects())
		for _, id := range wanted {
			kept, err := store.Get(context.Background(), b.family, b.device, id)
			if err != nil {
				return fmt.Errorf("a kept backup is damaged: %w", err)
			}
			for _, f := range kept.Files {
				if f.Key == "" {
					continue // a copy elsewhere (SCP): not the store's
				}
				if err := readWhole(store, f); err != nil {
					return fmt.Errorf("file %s of kept backup %s: %w", f.Key, id, err)
				}
			}
		}
		return nil
	})
}

// readWhole reads a stored file to its end, which checks its SHA-256.
func readWhole(store *backupstore.Store, f backupstore.File) error {
	rc, err := store.OpenFile(context.Background(), f)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// holdsNewest is storeHolds with the n newest recorded backups.
func (b *backupIDs) holdsNewest(n int) checkFunc {
	return b.storeHolds(func() []string { return b.newest(n) })
}

// keepLastSteps are five backups with a new trigger each and checks that the store
// holds the newest two after each: keep_last = 2, applied by resourceOpts or by the
// provider block.
func keepLastSteps(config func(trigger string) string, ids *backupIDs) []resource.TestStep {
	var steps []resource.TestStep
	for k := 1; k <= 5; k++ {
		steps = append(steps, resource.TestStep{
			Config:            config(fmt.Sprint(k)),
			ConfigStateChecks: stateChecks(ids.record(), ids.holdsNewest(min(k, 2))),
		})
	}
	return steps
}

// TestAccRetention_keepLastLocal: with the provider's retention keep_last = 2, five
// backups leave exactly the two newest in the local store. A retention changed on
// the resource takes no backup and deletes nothing; a failed backup deletes
// nothing either; the next good one applies the new retention.
func TestAccRetention_keepLastLocal(t *testing.T) {
	e := newSimEnv(t)
	var failing atomic.Bool
	c := e.addConductorWrapped("mc-keep", func(_ *arubasim.Conductor, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() && strings.Contains(r.URL.Query().Get("command"), "running-config") {
				http.Error(w, "flash is busy", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ids := &backupIDs{res: arubaRes, family: "aruba", device: "mc", objects: func() objstore.Store { return mustStore(t, e.backupDir).Objects() }}
	config := func(trigger string, opts ...option) string {
		return hclConfig(e.provider(set("retention", object(set("keep_last", 2)))),
			arubaBackup(c, append([]option{set("name", "mc"), set("trigger", trigger)}, opts...)...))
	}
	keepOne := set("retention", object(set("keep_last", 1)))
	steps := keepLastSteps(func(trigger string) string { return config(trigger) }, ids)
	steps = append(steps,
		resource.TestStep{ // a new retention on the resource: an update, no backup, nothing deleted
			Config: config("5", keepOne),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(arubaRes, plancheck.ResourceActionUpdate),
			}},
			ConfigStateChecks: stateChecks(ids.holdsNewest(2)),
		},
		resource.TestStep{ // a failed backup prunes nothing
			PreConfig:   func() { failing.Store(true) },
			Config:      config("6", keepOne),
			ExpectError: errorRE(`Backup of conductor 127\.0\.0\.1 failed`),
		},
		resource.TestStep{
			PreConfig: func() {
				failing.Store(false)
				if err := ids.holdsNewest(2)(nil); err != nil {
					t.Errorf("after a failed backup: %v", err)
				}
			},
			Config:            config("7", keepOne),
			ConfigStateChecks: stateChecks(ids.record(), ids.holdsNewest(1)),
		},
	)
	resource.ParallelTest(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
	if n := len(ids.newest(100)); n != 6 {
		t.Errorf("%d backups were made, want 6", n)
	}
}

// TestAccRetention_keepLastS3Override: the same five backups into a bucket, with the
// provider's default (keep_last = 5, which would keep them all) replaced by the
// resource's keep_last = 2.
func TestAccRetention_keepLastS3Override(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-keep-s3", nil)
	b := e.startS3(false)
	b.prefix = "retention"
	cfg := b.srv.Config(b.name)
	cfg.Prefix = b.prefix
	bucket, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := &backupIDs{res: arubaRes, family: "aruba", device: "mc", objects: func() objstore.Store { return bucket }}
	config := func(trigger string) string {
		return hclConfig(e.s3Provider(b, set("retention", object(set("keep_last", 5)))),
			arubaBackup(c, set("name", "mc"), set("trigger", trigger), set("retention", object(set("keep_last", 2)))))
	}
	steps := keepLastSteps(config, ids)
	steps[len(steps)-1].ConfigStateChecks = append(steps[len(steps)-1].ConfigStateChecks, deviceCheck(func() error {
		for _, k := range b.keys(t) { // nothing outside the device's folder either
			if !strings.HasPrefix(k, "retention/aruba/mc/") {
				return fmt.Errorf("the bucket holds %s", k)
			}
		}
		if open := b.srv.OpenUploads(t, b.name); len(open) != 0 {
			return fmt.Errorf("multipart uploads left open: %v", open)
		}
		return nil
	}))
	resource.ParallelTest(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccRetention_objectLockKeepsWithAWarning: iLO backups into a bucket with
// Object Lock (COMPLIANCE, one day) and keep_last = 1: retention deletes nothing
// locked, each apply succeeds, and a warning names every kept backup with its
// retain-until date, as the server reports it.
func TestAccRetention_objectLockKeepsWithAWarning(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-locked", nil)
	b := e.startS3(true)
	cfg := b.srv.Config(b.name)
	bucket, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &diagRecorder{}
	ids := &backupIDs{res: iloRes, family: "ilo", objects: func() objstore.Store { return bucket }, reservationsStay: true}
	config := func(trigger string) string {
		return hclConfig(
			e.provider(unset("backup_dir"), b.store(set("object_lock", object(set("mode", "COMPLIANCE"), set("retention_days", 1))))),
			iloBackup(d, set("trigger", trigger), set("retention", object(set("keep_last", 1)))))
	}
	device := func() checkFunc { // the serial names the device's folder
		return func(s *tfjson.State) error {
			name, err := attrText(s, iloRes, "name")
			ids.mu.Lock()
			ids.device = name
			ids.mu.Unlock()
			return err
		}
	}
	// lockWarnings checks that the warnings of the last apply name exactly the
	// older backups, each with the latest retain-until date of its objects.
	lockWarnings := func() checkFunc {
		return deviceCheck(func() error {
			_, all := rec.take()
			var lockWarnings []string
			for _, w := range all {
				if strings.Contains(w, "Object Lock") {
					lockWarnings = append(lockWarnings, w)
				}
			}
			older := ids.newest(100)
			older = older[:len(older)-1]
			if len(lockWarnings) != len(older) {
				return fmt.Errorf("%d Object Lock warnings, want one per older backup %v: %q", len(lockWarnings), older, all)
			}
			for _, id := range older {
				until, err := retainUntil(bucket, b, "ilo/"+ids.device+"/"+id)
				if err != nil {
					return err
				}
				want := fmt.Sprintf("Backup %s of ilo device %s kept: Object Lock until %s", id, ids.device, until.Format(time.RFC3339))
				if !slices.ContainsFunc(lockWarnings, func(w string) bool {
					return strings.HasPrefix(w, want) && strings.Contains(w, "COMPLIANCE retention until")
				}) {
					return fmt.Errorf("no warning says %q: %q", want, lockWarnings)
				}
			}
			return nil
		})
	}
	var steps []resource.TestStep
	for k := 1; k <= 3; k++ {
		steps = append(steps, resource.TestStep{
			Config: config(fmt.Sprint(k)),
			ConfigStateChecks: append(stateChecks(device(), ids.record(), ids.holdsNewest(k), lockWarnings()),
				statecheck.ExpectKnownValue(iloRes, at("files.0.location"), knownvalue.StringRegexp(errorRE(`^s3://`+b.name+`/ilo/`)))),
		})
	}
	resource.ParallelTest(t, resource.TestCase{ProtoV6ProviderFactories: rec.factories(), Steps: steps})
}

// retainUntil is the latest Object Lock retain-until date of the objects whose keys
// start with prefix, failing when one of them is not under COMPLIANCE retention.
func retainUntil(bucket objstore.Store, b *s3Bucket, prefix string) (time.Time, error) {
	objs, err := bucket.List(context.Background(), prefix)
	if err != nil {
		return time.Time{}, err
	}
	var latest time.Time
	for _, o := range objs {
		head, err := b.srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(b.name), Key: aws.String(b.bucketKey(o.Key))})
		if err != nil {
			return time.Time{}, err
		}
		if head.ObjectLockMode != "COMPLIANCE" || head.ObjectLockRetainUntilDate == nil {
			return time.Time{}, fmt.Errorf("%s is not under COMPLIANCE retention (%q)", o.Key, head.ObjectLockMode)
		}
		if u := head.ObjectLockRetainUntilDate.UTC(); u.After(latest) {
			latest = u
		}
	}
	if latest.IsZero() {
		return latest, fmt.Errorf("no object starts with %s", prefix)
	}
	return latest, nil
}

// TestAccRetention_pruneFailureIsAWarning: when the bucket refuses the deletions
// retention needs, the backup that was just made stands: the apply succeeds with a
// warning that says what failed and that the new backup is recorded, and the older
// backup stays listed.
func TestAccRetention_pruneFailureIsAWarning(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-prune-fails", nil)
	b := e.startS3(false)
	proxy := s3test.NewProxy(t, b.srv, e.ca)
	bucket, err := objstore.NewS3(t.Context(), b.srv.Config(b.name))
	if err != nil {
		t.Fatal(err)
	}
	rec := &diagRecorder{}
	ids := &backupIDs{res: arubaRes, family: "aruba", device: "mc", objects: func() objstore.Store { return bucket }, reservationsStay: true}
	config := func(trigger string) string {
		return hclConfig(e.provider(unset("backup_dir"), b.store(set("endpoint", proxy.URL)), set("retention", object(set("keep_last", 1)))),
			arubaBackup(c, set("name", "mc"), set("trigger", trigger)))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{Config: config("1"), ConfigStateChecks: stateChecks(ids.record(), ids.holdsNewest(1))},
			{
				PreConfig: func() {
					rec.take()
					proxy.SetRule(func(r *s3test.Request) s3test.Action {
						if r.Op == "DeleteObject" {
							return s3test.NotImplemented
						}
						return s3test.Pass
					})
				},
				Config: config("2"),
				ConfigStateChecks: stateChecks(ids.record(), ids.holdsNewest(2), rec.warning(
					"Old backups of aruba device mc were not pruned", "S3 delete s3://"+b.name+"/aruba/mc/", "(HTTP 501)",
					"nothing was deleted", "succeeded and is recorded in the state and in the backup store")),
			},
		},
	})
}

// TestAccRetention_killedRuns: two runs a killed runner left in a bucket with Object
// Lock (a reservation and a running configuration each, no record) are handled by
// the retention of a backup made more than a day later: the unlocked one is
// deleted, the one Object Lock protects stays, with its reservation, and the apply
// succeeds with a warning naming its file and date.
func TestAccRetention_killedRuns(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-killed", nil)
	b := e.startS3(true)
	cfg := b.srv.Config(b.name)
	bucket, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LockMode, cfg.LockRetention = objstore.LockCompliance, time.Hour
	locking, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// killedRun begins a run and writes a file, then drops the run as a killed
	// runner would; it returns the keys of the file and of the reservation.
	killedRun := func(obj objstore.Store, started time.Time) []string {
		run, err := backupstore.New(obj).Begin(t.Context(), "aruba", "mc", started)
		if err != nil {
			t.Fatal(err)
		}
		f, err := run.WriteFile(t.Context(), "running-config", "cfg", strings.NewReader("enable secret hashed"))
		if err != nil {
			t.Fatal(err)
		}
		return []string{f.Key, "aruba/mc/" + run.ID() + ".lock"}
	}
	free := killedRun(bucket, time.Now().Add(-48*time.Hour))
	locked := killedRun(locking, time.Now().Add(-47*time.Hour))
	clock := &testClock{}
	clock.set(25 * time.Hour) // the runs, and their reservations, are over a day old
	rec := &diagRecorder{now: clock.now}
	ids := &backupIDs{res: arubaRes, family: "aruba", device: "mc", objects: func() objstore.Store { return bucket }}
	config := hclConfig(e.s3Provider(b, set("retention", object(set("keep_last", 1)))), arubaBackup(c, set("name", "mc")))
	storeHolds := deviceCheck(func() error {
		objs, err := bucket.List(context.Background(), "aruba/mc/")
		if err != nil {
			return err
		}
		newest := ids.newest(1)[0]
		var got []string
		for _, o := range objs {
			if !strings.HasPrefix(o.Key, "aruba/mc/"+newest) {
				got = append(got, o.Key)
			}
		}
		if !slices.Equal(got, locked) {
			return fmt.Errorf("besides backup %s, the store holds %q; want the locked run's %q (the other run's %q deleted)", newest, got, locked, free)
		}
		return nil
	})
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: stateChecks(ids.record(), storeHolds, rec.warning(
				"Retention of aruba device mc kept a locked file that no backup records",
				"s3://"+b.name+"/"+locked[0]+" is under Object Lock COMPLIANCE retention until ",
				"a backup of this device after their date deletes them", "The new backup succeeded")),
		}},
	})
}
