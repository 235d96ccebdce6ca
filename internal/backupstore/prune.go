package backupstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// Policy says which backups of a device Prune keeps: a backup is kept when it is
// among the newest KeepLast or younger than KeepDays days (by its id, the time it
// started). Zero turns a rule off; both zero keep everything.
type Policy struct {
	KeepLast int
	KeepDays int
}

// KeepsEverything reports whether the policy deletes nothing.
func (p Policy) KeepsEverything() bool { return p.KeepLast == 0 && p.KeepDays == 0 }

func (p Policy) check() error {
	if p.KeepLast < 0 || p.KeepDays < 0 {
		return fmt.Errorf("retention: keep_last (%d) and keep_days (%d) must not be negative", p.KeepLast, p.KeepDays)
	}
	return nil
}

// KeepReason says why Prune kept a backup.
type KeepReason string

// Reasons to keep a backup, the first that applies.
const (
	KeptJustMade KeepReason = "it is the backup just made"
	KeptNewest   KeepReason = "it is among the newest keep_last backups"
	KeptYoung    KeepReason = "it is younger than keep_days"
	KeptLastGood KeepReason = "it is the newest usable backup"
	KeptLocked   KeepReason = "Object Lock protects it"
)

// Kept is a backup Prune left in place, and why.
type Kept struct {
	ID     string
	Reason KeepReason
	// For KeptLocked: the protected object (the one protected longest), its
	// retention mode and date, or its legal hold.
	Location    string
	LockMode    string
	RetainUntil time.Time
	LegalHold   bool
}

func (k Kept) String() string {
	if k.Reason != KeptLocked {
		return fmt.Sprintf("backup %s kept: %s", k.ID, k.Reason)
	}
	if k.LegalHold {
		return fmt.Sprintf("backup %s kept although the retention policy would delete it: %s is under an Object Lock legal hold", k.ID, k.Location)
	}
	return fmt.Sprintf("backup %s kept although the retention policy would delete it: %s is under Object Lock %s retention until %s",
		k.ID, k.Location, k.LockMode, k.RetainUntil.UTC().Format(time.RFC3339))
}

// PruneResult is what Prune did.
type PruneResult struct {
	Kept    []Kept   // newest first
	Deleted []string // ids, newest first
	// Leftovers are objects of deleted backups that could not be deleted (Object
	// Lock set on them alone, after the check): invisible, since no record names
	// them any more.
	Leftovers []string
	// Orphans are the locations of files deleted because no run owns them any
	// more: left by an earlier prune, an abort that failed half-way, or a run
	// that died before its record (see Abandoned).
	Orphans []string
	// Abandoned are the ids of the runs that died before writing their record
	// (killed, or failed under Object Lock) whose reservation Prune deleted, after
	// their files, newest first.
	Abandoned []string
	// LockedOrphans are files no backup records that Object Lock keeps for now:
	// orphans, and files of abandoned runs (whose reservation stays with them). A
	// later prune deletes them after their date.
	LockedOrphans []*objstore.RetainedError
	// FailuresDeleted are the ids of the failure records deleted, newest first.
	FailuresDeleted []string
}

// abandonedAfter is how long after it started a run that has no record is taken
// for dead, if a newer backup of its device exists too. It is far longer than any
// run takes (the backup resources' create timeouts default to 30 or 60 minutes)
// and leaves room for runners' clocks to disagree; a run that lasts longer and
// meets a prune by a concurrent runner loses its files, and its record, written
// last, is refused by lookups as naming missing files.
const abandonedAfter = 24 * time.Hour

// Locked returns the backups kept only because Object Lock protects them: each
// deserves a warning naming it and its date.
func (r PruneResult) Locked() []Kept {
	var out []Kept
	for _, k := range r.Kept {
		if k.Reason == KeptLocked {
			out = append(out, k)
		}
	}
	return out
}

