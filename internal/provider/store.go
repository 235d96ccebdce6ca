package provider

import (
	"context"
	"errors"
	"sync"

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

	checkMu sync.Mutex
	checked bool

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
// is contacted. A success is remembered; a failure is tried again by the next
// operation.
func (d *providerData) storeForBackup(ctx context.Context) (*backupstore.Store, error) {
	s, err := d.Store()
	if err != nil || !d.store.remote {
		return s, err
	}
	d.store.checkMu.Lock()
	defer d.store.checkMu.Unlock()
	if d.store.checked {
		return s, nil
	}
	if err := s.Check(ctx); err != nil {
		return nil, err // it names the bucket, the step, what the server said and what to do
	}
	d.store.checked = true
	tflog.Debug(ctx, "backup store checked", map[string]any{"store": s.Location()})
	return s, nil
}
