package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// backupStore is the store the provider configuration chose. Configure runs during
// plan, so nothing here sends a request until an operation needs the store: a
// bucket's client is built on first use (which reads the AWS configuration sources
// but contacts nobody), and the bucket is checked once, before the first backup.
type backupStore struct {
	open   func() (*backupstore.Store, error)
	remote bool // a bucket: check it before the first backup

	once  sync.Once
	store *backupstore.Store
	err   error

	check storeCheck // of a bucket, before the first backup

	devices backupjob.DeviceIndex // the store's devices by address, for failure records
}

// localStore opens the folder now: Open only reads, and a path that cannot be a
// store fails the plan before any device is contacted.
func localStore(dir string) *backupStore {
	s, err := backupstore.Open(dir)
	b := &backupStore{open: func() (*backupstore.Store, error) { return s, err }}
	return b
}

// s3Store builds the bucket's client on first use.
func s3Store(cfg objstore.S3Config) *backupStore {
	return &backupStore{remote: true, open: func() (*backupstore.Store, error) {
		obj, err := objstore.NewS3(context.Background(), cfg) // reads configuration sources only
		if err != nil {
			return nil, err
		}
		return backupstore.New(obj), nil
	}}
}

// failedStore is a store that cannot be used, for the reason err gives.
func failedStore(err error) *backupStore {
	return &backupStore{open: func() (*backupstore.Store, error) { return nil, err }}
}

func (b *backupStore) get() (*backupstore.Store, error) {
	b.once.Do(func() { b.store, b.err = b.open() })
	return b.store, b.err
}

// Store is the configured backup store, or why it cannot be used. It sends no
// request: data sources and plans use it as they are.
func (d *providerData) Store() (*backupstore.Store, error) {
	if d.store == nil {
		return nil, errors.New("the provider is not configured")
	}
	return d.store.get()
}

// storeForBackup is Store for an operation about to write a backup: a bucket is
// checked (endpoint, TLS, credentials, region, bucket) before the first backup of
// this provider process, so that a store that cannot work fails before any device
// is contacted. Operations starting together share one check (storeCheck).
func (d *providerData) storeForBackup(ctx context.Context) (*backupstore.Store, error) {
	s, err := d.Store()
	if err != nil || !d.store.remote {
		return s, err
	}
	checked := func(ctx context.Context) error {
		if err := s.Check(ctx); err != nil {
			return err // it names the bucket, the step, what the server said and what to do
		}
		tflog.Debug(ctx, "backup store checked", map[string]any{"store": s.Location()})
		return nil
	}
	if err := d.store.check.run(ctx, s.Location(), checked); err != nil {
		return nil, err
	}
	return s, nil
}

// checkFailureMemory is how long a failed check of the store is remembered. A
// store that does not answer can take minutes per check (every attempt waits for
// its timeouts), and the backups of one apply start within seconds of each other:
// they all get that failure at once instead of checking again one after another.
// It is not remembered for the whole process, because an apply can run for hours
// and a store that was briefly away (a restarting gateway, throttling) should not
// fail the backups that start once it is back.
const checkFailureMemory = time.Minute

// storeCheck runs a check of the store once for all the operations that need it:
// while a check is in flight, others wait for its result (each only as long as its
// own context lasts). A success is kept for the life of the provider process, a
// failure for checkFailureMemory.
type storeCheck struct {
	mu       sync.Mutex
	passed   bool
	err      error // the last check's failure, until forgetAt
	forgetAt time.Time
	running  chan struct{}    // closed when the check in flight ends; nil when none is
	now      func() time.Time // the clock of forgetAt: time.Now, or a test's
}

// run returns nil once check has passed, or the failure of a recent check, or
// check's result, which it runs unless another operation is running it already.
func (c *storeCheck) run(ctx context.Context, store string, check func(context.Context) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backup store %s was not checked: this operation ended first: %w", store, err)
		}
		c.mu.Lock()
		if c.passed {
			c.mu.Unlock()
			return nil
		}
		if c.err != nil && c.clock().Before(c.forgetAt) {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if running := c.running; running != nil {
			c.mu.Unlock()
			select {
			case <-running: // its result is recorded, or it was cut short: look again
			case <-ctx.Done():
				return fmt.Errorf("backup store %s: this operation ended while it waited for the check of the store "+
					"that another operation started: %w", store, ctx.Err())
			}
			continue
		}
		running := make(chan struct{})
		c.running = running
		c.mu.Unlock()

		err := check(ctx)

		c.mu.Lock()
		switch {
		case err == nil:
			c.passed, c.err = true, nil
		case ctx.Err() == nil:
			c.err, c.forgetAt = err, c.clock().Add(checkFailureMemory)
		default:
			// This operation's own end cut the check short: that says nothing
			// about the store, and the operations waiting run a check of their own.
		}
		c.running = nil
		close(running)
		c.mu.Unlock()
		return err
	}
}

func (c *storeCheck) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}