// Prune deletes the backups of a device that policy does not keep, after a new
// backup (justCommittedID) of that device succeeded; never call it after a
// failure. It never deletes the backup just made, nor the newest usable backup
// (the last good one), whatever the policy says. now is the clock the ages are
// measured against.
//
// One listing of the device's folder finds the backups; records are read only to
// find the newest usable one, and only when something would be deleted. Each
// backup to delete is first checked object by object: when Object Lock protects
// any of them (retention or legal hold) the whole backup is kept, whole and
// visible, and reported (Kept with KeptLocked); the run goes on. Otherwise its
// record is deleted first, so that a backup deleted half-way is never listed as
// complete, then its files and its reservation. Remote copies (SCP) are not the
// store's and stay. On a versioned bucket a delete adds a delete marker: the data
// stays as noncurrent versions until a lifecycle rule expires them.
//
// Files of runs that have neither a record nor a reservation are orphans: a run
// reserves its id before it writes its first file and gives the reservation up
// only once its record exists or its files are gone, so nothing can make them part
// of a backup any more. Prune deletes them too. A run that died before its record
// (killed, or failed under Object Lock) keeps its reservation: once the run is
// older than the device's newest backup and, by its id and by the reservation's
// modification time, older than abandonedAfter, it cannot be running any more, and
// Prune deletes its files, then its reservation (Abandoned). Files under Object
// Lock stay, reported in LockedOrphans, and so does the reservation of their run,
// for a later prune to delete after their date.
//
// Failure records (see RecordFailure) are kept while they may tell the device's
// last attempt or last failure: the newest one, and any newer than the newest
// backup (a concurrent run's). Older ones are deleted (FailuresDeleted), whatever
// the policy, unless it keeps everything; one under Object Lock waits for a later
// run.
//
// Any other failure stops Prune with an error; what it did so far is in the result.
func (s *Store) Prune(ctx context.Context, family, device string, policy Policy, justCommittedID string, now time.Time) (PruneResult, error) {
	var res PruneResult
	if err := validFamily(family); err != nil {
		return res, err
	}
	if err := ValidName(device); err != nil {
		return res, fmt.Errorf("invalid device name: %w", err)
	}
	if err := policy.check(); err != nil {
		return res, err
	}
	if policy.KeepsEverything() {
		return res, nil
	}
	w := what(family, device)
	fail := func(err error) (PruneResult, error) {
		return res, fmt.Errorf("retention for %s: %w", w, err)
	}
	l, err := s.list(ctx, family, device)
	if err != nil {
		return fail(err)
	}
	ids := l.records[device] // newest first
	if justCommittedID != "" && !slices.Contains(ids, justCommittedID) {
		return fail(fmt.Errorf("the backup just made (%s) is not listed in %s; nothing was deleted", justCommittedID, s.Location()))
	}
	keep := map[string]KeepReason{}
	var doomed []string
	for i, id := range ids {
		switch {
		case id == justCommittedID:
			keep[id] = KeptJustMade
		case policy.KeepLast > 0 && i < policy.KeepLast:
			keep[id] = KeptNewest
		case policy.KeepDays > 0 && now.Sub(stampTime(id)) < time.Duration(policy.KeepDays)*24*time.Hour:
			keep[id] = KeptYoung
		default:
			doomed = append(doomed, id)
		}
	}
	if len(doomed) > 0 {
		// The newest usable backup stays, even when newer records are damaged.
		for _, id := range ids {
			_, _, err := s.load(ctx, candidate{family, device, id}, l)
			if err == nil {
				if _, kept := keep[id]; !kept {
					keep[id] = KeptLastGood
				}
				break
			}
			// A record that cannot be read for want of the server is no reason
			// to elect an older backup as the last good one.
			var rerr *recordError
			var s3err *objstore.S3Error
			if !errors.As(err, &rerr) || ctx.Err() != nil || (errors.As(err, &s3err) && !errors.Is(err, objstore.ErrNotFound)) {
				return fail(err)
			}
		}
	}
	locked := map[string]Kept{}
	var deleted []string
	for _, id := range slices.Backward(ids) { // oldest first: an interrupted prune keeps the newer ones
		if _, kept := keep[id]; kept {
			continue
		}
		k, err := s.deleteBackup(ctx, l, family, device, id, now, &res)
		if err != nil {
			res.Deleted = deleted
			slices.Reverse(res.Deleted)
			return fail(err)
		}
		if k != nil {
			locked[id] = *k
			continue
		}
		deleted = append(deleted, id)
	}
	for _, id := range ids {
		if r, kept := keep[id]; kept {
			res.Kept = append(res.Kept, Kept{ID: id, Reason: r})
		} else if k, ok := locked[id]; ok {
			res.Kept = append(res.Kept, k)
		}
	}
	res.Deleted = deleted
	slices.Reverse(res.Deleted)
	if err := s.deleteFailures(ctx, l, family, device, &res); err != nil {
		return fail(err)
	}
	if err := s.deleteOrphans(ctx, l, family, device, now, &res); err != nil {
		return fail(err)
	}
	return res, nil
}

