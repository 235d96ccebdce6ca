package backupstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// FleetFilter selects the devices Fleet reports. The zero value selects all.
type FleetFilter struct {
	// Families to report ("aruba", "ilo"); empty: every family in the store.
	Families []string
	// Names, when not empty, keeps only the devices of these names.
	Names []string
	// Name, when set, keeps only the devices whose name it matches.
	Name *regexp.Regexp
}

// Outcome is how a device's last attempt ended.
type Outcome string

// Outcomes of an attempt.
const (
	OutcomeNone      Outcome = ""          // no attempt on record
	OutcomeSucceeded Outcome = "succeeded" // a complete backup
	OutcomeFailed    Outcome = "failed"    // a failure record
	OutcomeUnknown   Outcome = "unknown"   // a backup record that cannot be used: see Problems
)

// Attempt is a device's last attempt to back up: its newest backup record or failure
// record, by the time it started.
type Attempt struct {
	ID        string // the attempt's stamp
	Outcome   Outcome
	StartedAt time.Time
	EndedAt   time.Time // completed_at or failed_at; zero when its record cannot be read
	Step      string    // for a failure: the step that failed
	Message   string    // for a failure: what the device said (redacted, capped)
}

// DeviceStatus is what the store knows of one device.
type DeviceStatus struct {
	Family string
	Device string
	// Host and Port as recorded by the last attempt that can be read (else by the
	// latest backup).
	Host string
	Port int
	// Backups is how many backup records the device has (usable or not).
	Backups int
	// Latest is the newest usable complete backup, nil when there is none.
	Latest *Backup
	// LastFailure is the newest failure record, nil when there is none. When it
	// cannot be read, only its ID, StartedAt, Family and Device are set (from its
	// name) and Problems says why.
	LastFailure *Failure
	LastAttempt Attempt
	// Problems names the records newer than Latest (or the newest failure record)
	// that cannot be used, and why: the store needs repair. Newest first.
	Problems []string
}

// fleetReaders bounds the records read at a time: enough to hide a bucket's
// latency, few enough not to flood a folder or a server.
const fleetReaders = 8

// Fleet reports every device in the store that has a backup record or a failure
// record, in any family (or those filter selects), sorted by family and name: its
// latest usable backup, its last failure and its last attempt. It lists the store
// once (once per family when the filter names families) and then reads, per
// device, only its newest failure record and its newest backup record (older
// backup records only while newer ones cannot be used), never one read per backup.
//
// A record that cannot be used is no reason to fail the whole report: the device
// says so in Problems. An error means the store itself could not be read (the
// listing failed, the bucket stopped answering, ctx ended).
func (s *Store) Fleet(ctx context.Context, filter FleetFilter) ([]DeviceStatus, error) {
	for _, f := range filter.Families {
		if err := validFamily(f); err != nil {
			return nil, err
		}
	}
	var objs []objstore.ObjectInfo
	if len(filter.Families) == 0 {
		all, err := s.obj.List(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("list the backup store %s: %w", s.Location(), err)
		}
		objs = all
	} else {
		for _, f := range slices.Compact(slices.Sorted(slices.Values(filter.Families))) {
			some, err := s.obj.List(ctx, f+"/")
			if err != nil {
				return nil, fmt.Errorf("list %s backups in %s: %w", f, s.Location(), err)
			}
			objs = append(objs, some...)
		}
	}
	groups := groupDevices(objs, func(family, device string) bool {
		if validFamily(family) != nil {
			return false // not the store's
		}
		return len(filter.Families) == 0 || slices.Contains(filter.Families, family)
	})
	named := func(device string) bool {
		return (len(filter.Names) == 0 || slices.Contains(filter.Names, device)) &&
			(filter.Name == nil || filter.Name.MatchString(device))
	}
	// The name filter applies before any record is read, except to the folders
	// that hold only failure records: one of them may be the earlier attempt of a
	// device the filter keeps (foldAddressFolders), and they are few.
	groups = slices.DeleteFunc(groups, func(g deviceGroup) bool { return !named(g.device) && len(g.records) > 0 })
	sts, err := s.statuses(ctx, objs, groups)
	if err != nil {
		return nil, err
	}
	sts = foldAddressFolders(sts)
	sts = slices.DeleteFunc(sts, func(st DeviceStatus) bool { return !named(st.Device) })
	slices.SortStableFunc(sts, func(a, b DeviceStatus) int {
		return cmp.Or(strings.Compare(a.Family, b.Family), strings.Compare(a.Device, b.Device))
	})
	return sts, nil
}

