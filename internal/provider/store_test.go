package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// checkAttempts is how many requests one check of the bucket sends to a server
// that keeps answering 503 (objstore retries it).
const checkAttempts = 3

// unhealthyS3 is an S3 endpoint that answers every request with 503, after
// hold (when set) is closed or the request is given up by the client. It counts
// the requests it received and reports the first one on arrived.
type unhealthyS3 struct {
	requests atomic.Int64
	hold     chan struct{} // nil: answer at once
	arrived  chan struct{} // closed when the first request arrives
	once     sync.Once
	released sync.Once
}

// startUnhealthyS3 starts the endpoint and returns a provider configured with a
// bucket on it. A held endpoint is released when the test ends.
func startUnhealthyS3(t *testing.T, held bool) (*unhealthyS3, *providerData) {
	t.Helper()
	u := &unhealthyS3{arrived: make(chan struct{})}
	if held {
		u.hold = make(chan struct{})
	}
	ca := testkit.CA(t)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		u.once.Do(func() { close(u.arrived) })
		if u.hold != nil {
			select {
			case <-u.hold:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	ts.TLS = ca.ServerTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close) // runs after the release below: no handler is left waiting
	if held {
		t.Cleanup(u.release)
	}
	d := &providerData{store: s3Store(objstore.S3Config{
		Bucket: "backups-1", Region: "us-east-1", Endpoint: ts.URL, UsePathStyle: true, CAPEM: ca.CertPEM,
		AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey,
		MaxAttempts: checkAttempts, MaxBackoff: time.Millisecond,
	})}
	return u, d
}

func (u *unhealthyS3) release() { u.released.Do(func() { close(u.hold) }) }

const (
	testAccessKey = "AKIAZZZZSTORECHECK01"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/StoreCheckSecret01"
)

// wantCheckFailure asserts that err is the bucket check's failure, naming the
// bucket, the step and what the server answered, without the credentials.
func wantCheckFailure(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("the store was accepted although its server answers 503")
	}
	for _, want := range []string{"S3 check bucket s3://backups-1 failed", "(HTTP 503)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), testSecretKey) || strings.Contains(err.Error(), testAccessKey) {
		t.Errorf("error shows a credential: %v", err)
	}
}

// TestStoreCheck_sharedByParallelBackups: many backups starting at once against a
// bucket that fails its check cause one check, not one each; every backup gets its
// failure, and a backup starting shortly after gets it too without a new check.
func TestStoreCheck_sharedByParallelBackups(t *testing.T) {
	t.Parallel()
	u, d := startUnhealthyS3(t, false)
	const backups = 8
	errs := make([]error, backups)
	var wg sync.WaitGroup
	for i := range backups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = d.storeForBackup(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		wantCheckFailure(t, err)
	}
	if n := u.requests.Load(); n != checkAttempts {
		t.Errorf("the endpoint received %d requests from %d backups, want %d (one check)", n, backups, checkAttempts)
	}
	_, err := d.storeForBackup(context.Background())
	wantCheckFailure(t, err)
	if n := u.requests.Load(); n != checkAttempts {
		t.Errorf("a later backup checked the bucket again at once: %d requests, want %d", n, checkAttempts)
	}
}

// TestStoreCheck_failureForgottenLater: a remembered failure is forgotten after
// checkFailureMemory; the next backup checks the bucket again.
func TestStoreCheck_failureForgottenLater(t *testing.T) {
	t.Parallel()
	u, d := startUnhealthyS3(t, false)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	d.store.check.now = func() time.Time { return now }
	_, err := d.storeForBackup(context.Background())
	wantCheckFailure(t, err)
	now = now.Add(checkFailureMemory - time.Second)
	_, err = d.storeForBackup(context.Background())
	wantCheckFailure(t, err)
	if n := u.requests.Load(); n != checkAttempts {
		t.Fatalf("%d requests before the failure was forgotten, want %d", n, checkAttempts)
	}
	now = now.Add(2 * time.Second)
	_, err = d.storeForBackup(context.Background())
	wantCheckFailure(t, err)
	if n := u.requests.Load(); n != 2*checkAttempts {
		t.Errorf("%d requests after the failure was forgotten, want %d (a second check)", n, 2*checkAttempts)
	}
}

// TestStoreCheck_waitEndsWithContext: while a check is in flight (its server holds
// the request), a backup whose context ends stops waiting and returns its
// context's error; the check goes on for the others.
func TestStoreCheck_waitEndsWithContext(t *testing.T) {
	t.Parallel()
	u, d := startUnhealthyS3(t, true)
	first := make(chan error, 1)
	go func() {
		_, err := d.storeForBackup(context.Background())
		first <- err
	}()
	<-u.arrived // the check is in flight and stays so until release

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	waiter := make(chan error, 1)
	go func() {
		_, err := d.storeForBackup(ctx)
		waiter <- err
	}()
	var err error
	select {
	case err = <-waiter:
	case err = <-first:
		t.Fatalf("the check ended before the held request was released: %v", err)
	case <-time.After(time.Minute): // a guard against a hang, not a measure
		t.Fatal("a backup whose context ended is still waiting for the check")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("waiting backup got %v, want its context's error", err)
	}
	if !strings.Contains(err.Error(), "s3://backups-1") {
		t.Errorf("error %q does not name the store", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the check ended before its request was answered: %v", err)
	default:
	}
	u.release()
	wantCheckFailure(t, <-first)
	if n := u.requests.Load(); n != checkAttempts {
		t.Errorf("%d requests, want %d (one check)", n, checkAttempts)
	}
}

// TestStoreCheck_cutShortCheckIsNotShared: a check that ends because its own
// backup's context ended says nothing about the bucket: a backup waiting for it
// runs a check of its own and gets the bucket's answer.
func TestStoreCheck_cutShortCheckIsNotShared(t *testing.T) {
	t.Parallel()
	u, d := startUnhealthyS3(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := d.storeForBackup(ctx)
		first <- err
	}()
	<-u.arrived
	second := make(chan error, 1)
	go func() {
		_, err := d.storeForBackup(context.Background())
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled check returned %v, want its context's error", err)
	}
	u.release()
	wantCheckFailure(t, <-second)
}
