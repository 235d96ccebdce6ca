package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// proxied is a store that talks to versitygw through a fault-injecting proxy.
type proxied struct {
	srv    *s3test.Server
	proxy  *s3test.Proxy
	store  *objstore.S3
	bucket string
}

func newProxied(t *testing.T, tune ...setup) *proxied {
	ca, err := devicesim.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := s3test.StartWithCA(t, ca)
	srv.CreateBucket(t, "backups", false)
	proxy := s3test.NewProxy(t, srv, ca)
	cfg := srv.Config("backups")
	cfg.Endpoint = proxy.URL
	cfg.PartSize = partSize
	cfg.MaxBackoff = 20 * time.Millisecond
	for _, f := range tune {
		f(&cfg)
	}
	st, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &proxied{srv: srv, proxy: proxy, store: st, bucket: "backups"}
}

// writeErr writes body to key and returns the first error of the write or the
// commit; the writer is aborted (deferred) as callers do.
func writeErr(st objstore.Store, key string, body []byte) (objstore.Written, error) {
	w, err := st.Create(context.Background(), key)
	if err != nil {
		return objstore.Written{}, err
	}
	defer w.Abort()
	if _, err := io.Copy(w, bytes.NewReader(body)); err != nil {
		return objstore.Written{}, err
	}
	return w.Commit()
}

func wantInError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	t.Logf("error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestS3SendsSHA256AndConditions(t *testing.T) {
	p := newProxied(t)
	small, large := data(100, 20), data(2*partSize+7, 21)
	write(t, p.store, "c/small", small)
	write(t, p.store, "c/large", large)
	if _, err := p.store.Put(context.Background(), "c/record.json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, r := range p.proxy.Requests() {
		ops[r.Op]++
		for name := range r.Header {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-sha256" && n != "x-amz-checksum-algorithm" && n != "x-amz-checksum-mode" {
				t.Errorf("%s sent %s: only SHA-256 checksums should be sent", r.Op, name)
			}
		}
		switch r.Op {
		case "PutObject", "UploadPart":
			if got := r.Header.Get("X-Amz-Checksum-Sha256"); got == "" || got != r.BodySHA256 {
				t.Errorf("%s %s: x-amz-checksum-sha256 %q, but the body sent has SHA-256 %q", r.Op, r.Path, got, r.BodySHA256)
			}
			// Over HTTPS the signature covers the checksum header, not the body: the
			// server then hashes each byte once, to verify the checksum.
			if got := r.Header.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
				t.Errorf("%s %s: x-amz-content-sha256 %q, want UNSIGNED-PAYLOAD over HTTPS", r.Op, r.Path, got)
			}
			if !strings.Contains(r.Header.Get("Authorization"), "x-amz-checksum-sha256") {
				t.Errorf("%s %s: the signature does not cover x-amz-checksum-sha256", r.Op, r.Path)
			}
		case "CreateMultipartUpload":
			if got := r.Header.Get("X-Amz-Checksum-Algorithm"); got != "SHA256" {
				t.Errorf("CreateMultipartUpload: x-amz-checksum-algorithm %q, want SHA256", got)
			}
		}
		if r.Op == "PutObject" || r.Op == "CompleteMultipartUpload" {
			if got := r.Header.Get("If-None-Match"); got != "*" {
				t.Errorf("%s %s: If-None-Match %q, want *", r.Op, r.Path, got)
			}
		}
	}
	if ops["PutObject"] != 2 || ops["UploadPart"] != 3 || ops["CreateMultipartUpload"] != 1 || ops["CompleteMultipartUpload"] != 1 {
		t.Errorf("requests: %v; want 2 PutObject, 1 multipart upload of 3 parts", ops)
	}
}