// foldAddressFolders merges the address folders that hold only failure records
// into the device backed up at the same address. An address folder is named after
// the host (SanitizeName) when a backup failed before the device said who it is (a
// new iLO's refused login, say); a folder of another name is a device of its own
// even at a shared address (a replaced board, a second name for one server).
// once the device has a backup of its own under its name, the folder is that
// device's earlier attempt, not a device of its own: reported apart, it would stay
// failed for good. Its failure becomes the device's last attempt when it is newer
// than the device's own; an older one is superseded and dropped.
func foldAddressFolders(sts []DeviceStatus) []DeviceStatus {
	type address struct {
		family, host string
		port         int
	}
	backedUp := map[address]int{} // the device with backups at the address, newest attempt
	for i, st := range sts {
		if st.Backups == 0 || st.Host == "" {
			continue
		}
		a := address{st.Family, strings.ToLower(st.Host), st.Port}
		if j, ok := backedUp[a]; !ok || st.LastAttempt.StartedAt.After(sts[j].LastAttempt.StartedAt) {
			backedUp[a] = i
		}
	}
	drop := make([]bool, len(sts))
	for i, st := range sts {
		if st.Backups > 0 || st.LastFailure == nil || st.Host == "" {
			continue
		}
		if folder, err := SanitizeName(st.Host); err != nil || folder != st.Device {
			continue // not named after its address
		}
		j, ok := backedUp[address{st.Family, strings.ToLower(st.Host), st.Port}]
		if !ok {
			continue
		}
		drop[i] = true
		owner := &sts[j]
		if st.LastAttempt.StartedAt.After(owner.LastAttempt.StartedAt) {
			owner.LastAttempt = st.LastAttempt
			if owner.LastFailure == nil || st.LastFailure.StartedAt.After(owner.LastFailure.StartedAt) {
				owner.LastFailure = st.LastFailure
			}
		}
		owner.Problems = append(owner.Problems, st.Problems...)
	}
	kept := sts[:0]
	for i, st := range sts {
		if !drop[i] {
			kept = append(kept, st)
		}
	}
	return kept
}

// Status is Fleet for one device, from one listing of its folder. A device with
// nothing on record has LastAttempt.Outcome OutcomeNone.
func (s *Store) Status(ctx context.Context, family, device string) (DeviceStatus, error) {
	if err := validFamily(family); err != nil {
		return DeviceStatus{}, err
	}
	if err := ValidName(device); err != nil {
		return DeviceStatus{}, fmt.Errorf("invalid device name: %w", err)
	}
	objs, err := s.obj.List(ctx, devicePrefix(family, device))
	if err != nil {
		return DeviceStatus{}, fmt.Errorf("list backups of %s: %w", what(family, device), err)
	}
	st, err := s.statuses(ctx, objs, groupDevices(objs, func(string, string) bool { return true }))
	if err != nil || len(st) == 0 {
		return DeviceStatus{Family: family, Device: device}, err
	}
	return st[0], nil
}

// deviceGroup is one device's objects in a sorted listing, and its records.
type deviceGroup struct {
	family, device string
	lo, hi         int      // objs[lo:hi] are the device's objects
	records        []string // backup record ids, newest first
	failures       []string // failure record ids, newest first
}

// groupDevices finds the devices in objs and their records; objs is sorted by key
// first when it is not (a device's keys are then contiguous). Devices that keep
// rejects, and those without any record, are left out.
func groupDevices(objs []objstore.ObjectInfo, keep func(family, device string) bool) []deviceGroup {
	byKey := func(a, b objstore.ObjectInfo) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(objs, byKey) {
		slices.SortFunc(objs, byKey)
	}
	var groups []deviceGroup
	var cur *deviceGroup
	skip := false
	for i, o := range objs {
		family, rest, ok1 := strings.Cut(o.Key, "/")
		device, _, ok2 := strings.Cut(rest, "/")
		if !ok1 || !ok2 {
			continue
		}
		if cur == nil || family != cur.family || device != cur.device {
			skip = ValidName(device) != nil || !keep(family, device)
			groups = append(groups, deviceGroup{family: family, device: device, lo: i})
			cur = &groups[len(groups)-1]
		}
		cur.hi = i + 1
		if skip {
			continue
		}
		_, id, isFailure, ok := parseRecordKey(o.Key)
		switch {
		case !ok:
		case isFailure:
			cur.failures = append(cur.failures, id)
		default:
			cur.records = append(cur.records, id)
		}
	}
	kept := groups[:0]
	for _, g := range groups {
		if len(g.records) > 0 || len(g.failures) > 0 {
			g.records = newestFirst(g.records)
			g.failures = newestFirst(g.failures)
			kept = append(kept, g)
		}
	}
	return kept
}