// deleteFailures deletes the failure records that tell neither the last attempt
// nor the last failure: all but the newest, unless newer than the newest backup.
func (s *Store) deleteFailures(ctx context.Context, l listing, family, device string, res *PruneResult) error {
	failures := l.failures[device] // newest first
	newestBackup := ""
	if ids := l.records[device]; len(ids) > 0 {
		newestBackup = ids[0]
	}
	for i, id := range failures {
		if i == 0 || id > newestBackup {
			continue
		}
		key := failureKey(family, device, id)
		if _, ok := l.object(key); !ok {
			continue // a folder named like one: not the store's to delete
		}
		err := s.obj.Delete(ctx, key)
		var retained *objstore.RetainedError
		switch {
		case err == nil:
			res.FailuresDeleted = append(res.FailuresDeleted, id)
		case errors.Is(err, objstore.ErrNotFound), errors.As(err, &retained):
		default:
			return fmt.Errorf("delete the old failure record %s: %w", s.obj.Location(key), err)
		}
	}
	return nil
}

// deleteOrphans deletes the files of runs that have neither a record nor a live
// reservation in listing l, then the reservations of abandoned runs whose files
// are all gone (see Prune).
func (s *Store) deleteOrphans(ctx context.Context, l listing, family, device string, now time.Time, res *PruneResult) error {
	records := l.records[device] // newest first
	owned := map[string]bool{}
	for _, id := range records {
		owned[id] = true
	}
	prefix := devicePrefix(family, device)
	// abandoned: the runs whose reservation may go once their files are gone.
	abandoned := map[string]bool{}
	for key, o := range l.objects {
		name, _ := strings.CutPrefix(key, prefix)
		id, ok := strings.CutSuffix(name, reservationSuffix)
		if ok && validStamp(id) && !owned[id] && isAbandoned(id, o, records, now) {
			abandoned[id] = true
		}
	}
	var orphans []string
	for key := range l.objects {
		name, _ := strings.CutPrefix(key, prefix)
		if len(name) <= stampLen || name[stampLen] != '-' || !validStamp(name[:stampLen]) || strings.Contains(name, "/") {
			continue
		}
		id := name[:stampLen]
		if _, reserved := l.objects[reservationKey(family, device, id)]; !owned[id] && (!reserved || abandoned[id]) {
			orphans = append(orphans, key)
		}
	}
	slices.Sort(orphans)
	dead := maps.Clone(abandoned) // abandoned loses the runs whose reservation must stay
	recheck := map[string]bool{}  // per run: may its files go (asked once)
	for _, key := range orphans {
		id := strings.TrimPrefix(key, prefix)[:stampLen]
		if !dead[id] {
			// A listing is no snapshot: a run that committed (record written,
			// then its reservation deleted) or began while it was taken can look
			// like neither. Its record and reservation are asked for again.
			gone, asked := recheck[id]
			if !asked {
				var err error
				if gone, err = s.neitherRecordNorReservation(ctx, family, device, id); err != nil {
					return err
				}
				recheck[id] = gone
			}
			if !gone {
				continue
			}
		}
		err := s.obj.Delete(ctx, key)
		var retained *objstore.RetainedError
		switch {
		case err == nil:
			res.Orphans = append(res.Orphans, s.obj.Location(key))
		case errors.Is(err, objstore.ErrNotFound):
		case errors.As(err, &retained):
			res.LockedOrphans = append(res.LockedOrphans, retained)
			// The reservation stays with its file, so that a later prune finds
			// the run abandoned again and deletes the file after its date.
			delete(abandoned, strings.TrimPrefix(key, prefix)[:stampLen])
		default:
			return fmt.Errorf("delete %s, which no backup records: %w", s.obj.Location(key), err)
		}
	}
	// Last, the reservations whose files are gone: newest first, as reported.
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(abandoned))) {
		key := reservationKey(family, device, id)
		err := s.obj.Delete(ctx, key)
		var retained *objstore.RetainedError
		switch {
		case err == nil:
			res.Abandoned = append(res.Abandoned, id)
		case errors.Is(err, objstore.ErrNotFound):
		case errors.As(err, &retained):
			// Locked itself, it holds no data: a later prune deletes it, quietly.
		default:
			return fmt.Errorf("delete %s, the reservation of run %s, which died before its record: %w", s.obj.Location(key), id, err)
		}
	}
	return nil
}