func TestS3CorruptedInTransitFailsCommit(t *testing.T) {
	for _, tc := range []struct {
		name, op, step string
		size           int
	}{
		{"single", "PutObject", "S3 put", 1000},
		{"part", "UploadPart", "S3 upload part 2", 3 * partSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxied(t)
			p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
				if r.Op == tc.op && (r.Op == "PutObject" || r.Query.Get("partNumber") == "2") {
					return s3test.Corrupt
				}
				return s3test.Pass
			})
			_, err := writeErr(p.store, "x/obj", data(tc.size, 22))
			wantInError(t, err, tc.step, "s3://backups/x/obj", "(HTTP 400)")
			var se *objstore.S3Error
			if !errors.As(err, &se) || se.Code == "" {
				t.Errorf("error %v carries no S3 error code", err)
			}
			if keys := p.srv.Keys(t, p.bucket); len(keys) != 0 {
				t.Errorf("stored: %q", keys)
			}
			if open := p.srv.OpenUploads(t, p.bucket); len(open) != 0 {
				t.Errorf("uploads left open: %q", open)
			}
		})
	}
}

// TestVersitygwVerifiesSHA256 documents what the test server checks on its own: a
// request whose x-amz-checksum-sha256 does not match its body is refused.
func TestVersitygwVerifiesSHA256(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "sums", false)
	c := srv.Client()
	ctx := context.Background()
	wrong := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" // SHA-256 of nothing
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("sums"), Key: aws.String("k"), Body: strings.NewReader("not empty"),
		ChecksumSHA256: aws.String(wrong),
	})
	wantInError(t, err, "BadDigest")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sums"), Key: aws.String("m"), ChecksumAlgorithm: "SHA256"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String("sums"), Key: aws.String("m"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("not empty"), ChecksumSHA256: aws.String(wrong),
	})
	wantInError(t, err, "BadDigest")
}

func TestS3RetriesThrottlingAndBrokenConnections(t *testing.T) {
	p := newProxied(t)
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Attempt > 1 {
			return s3test.Pass
		}
		switch {
		case r.Op == "PutObject", r.Op == "UploadPart" && r.Query.Get("partNumber") == "1", r.Op == "CompleteMultipartUpload":
			return s3test.SlowDown
		case r.Op == "UploadPart" && r.Query.Get("partNumber") == "2":
			return s3test.Reset // the connection breaks in the middle of the part
		}
		return s3test.Pass
	})
	for _, size := range []int{1000, 2*partSize + 3} {
		body := data(size, 23)
		key := fmt.Sprintf("r/%d", size)
		res, err := writeErr(p.store, key, body)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if res.SHA256 != sha(body) {
			t.Errorf("size %d: SHA-256 %s, want %s", size, res.SHA256, sha(body))
		}
		got, _ := readAll(t, p.store, key)
		if !bytes.Equal(got, body) {
			t.Errorf("size %d: stored bytes differ", size)
		}
	}
	retried := map[string]bool{}
	for _, r := range p.proxy.Requests() {
		if r.Attempt == 2 {
			retried[r.Op+r.Query.Get("partNumber")] = true
		}
	}
	for _, op := range []string{"PutObject", "UploadPart1", "UploadPart2", "CompleteMultipartUpload"} {
		if !retried[op] {
			t.Errorf("%s was not retried; retried: %v", op, retried)
		}
	}
}

// A server that stops reading in the middle of a part costs one idle timeout and a
// retry, not a hang.
func TestS3StalledConnectionIsRetried(t *testing.T) {
	p := newProxied(t, func(c *objstore.S3Config) { c.IdleTimeout = 300 * time.Millisecond })
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Attempt == 1 && r.Op == "UploadPart" && r.Query.Get("partNumber") == "1" {
			return s3test.Stall
		}
		return s3test.Pass
	})
	body := data(2*partSize+1, 32)
	if _, err := writeErr(p.store, "s/obj", body); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, p.store, "s/obj")
	if !bytes.Equal(got, body) {
		t.Error("stored bytes differ")
	}
	retried := false
	for _, r := range p.proxy.Requests() {
		retried = retried || (r.Op == "UploadPart" && r.Query.Get("partNumber") == "1" && r.Attempt == 2)
	}
	if !retried {
		t.Error("the stalled part was not retried")
	}
}

