package backupstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// proxied is a store in a fresh bucket that reaches the shared server through a
// fault-injecting proxy.
func proxied(t *testing.T, tune ...func(*objstore.S3Config)) (*tstore, *s3test.Proxy) {
	t.Helper()
	srv, ca := sharedServer(t)
	proxy := s3test.NewProxy(t, srv, ca)
	ts := openS3(t, false, append([]func(*objstore.S3Config){func(c *objstore.S3Config) {
		c.Endpoint = proxy.URL
		c.MaxBackoff = 20 * time.Millisecond
	}}, tune...)...)
	return ts, proxy
}

// cancelAfter passes src through and cancels once n bytes went through, as a
// device connection cut in the middle of a backup would.
type cancelAfter struct {
	src    io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.src.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// A run interrupted in the middle of a large file (a multipart upload on S3) after
// it completed another file leaves nothing: no object, no open upload, no backup.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		r, err := ts.Begin(ctx, FamilyILO, "ilo1", t0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Abort() // as callers do
		if _, err := r.WriteFile(ctx, "config", "json", strings.NewReader(`{"done":true}`)); err != nil {
			t.Fatal(err)
		}
		src := &cancelAfter{src: &patternReader{left: 6 * objstore.MinPartSize}, n: 2*objstore.MinPartSize + 100, cancel: cancel}
		if _, err := r.WriteFile(ctx, "backup", "bak", src); !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteFile interrupted = %v, want context.Canceled", err)
		}
		if !ts.local() {
			// The completed file is still there, invisible; the upload is aborted.
			if got := ts.names(t, FamilyILO, "ilo1"); len(got) != 2 {
				t.Errorf("before Abort: %q, want the completed file and the reservation", got)
			}
			if b, err := ts.Latest(bg, FamilyILO, "ilo1"); !errors.Is(err, ErrNoBackup) {
				t.Errorf("before Abort, Latest = %s %v; want ErrNoBackup", b.ID, err)
			}
		}
		if err := r.Abort(); err != nil {
			t.Fatalf("Abort after the context ended: %v", err)
		}
		ts.assertNothingLeft(t, FamilyILO, "ilo1")
	})
}

// The S3 server stops in the middle of a 64 MiB file and is back only when the
// clean-up retries: the error names the step, the bucket and the key; nothing is
// visible afterwards, no object and no multipart upload is left.
func TestS3ServerStopsMidFile(t *testing.T) {
	ts, proxy := proxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 2 })
	var mu sync.Mutex
	gone, back := false, false
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		mu.Lock()
		defer mu.Unlock()
		if !back && r.Op == "UploadPart" && r.Query.Get("partNumber") == "3" {
			gone = true // in the middle of part 3
		}
		if gone && r.Op == "AbortMultipartUpload" {
			gone, back = false, true // back for the clean-up's retry
			return s3test.Drop
		}
		if gone {
			return s3test.Reset
		}
		return s3test.Pass
	})
	r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	if _, err := r.WriteFile(bg, "config", "json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	_, err = r.WriteFile(bg, "backup", "bak", &patternReader{left: 64 << 20})
	key := testPrefix + "/ilo/ilo1/" + r.ID() + "-backup.bak"
	if err == nil || !strings.Contains(err.Error(), "S3 upload part ") || !strings.Contains(err.Error(), "s3://"+ts.bucket+"/"+key) {
		t.Fatalf("WriteFile with the server gone = %v\nwant an error naming the step (upload part), the bucket %s and the key %s", err, ts.bucket, key)
	}
	t.Logf("error: %v", err)
	if err := r.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	ts.assertNothingLeft(t, FamilyILO, "ilo1")
}

// Commit stores the record but its answer is lost: the run failed as far as the
// caller knows, so Abort removes the record first, then the files; nothing is left
// visible, and in particular no record naming deleted files.
func TestS3LostCommitAnswer(t *testing.T) {
	ts, proxy := proxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 1 })
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Op == "PutObject" && strings.HasSuffix(r.Path, ".json") {
			return s3test.Lose
		}
		return s3test.Pass
	})
	r, err := ts.Begin(bg, FamilyAruba, "mc1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteFile(bg, "config", "cfg", strings.NewReader("cfg")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(bg, "h", 4343, nil, time.Time{}); err == nil {
		t.Fatal("Commit succeeded although its answer was lost")
	}
	if got := ts.names(t, FamilyAruba, "mc1"); !strings.Contains(strings.Join(got, " "), r.ID()+".json") {
		t.Fatalf("the server did not store the record (%q): the test does not test what it should", got)
	}
	if err := r.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	ts.assertNothingLeft(t, FamilyAruba, "mc1")
}

// Under Object Lock, what a failed run wrote cannot be deleted: it stays, but no
// record names it, so no lookup sees it.
func TestS3AbortUnderObjectLock(t *testing.T) {
	ts := openS3(t, true, func(c *objstore.S3Config) {
		c.LockMode, c.LockRetention = objstore.LockCompliance, time.Hour
	})
	r, err := ts.Begin(bg, FamilyILO, "ilo1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteFile(bg, "backup", "bak", bytes.NewReader(randBytes(1000, 3))); err != nil {
		t.Fatal(err)
	}
	err = r.Abort()
	if err == nil || !strings.Contains(err.Error(), "COMPLIANCE") || !strings.Contains(err.Error(), "invisible") {
		t.Errorf("Abort under Object Lock = %v, want an error saying the locked file stays, invisible", err)
	}
	if got := ts.names(t, FamilyILO, "ilo1"); len(got) != 2 {
		t.Errorf("stored: %q, want the locked file and reservation", got)
	}
	if b, err := ts.Latest(bg, FamilyILO, "ilo1"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Latest = %s %v, want ErrNoBackup", b.ID, err)
	}
	if open := ts.leftovers(t); len(open) != 0 {
		t.Errorf("uploads left open: %q", open)
	}
}