// isAbandoned reports whether the run id, which has no record, cannot be running any
// more: it is older than the device's newest backup (records, newest first) and
// older than abandonedAfter both by its id, which the runner's clock stamped, and by
// the reservation's modification time, which the store's clock did, when the store
// tells it. Both are measured against the pruner's clock, now: an S3 server refuses
// the requests of a client whose clock is off by more than minutes (the signature's
// time), and a local store's clock is the machine's, so a pruner whose clock runs a
// day ahead cannot reach the bucket in the first place.
func isAbandoned(id string, reservation objstore.ObjectInfo, records []string, now time.Time) bool {
	if len(records) == 0 || id >= records[0] {
		return false
	}
	if now.Sub(stampTime(id)) <= abandonedAfter {
		return false
	}
	return reservation.ModTime.IsZero() || now.Sub(reservation.ModTime) > abandonedAfter
}

// neitherRecordNorReservation asks the store whether run id of the device has
// neither a record nor a reservation now.
func (s *Store) neitherRecordNorReservation(ctx context.Context, family, device, id string) (bool, error) {
	for _, key := range []string{recordKey(family, device, id), reservationKey(family, device, id)} {
		_, err := s.obj.Stat(ctx, key)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, objstore.ErrNotFound):
			return false, fmt.Errorf("check %s before deleting the files of run %s: %w", s.obj.Location(key), id, err)
		}
	}
	return true, nil
}

// deleteBackup deletes backup id unless Object Lock protects one of its objects,
// in which case it returns what protects it and deletes nothing.
func (s *Store) deleteBackup(ctx context.Context, l listing, family, device, id string, now time.Time, res *PruneResult) (*Kept, error) {
	record := recordKey(family, device, id)
	var files []string
	reservation := ""
	runPrefix := devicePrefix(family, device) + id + "-"
	for key := range l.objects {
		switch {
		case strings.HasPrefix(key, runPrefix):
			files = append(files, key)
		case key == reservationKey(family, device, id):
			reservation = key
		}
	}
	slices.Sort(files)
	objects := append([]string{record}, files...)
	if reservation != "" {
		objects = append(objects, reservation)
	}

	// Check first, so that a protected backup stays whole.
	var protected *Kept
	for _, key := range objects {
		info, err := s.obj.Stat(ctx, key)
		if errors.Is(err, objstore.ErrNotFound) {
			continue // deleted meanwhile, by another runner's prune
		}
		if err != nil {
			return nil, err
		}
		if !info.LegalHold && !(info.LockMode != "" && info.RetainUntil.After(now)) {
			continue
		}
		if protected == nil || info.LegalHold || (!protected.LegalHold && info.RetainUntil.After(protected.RetainUntil)) {
			protected = &Kept{ID: id, Reason: KeptLocked, Location: s.obj.Location(key),
				LockMode: info.LockMode, RetainUntil: info.RetainUntil, LegalHold: info.LegalHold}
		}
	}
	if protected != nil {
		return protected, nil
	}

	// The record first: from then on the backup is invisible, whatever follows.
	err := s.obj.Delete(ctx, record)
	var retained *objstore.RetainedError
	switch {
	case errors.As(err, &retained):
		return &Kept{ID: id, Reason: KeptLocked, Location: retained.Location,
			LockMode: retained.Mode, RetainUntil: retained.RetainUntil, LegalHold: retained.LegalHold}, nil
	case err != nil && !errors.Is(err, objstore.ErrNotFound):
		return nil, err
	}
	for _, key := range objects[1:] {
		err := s.obj.Delete(ctx, key)
		switch {
		case err == nil, errors.Is(err, objstore.ErrNotFound):
		case errors.As(err, &retained):
			res.Leftovers = append(res.Leftovers, s.obj.Location(key))
		default:
			return nil, fmt.Errorf("backup %s is deleted (its record is gone) but %s could not be: %w; it is invisible and can be removed by hand", id, s.obj.Location(key), err)
		}
	}
	return nil, nil
}