// An answer lost after the server stored the object: the retry meets the object
// the first attempt created, which is recognised by its checksum, not reported as
// someone else's.
func TestS3LostAnswerIsNotAConflict(t *testing.T) {
	p := newProxied(t)
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Attempt == 1 && (r.Op == "PutObject" || r.Op == "CompleteMultipartUpload") {
			return s3test.Lose
		}
		return s3test.Pass
	})
	for _, size := range []int{10, partSize + 10} {
		body := data(size, 24)
		key := fmt.Sprintf("l/%d", size)
		if _, err := writeErr(p.store, key, body); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, _ := readAll(t, p.store, key)
		if !bytes.Equal(got, body) {
			t.Errorf("size %d: stored bytes differ", size)
		}
	}
	// A different object under a taken key still fails.
	if _, err := writeErr(p.store, "l/10", data(10, 25)); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("write over an existing key = %v, want ErrExists", err)
	}
}

func TestS3ServerGoneMidUpload(t *testing.T) {
	p := newProxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 2 })
	var mu sync.Mutex
	gone := false
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		mu.Lock()
		defer mu.Unlock()
		if r.Op == "UploadPart" && r.Query.Get("partNumber") == "2" {
			gone = true // the server dies in the middle of part 2
		}
		if gone && r.Op == "AbortMultipartUpload" {
			gone = false // and is back when the clean-up retries
			return s3test.Drop
		}
		if gone {
			return s3test.Reset
		}
		return s3test.Pass
	})
	_, err := writeErr(p.store, "ilo/dev1/big.bin", data(4*partSize, 26))
	// Parts go up in parallel: whichever failed first is named.
	wantInError(t, err, "S3 upload part ", "s3://backups/ilo/dev1/big.bin")
	if keys := p.srv.Keys(t, p.bucket); len(keys) != 0 {
		t.Errorf("stored: %q", keys)
	}
	if open := p.srv.OpenUploads(t, p.bucket); len(open) != 0 {
		t.Errorf("uploads left open: %q", open)
	}
}

// A part the server was still receiving when its client gave up ends at the
// server after the abort, which brings the upload back on servers that create it
// anew for a late part (versitygw does): Abort sees it again and aborts it again,
// so no upload stays open.
func TestS3AbortOutlastsALatePart(t *testing.T) {
	p := newProxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 1 })
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Op == "UploadPart" && r.Query.Get("partNumber") == "2" {
			return s3test.Late
		}
		return s3test.Pass
	})
	_, err := writeErr(p.store, "ilo/dev1/late.bin", data(3*partSize, 29))
	wantInError(t, err, "S3 upload part 2", "s3://backups/ilo/dev1/late.bin")
	p.proxy.WaitLate()
	if keys := p.srv.Keys(t, p.bucket); len(keys) != 0 {
		t.Errorf("stored: %q", keys)
	}
	if open := p.srv.OpenUploads(t, p.bucket); len(open) != 0 {
		t.Errorf("uploads left open after the late part: %q", open)
	}
}

func TestS3ServerKilledMidUpload(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "backups", false)
	cfg := srv.Config("backups")
	cfg.PartSize, cfg.MaxAttempts, cfg.MaxBackoff = partSize, 2, 10*time.Millisecond
	st, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Create(context.Background(), "ilo/dev1/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data(2*partSize+1, 27)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	_, err = io.Copy(w, bytes.NewReader(data(4*partSize, 28)))
	if err == nil {
		_, err = w.Commit()
	}
	wantInError(t, err, "S3 ", "s3://backups/ilo/dev1/big.bin", "Nothing accepts connections at the endpoint")
	if err := w.Abort(); err != nil && !strings.Contains(err.Error(), "lifecycle rule") {
		t.Errorf("Abort with the server gone = %v, want a hint at the lifecycle rule", err)
	}
}