// statuses reads the records of every group, fleetReaders at a time.
func (s *Store) statuses(ctx context.Context, objs []objstore.ObjectInfo, groups []deviceGroup) ([]DeviceStatus, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]DeviceStatus, len(groups))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(fleetReaders, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, err := s.deviceStatus(ctx, groups[i], objs[groups[i].lo:groups[i].hi])
				if err != nil {
					cancel(err)
					continue
				}
				out[i] = st
			}
		}()
	}
	for i := range groups {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// deviceStatus reads a device's newest failure record and its newest usable backup
// record; objs are its objects, sorted.
func (s *Store) deviceStatus(ctx context.Context, g deviceGroup, objs []objstore.ObjectInfo) (DeviceStatus, error) {
	st := DeviceStatus{Family: g.family, Device: g.device, Backups: len(g.records)}
	w := what(g.family, g.device)
	for _, id := range g.failures {
		f, err := s.readFailure(ctx, g.family, g.device, id)
		if err == nil {
			st.LastFailure = &f
			break
		}
		if storeDown(ctx, err) {
			return st, fmt.Errorf("read the failure record of %s: %w", w, err)
		}
		if errors.Is(err, objstore.ErrNotFound) {
			continue // deleted since the listing, by a prune
		}
		st.Problems = append(st.Problems, SafeText(err.Error(), MaxFailureMessage))
		st.LastFailure = &Failure{Family: g.family, Device: g.device, ID: id, StartedAt: stampTime(id)}
		break
	}
	l := listing{sorted: objs}
	lastRecord, lastUsable := "", false
	for _, id := range g.records {
		b, _, err := s.load(ctx, candidate{g.family, g.device, id}, l)
		if err != nil && storeDown(ctx, err) {
			return st, fmt.Errorf("read the backup record of %s: %w", w, err)
		}
		if err != nil && errors.Is(err, objstore.ErrNotFound) {
			continue // deleted since the listing: an abort, a prune
		}
		if lastRecord == "" {
			lastRecord = id
		}
		if err != nil {
			st.Problems = append(st.Problems, SafeText(err.Error(), MaxFailureMessage))
			continue
		}
		st.Latest = &b
		lastUsable = id == lastRecord
		break
	}
	switch f := st.LastFailure; {
	case f != nil && f.ID > lastRecord:
		st.LastAttempt = Attempt{ID: f.ID, Outcome: OutcomeFailed, StartedAt: f.StartedAt, EndedAt: f.FailedAt, Step: f.Step, Message: f.Message}
		st.Host, st.Port = f.Host, f.Port
	case lastUsable:
		b := st.Latest
		st.LastAttempt = Attempt{ID: b.ID, Outcome: OutcomeSucceeded, StartedAt: b.StartedAt, EndedAt: b.CompletedAt}
	case lastRecord != "":
		st.LastAttempt = Attempt{ID: lastRecord, Outcome: OutcomeUnknown, StartedAt: stampTime(lastRecord)}
	}
	if st.Host == "" {
		switch {
		case st.Latest != nil:
			st.Host, st.Port = st.Latest.Host, st.Latest.Port
		case st.LastFailure != nil:
			st.Host, st.Port = st.LastFailure.Host, st.LastFailure.Port
		}
	}
	return st, nil
}

// storeDown reports whether err says the store could not be read at all (ctx
// ended, the bucket failed to answer) rather than that one record is unusable.
func storeDown(ctx context.Context, err error) bool {
	var s3err *objstore.S3Error
	return ctx.Err() != nil || (errors.As(err, &s3err) && !errors.Is(err, objstore.ErrNotFound))
}
