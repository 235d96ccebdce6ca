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
	// prepare runs first, in the session, before anything is written: it asks the
	// device what the backup needs and returns the name of the device's folder.
	prepare func(ctx context.Context) (folder string, err error)
	// write stores the backup's files in run and returns the attributes to record
	// (never secrets).
	write func(ctx context.Context, run *backupstore.Run) (attrs map[string]string, err error)
}

// Target is the device a backup is taken from, as the store records it, and the
// clock the backup is timed by (time.Now when nil).
type Target struct {
	Host string
	Port int
	Now  func() time.Time
}

// runBackup is the lifecycle of every backup: in one session with the device
// (always logged out), prepare, begin a run in the store, write, and commit. A run
// that fails at any step is aborted, so it leaves nothing in the store. A logout
// that fails after the commit does not fail the backup (it is in the store, so
// store, state and device would otherwise disagree): it comes back as logoutFailed,
// for a warning.
func runBackup(ctx context.Context, store *backupstore.Store, session *client.Session, at Target, s steps) (b backupstore.Backup, logoutFailed error, err error) {
	now := at.Now
	if now == nil {
		now = time.Now
	}
	started := now().UTC()
	err = client.With(ctx, session, func(ctx context.Context) error {
		folder, err := s.prepare(ctx)
		if err != nil {
			return err
		}
		run, err := store.Begin(ctx, s.family, folder, started)
		if err != nil {
			return err
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
			return err
		}
		committedBackup, err := run.Commit(ctx, at.Host, at.Port, attrs, now().UTC())
		if err != nil {
			return fmt.Errorf("%s: record the backup: %w", s.device, err)
		}
		committed, b = true, committedBackup
		return nil
	})
	var le *client.LogoutError
	if b.ID != "" && errors.As(err, &le) {
		return b, err, nil
	}
	return b, nil, err
}