func TestS3FallsBackWithoutIfNoneMatch(t *testing.T) {
	p := newProxied(t)
	p.proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Header.Get("If-None-Match") != "" {
			return s3test.NotImplemented
		}
		return s3test.Pass
	})
	write(t, p.store, "f/small", []byte("small"))
	write(t, p.store, "f/large", data(partSize+1, 29))
	if _, err := p.store.Put(context.Background(), "f/small", []byte("other")); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("Put over an existing key without If-None-Match support = %v, want ErrExists", err)
	}
	got, _ := readAll(t, p.store, "f/small")
	if string(got) != "small" {
		t.Errorf("object overwritten: %q", got)
	}
	conditional := 0
	for _, r := range p.proxy.Requests() {
		if r.Header.Get("If-None-Match") != "" {
			conditional++
		}
	}
	if conditional != 1 {
		t.Errorf("%d requests with If-None-Match; want 1, then none once the server said it does not implement it", conditional)
	}
}

func TestS3ServerSideEncryptionHeaders(t *testing.T) {
	for _, tc := range []struct{ sse, key string }{{objstore.SSEKMS, "arn:aws:kms:eu-west-1:111122223333:key/k1"}, {objstore.SSEAES256, ""}} {
		t.Run(tc.sse, func(t *testing.T) {
			p := newProxied(t, func(c *objstore.S3Config) { c.SSE, c.KMSKeyID = tc.sse, tc.key })
			write(t, p.store, "e/small", []byte("x"))
			write(t, p.store, "e/large", data(partSize+1, 30))
			for _, r := range p.proxy.Requests() {
				sse, kms := r.Header.Get("X-Amz-Server-Side-Encryption"), r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
				switch r.Op {
				case "PutObject", "CreateMultipartUpload":
					if sse != tc.sse || kms != tc.key {
						t.Errorf("%s: encryption %q key %q, want %q %q", r.Op, sse, kms, tc.sse, tc.key)
					}
				default:
					if sse != "" || kms != "" {
						t.Errorf("%s carries encryption headers %q %q", r.Op, sse, kms)
					}
				}
			}
		})
	}
}

func TestS3ObjectLock(t *testing.T) {
	for _, mode := range []string{objstore.LockCompliance, objstore.LockGovernance} {
		t.Run(mode, func(t *testing.T) {
			e := newS3(t, true, func(c *objstore.S3Config) { c.LockMode, c.LockRetention = mode, time.Hour })
			ctx := context.Background()
			before := time.Now()
			write(t, e.store, "lock/large", data(partSize+1, 31))
			if _, err := e.store.Put(ctx, "lock/record.json", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"lock/large", "lock/record.json"} {
				info, err := e.store.Stat(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if info.LockMode != mode || info.RetainUntil.Before(before.Add(time.Hour)) || info.RetainUntil.After(time.Now().Add(time.Hour+2*time.Second)) {
					t.Errorf("%s: lock %s until %v, want %s until about %v", key, info.LockMode, info.RetainUntil, mode, before.Add(time.Hour))
				}
				err = e.store.Delete(ctx, key)
				var re *objstore.RetainedError
				if !errors.As(err, &re) {
					t.Fatalf("Delete of a locked object = %v, want *RetainedError", err)
				}
				if re.Mode != mode || !re.RetainUntil.Equal(info.RetainUntil) {
					t.Errorf("RetainedError = %+v, want mode %s until %v", re, mode, info.RetainUntil)
				}
				wantInError(t, err, "s3://backups/"+key, mode, info.RetainUntil.UTC().Format(time.RFC3339))
				if _, err := e.store.Stat(ctx, key); err != nil {
					t.Errorf("%s is gone after a refused delete: %v", key, err)
				}
			}
			// The server enforces the lock too: removing the version itself fails.
			c := e.srv.Client()
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("lock/record.json")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("lock/record.json"), VersionId: head.VersionId})
			wantInError(t, err, "AccessDenied")
		})
	}
}

func TestS3ObjectLockNeedsLockBucket(t *testing.T) {
	e := newS3(t, false, func(c *objstore.S3Config) { c.LockMode, c.LockRetention = objstore.LockCompliance, time.Hour })
	_, err := e.store.Put(context.Background(), "x", []byte("x"))
	wantInError(t, err, "S3 put s3://backups/x", "InvalidRequest", "enable it on bucket backups")
}

