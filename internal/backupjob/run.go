package backupjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// steps are what one kind of device does in a backup; runBackup runs them inside
// the lifecycle every backup shares.
type steps struct {
	// family is the store family the backup is recorded under.
	family string
	// device names the device in errors (the client's Device()).
	device string
	// name is the device's folder when the request names it ("" when the device
	// names it in prepare).
	name string
	// prepare runs first, in the session, before anything is written: it asks the
	// device what the backup needs and returns the name of the device's folder,
	// also with an error of a step after the folder was known (the failure is then
	// recorded there).
	prepare func(ctx context.Context) (folder string, err error)
	// write stores the backup's files in run and returns the attributes to record
	// (never secrets).
	write func(ctx context.Context, run *backupstore.Run) (attrs map[string]string, err error)
}

// Target is the device a backup is taken from, as the store records it, the
// clock the backup is timed by (time.Now when nil), and what the store knows of
// the devices at each address (nil: nothing; see DeviceIndex).
type Target struct {
	Host    string
	Port    int
	Now     func() time.Time
	Devices *DeviceIndex
}

func (t Target) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// runBackup is the lifecycle of every backup: in one session with the device
// (always logged out), prepare, begin a run in the store, write, and commit. A run
// that fails at any step is aborted, so it leaves nothing in the store but a
// failure record (RecordFailure) naming the step, so that the last attempt of the
// device is known; when that record cannot be written, the error is a
// *FailureNotRecorded. Every error names its step (Step): the device's, or the
// lifecycle's where the device named none. A logout that fails after the commit
// does not fail the backup (it is in the store, so store, state and device would
// otherwise disagree): it comes back as logoutFailed, for a warning.
func runBackup(ctx context.Context, store *backupstore.Store, session *client.Session, at Target, s steps) (b backupstore.Backup, logoutFailed error, err error) {
	started := at.now().UTC()
	folder := s.name
	err = client.With(ctx, session, func(ctx context.Context) error {
		named, err := s.prepare(ctx)
		if named != "" {
			folder = named
		}
		if err != nil {
			return inStep("prepare the backup", err)
		}
		run, err := store.Begin(ctx, s.family, folder, started)
		if err != nil {
			return inStep("begin the backup in the store", err)
		}
		committed := false
		defer func() {
			if !committed {
				// Abort removes what the run wrote; its own failure cannot be
				// reported better than the error that made the run fail.
				_ = run.Abort()
			}
		}()
		attrs, err := s.write(ctx, run)
		if err != nil {
			return inStep("write the backup", err)
		}
		committedBackup, err := run.Commit(ctx, at.Host, at.Port, attrs, at.now().UTC())
		if err != nil {
			return &StepError{Step: "record the backup", Err: fmt.Errorf("%s: record the backup: %w", s.device, err)}
		}
		committed, b = true, committedBackup
		return nil
	})
	var le *client.LogoutError
	if b.ID != "" && errors.As(err, &le) {
		at.Devices.note(s.family, at.Host, at.Port, b.Device)
		return b, err, nil
	}
	if err == nil {
		at.Devices.note(s.family, at.Host, at.Port, b.Device)
		return b, nil, nil
	}
	// Every step inside names itself: a stepless error is the login's, or a panic.
	var perr *client.PanicError
	if errors.As(err, &perr) {
		err = inStep("internal error (a bug: please report it)", err)
	}
	err = inStep("log in", err)
	if rerr := RecordFailure(ctx, store, s.family, folder, at, started, err); rerr != nil {
		err = &FailureNotRecorded{Err: err, Record: rerr}
	}
	return b, nil, err
}