func TestS3KeyPrefix(t *testing.T) {
	e := newS3(t, false, func(c *objstore.S3Config) { c.Prefix = "site-a/infrabackup" })
	ctx := context.Background()
	if _, err := e.srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("elsewhere/y"), Body: strings.NewReader("y")}); err != nil {
		t.Fatal(err)
	}
	write(t, e.store, "ilo/dev1/x", []byte("x"))
	if got := e.srv.Keys(t, e.bucket); strings.Join(got, " ") != "elsewhere/y site-a/infrabackup/ilo/dev1/x" {
		t.Errorf("bucket holds %q", got)
	}
	list, err := e.store.List(ctx, "")
	if err != nil || len(list) != 1 || list[0].Key != "ilo/dev1/x" {
		t.Errorf("List = %v, %v; want ilo/dev1/x only", list, err)
	}
	if got := e.store.Location("ilo/dev1/x"); got != "s3://backups/site-a/infrabackup/ilo/dev1/x" {
		t.Errorf("Location = %s", got)
	}
}

// fakeS3 answers every request with status, headers and an S3 error document,
// standing in for AWS where versitygw cannot produce the failure.
func fakeS3(t *testing.T, status int, header map[string]string, code, msg string) (*httptest.Server, *devicesim.CA, *int) {
	ca, err := devicesim.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := new(int)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*calls++
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead && code != "" {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>R1</RequestId></Error>`, code, msg)
		}
	}))
	ts.TLS = ca.ServerTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, ca, calls
}

const (
	testAccessKey = "AKIAZZZZTESTKEY12345"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTESTSECRET"
)

func TestS3ErrorsSayWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		code   string
		msg    string
		op     string // put, list, check
		want   []string
	}{
		{"access denied", 403, nil, "AccessDenied", "Access Denied for " + testAccessKey,
			"put", []string{"S3 put s3://bucket-1/pre/ilo/x failed: AccessDenied: Access Denied for ***", "(HTTP 403)", "IAM policy", "s3:PutObject"}},
		{"unknown access key", 403, nil, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
			"put", []string{"InvalidAccessKeyId", "(HTTP 403)", "The server does not know this access key id"}},
		{"no such bucket", 404, nil, "NoSuchBucket", "The specified bucket does not exist",
			"list", []string{"S3 list s3://bucket-1/pre/ilo/x failed: NoSuchBucket", "Bucket bucket-1 does not exist"}},
		{"wrong region redirect", 301, map[string]string{"x-amz-bucket-region": "eu-west-1"}, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.",
			"put", []string{"PermanentRedirect", "(HTTP 301)", "set the region to eu-west-1"}},
		{"wrong region on HEAD", 301, map[string]string{"x-amz-bucket-region": "ap-south-1"}, "", "",
			"check", []string{"S3 check bucket s3://bucket-1 failed: Moved Permanently (HTTP 301)", "set the region to ap-south-1"}},
		{"wrong region in signature", 400, nil, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'",
			"put", []string{"AuthorizationHeaderMalformed", "set the region to eu-central-1"}},
		{"expired credentials", 400, nil, "ExpiredToken", "The provided token has expired.",
			"put", []string{"ExpiredToken: The provided token has expired.", "renew them"}},
		{"throttled", 503, nil, "SlowDown", "Please reduce your request rate.",
			"put", []string{"SlowDown", "(HTTP 503)", "lower the number of backups run in parallel"}},
		{"no bucket on HEAD", 404, nil, "", "",
			"check", []string{"S3 check bucket s3://bucket-1 failed: Not Found (HTTP 404)", "Bucket bucket-1 does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, ca, calls := fakeS3(t, tc.status, tc.header, tc.code, tc.msg)
			st, err := objstore.NewS3(context.Background(), objstore.S3Config{
				Bucket: "bucket-1", Prefix: "pre", Region: "us-east-1", Endpoint: ts.URL, UsePathStyle: true,
				CAPEM: ca.CertPEM, AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey, SessionToken: "FQoGZXIvYXdzEXAMPLETOKEN",
				MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			switch tc.op {
			case "put":
				_, err = st.Put(ctx, "ilo/x", []byte("data"))
			case "list":
				_, err = st.List(ctx, "ilo/x")
			case "check":
				err = st.Check(ctx)
			}
			wantInError(t, err, tc.want...)
			for _, secret := range []string{testAccessKey, testSecretKey, "FQoGZXIvYXdzEXAMPLETOKEN"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a credential: %v", err)
				}
			}
			if tc.status == 503 && *calls != 3 {
				t.Errorf("%d attempts, want 3 (retried)", *calls)
			}
		})
	}
}

func TestS3UntrustedCertificateNamesCASetting(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "backups", false)
	cfg := srv.Config("backups")
	cfg.CAPEM = nil
	cfg.CASetting = "s3.ca_cert_pem"
	st, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Check(context.Background())
	wantInError(t, err, "S3 check bucket s3://backups failed", "certificate", "not signed by a trusted CA", "S3 s3.ca_cert_pem setting")
	if strings.Contains(err.Error(), srv.SecretKey) || strings.Contains(err.Error(), srv.AccessKey) {
		t.Errorf("error shows a credential: %v", err)
	}
}

func TestS3WrongKeys(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "backups", false)
	cfg := srv.Config("backups")
	cfg.AccessKeyID = "AKIAWRONGWRONGWRONG1"
	st, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(context.Background(), "x", []byte("x"))
	// versitygw says XAdminUserNotFound (404) where AWS says InvalidAccessKeyId (403).
	wantInError(t, err, "S3 put s3://backups/x failed:", "access key", "The server does not know this access key id: check the credentials")
	if strings.Contains(err.Error(), cfg.AccessKeyID) || strings.Contains(err.Error(), cfg.SecretAccessKey) {
		t.Errorf("error shows a credential: %v", err)
	}
	cfg = srv.Config("backups")
	cfg.SecretAccessKey = "wrong-secret-wrong-secret-wrong-secret-00"
	st, err = objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(context.Background(), "x", []byte("x"))
	wantInError(t, err, "SignatureDoesNotMatch", "secret access key does not match")
	if strings.Contains(err.Error(), cfg.SecretAccessKey) {
		t.Errorf("error shows a credential: %v", err)
	}
}

// isolateAWSEnv points the AWS configuration sources at empty places, so that the
// machine's own ~/.aws or environment cannot make a credential test pass.
func isolateAWSEnv(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return dir
}

func TestS3CredentialChain(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "backups", false)
	ctx := context.Background()
	noKeys := func() objstore.S3Config {
		cfg := srv.Config("backups")
		cfg.AccessKeyID, cfg.SecretAccessKey = "", ""
		return cfg
	}
	t.Run("environment", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		st, err := objstore.NewS3(ctx, noKeys())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, "env", []byte("x")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("profile", func(t *testing.T) {
		dir := isolateAWSEnv(t)
		creds := filepath.Join(dir, "ci-credentials")
		content := fmt.Sprintf("[default]\naws_access_key_id = AKIADEFAULTWRONG0000\naws_secret_access_key = wrong\n\n[backup]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey)
		if err := os.WriteFile(creds, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := noKeys()
		cfg.Profile, cfg.SharedCredentialsFiles = "backup", []string{creds}
		st, err := objstore.NewS3(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, "profile", []byte("x")); err != nil {
			t.Fatal(err)
		}
		cfg.Profile = "missing"
		_, err = objstore.NewS3(ctx, cfg)
		wantInError(t, err, "load AWS configuration", "missing")
	})
	t.Run("none", func(t *testing.T) {
		isolateAWSEnv(t)
		st, err := objstore.NewS3(ctx, noKeys())
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Put(ctx, "none", []byte("x"))
		wantInError(t, err, "S3 put s3://backups/none failed", "No S3 credentials were found")
	})
}

func TestS3ConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  objstore.S3Config
		want string
	}{
		{objstore.S3Config{}, "bucket must not be empty"},
		{objstore.S3Config{Bucket: "b", Prefix: "../x"}, "key prefix"},
		{objstore.S3Config{Bucket: "b", Endpoint: "s3.example.com"}, "must start with https://"},
		{objstore.S3Config{Bucket: "b", SSE: "aws:kms:dsse"}, "not supported"},
		{objstore.S3Config{Bucket: "b", SSE: objstore.SSEAES256, KMSKeyID: "k"}, "KMS key id is set"},
		{objstore.S3Config{Bucket: "b", LockMode: "FOREVER", LockRetention: time.Hour}, "GOVERNANCE or COMPLIANCE"},
		{objstore.S3Config{Bucket: "b", LockMode: objstore.LockCompliance}, "retention period"},
		{objstore.S3Config{Bucket: "b", LockRetention: time.Hour}, "without a mode"},
		{objstore.S3Config{Bucket: "b", AccessKeyID: "a"}, "both an access key id and a secret"},
		{objstore.S3Config{Bucket: "b", PartSize: 1 << 20}, "below the minimum"},
		{objstore.S3Config{Bucket: "b", CAPEM: []byte("not pem"), CASetting: "s3.ca_cert_pem"}, "s3.ca_cert_pem holds no PEM"},
	} {
		_, err := objstore.NewS3(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewS3(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// measureWrite streams size bytes into key and reports the bytes allocated and the
// peak heap in use while it ran.
func measureWrite(tb testing.TB, st objstore.Store, key string, size int64) (allocated, peak uint64) {
	tb.Helper()
	var before, now runtimeStats
	before.read()
	stop := make(chan struct{})
	peakCh := make(chan uint64)
	go func() {
		var p uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peakCh <- p
				return
			case <-tick.C:
				var s runtimeStats
				s.read()
				p = max(p, s.heapInuse)
			}
		}
	}()
	w, err := st.Create(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Abort()
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(zeroSource{}, size), h)
	if _, err := io.Copy(w, src); err != nil {
		tb.Fatal(err)
	}
	res, err := w.Commit()
	if err != nil {
		tb.Fatal(err)
	}
	close(stop)
	peak = <-peakCh
	now.read()
	if res.SHA256 != hex.EncodeToString(h.Sum(nil)) || res.Size != size {
		tb.Fatalf("Commit = %+v, want size %d", res, size)
	}
	return now.totalAlloc - before.totalAlloc, peak
}

// zeroSource is an endless stream of a repeating pattern, without allocating.
type zeroSource struct{}

func (zeroSource) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

func TestS3MemoryBounded(t *testing.T) {
	e := newS3(t, false)
	const size = 64 << 20
	allocated, peak := measureWrite(t, e.store, "mem/64MiB", size)
	t.Logf("64 MiB through 5 MiB parts, 4 in flight: %d MiB allocated, heap peak %d MiB", allocated>>20, peak>>20)
	// (Concurrency+1) part buffers, plus the small-object growth and the SDK's and
	// TLS's per-request garbage. Buffering the stream would allocate 64 MiB or more.
	if limit := uint64(5*partSize + 16<<20); allocated > limit {
		t.Errorf("streaming 64 MiB allocated %d MiB, want at most %d MiB", allocated>>20, limit>>20)
	}
}

func BenchmarkS3Write256MiB(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "bench", false)
	st, err := objstore.NewS3(context.Background(), srv.Config("bench"))
	if err != nil {
		b.Fatal(err)
	}
	const size = 256 << 20
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		allocated, peak := measureWrite(b, st, fmt.Sprintf("bench/%d", i), size)
		b.ReportMetric(float64(allocated)/(1<<20), "MiB-alloc/op")
		b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-peak")
	}
}

type runtimeStats struct{ totalAlloc, heapInuse uint64 }

func (s *runtimeStats) read() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.totalAlloc, s.heapInuse = m.TotalAlloc, m.HeapInuse
}
