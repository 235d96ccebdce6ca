package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

var errAborted = errors.New("write aborted")

// collectEvery is how many parts a writer uploads between two garbage collections.
// Its part buffers are most of a process's live heap, and Go lets the heap grow to
// twice the live heap before it collects: without these collections, the garbage of
// each part's request (about 170 KiB) piles up over a multi-GiB upload to as much
// again as the buffers (a 3 GiB iLO backup took the provider from 87 to 117 MiB).
// The buffers hold no pointers, so a collection costs little: measured, 2% more CPU
// for a 3 GiB upload whose peak resident set fell from 96 to 61 MiB.
const collectEvery = 8

// smallObject is the size up to which a writer's buffer grows as needed; beyond it,
// whole part buffers are used.
const smallObject = 1 << 20

// Create checks that key is free and returns a writer that buffers up to one part:
// an object that fits is sent with one PutObject at Commit; a larger one becomes a
// multipart upload whose parts are uploaded while the next ones fill.
func (s *S3) Create(ctx context.Context, key string) (Writer, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, s.fail("create", key, err)
	}
	// Refuse a taken key now rather than after streaming gigabytes: the conditional
	// write at the end still settles races.
	taken, err := s.exists(ctx, key)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, s.existsError(key)
	}
	wctx, cancel := context.WithCancelCause(ctx)
	return &s3Writer{
		s: s, key: key, parent: ctx, ctx: wctx, cancel: cancel, h: sha256.New(),
		free: make(chan []byte, s.cfg.Concurrency+1),
	}, nil
}

// Put sends data with one PutObject.
func (s *S3) Put(ctx context.Context, key string, data []byte) (Written, error) {
	if err := ValidKey(key); err != nil {
		return Written{}, err
	}
	if int64(len(data)) > s.cfg.PartSize {
		return putWith(ctx, s, key, data)
	}
	sum := sha256.Sum256(data)
	if err := s.putObject(ctx, key, data, sum); err != nil {
		return Written{}, err
	}
	return Written{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func (s *S3) existsError(key string) error {
	return fmt.Errorf("create %s: %w", s.Location(key), ErrExists)
}

// putObject creates key from data in one request that carries its SHA-256: the
// server refuses to store anything else.
func (s *S3) putObject(ctx context.Context, key string, data []byte, sum [sha256.Size]byte) error {
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	var attempts int
	put := func(cond *string) error {
		out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:                    aws.String(s.cfg.Bucket),
			Key:                       aws.String(s.objectKey(key)),
			Body:                      bytes.NewReader(data),
			ContentLength:             aws.Int64(int64(len(data))),
			ContentType:               aws.String("application/octet-stream"),
			ChecksumSHA256:            aws.String(b64),
			IfNoneMatch:               cond,
			ServerSideEncryption:      types.ServerSideEncryption(s.cfg.SSE),
			SSEKMSKeyId:               optional(s.cfg.KMSKeyID),
			ObjectLockMode:            types.ObjectLockMode(s.cfg.LockMode),
			ObjectLockRetainUntilDate: s.retainUntil(),
		}, s.payloadHash(sum), countAttempts(&attempts))
		if err != nil {
			return err
		}
		if got := aws.ToString(out.ChecksumSHA256); got != "" && got != b64 {
			return fmt.Errorf("the server stored SHA-256 checksum %s, but %s was sent", got, b64)
		}
		return nil
	}
	err := s.conditional(ctx, key, put)
	if err != nil && attempts > 1 && isExists(err) {
		// An earlier attempt may have stored the object and lost the answer.
		if info, serr := s.Stat(ctx, key); serr == nil && info.ServerChecksum == b64 {
			return nil
		}
	}
	if err != nil {
		if isExists(err) {
			return s.existsError(key)
		}
		return s.fail("put", key, err)
	}
	return nil
}

// conditional runs write with If-None-Match: *. When the server answers that it does
// not implement the header, it checks the key with HEAD and writes without it.
func (s *S3) conditional(ctx context.Context, key string, write func(cond *string) error) error {
	if cond := s.ifNoneMatch(); cond != nil {
		err := write(cond)
		if err == nil || !isNotImplemented(err) {
			return err
		}
		s.unconditional.Store(true)
	}
	taken, herr := s.exists(ctx, key)
	if herr != nil {
		return herr
	}
	if taken {
		return s.existsError(key)
	}
	return write(nil)
}

func isNotImplemented(err error) bool {
	var api smithy.APIError
	return httpStatus(err) == http.StatusNotImplemented || (errors.As(err, &api) && api.ErrorCode() == "NotImplemented")
}

func isExists(err error) bool {
	if errors.Is(err, ErrExists) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return true
	}
	return httpStatus(err) == http.StatusPreconditionFailed
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// payloadHash says what a request's signature covers of its body, whose SHA-256 is
// sum. Over HTTPS it is UNSIGNED-PAYLOAD, as the AWS SDKs and CLI send there: TLS
// protects the body in transit, and the x-amz-checksum-sha256 header, which the
// signature covers, has the server verify every byte it stores, whereas a signed
// payload costs the server a second SHA-256 of every byte. Over plain HTTP the
// signature covers the body too, with the SHA-256 already computed for the checksum
// instead of a second pass by the SDK.
func (s *S3) payloadHash(sum [sha256.Size]byte) func(*s3.Options) {
	h := unsignedPayload
	if strings.HasPrefix(strings.ToLower(s.cfg.Endpoint), "http://") {
		h = hex.EncodeToString(sum[:])
	}
	return s3.WithAPIOptions(func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("objstore:PayloadHash",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				return next.HandleFinalize(v4.SetPayloadHash(ctx, h), in)
			}), middleware.Before)
	})
}

// unsignedPayload is the x-amz-content-sha256 value of a body the signature does
// not cover.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// countAttempts counts the attempts the SDK's retry loop makes for one call.
func countAttempts(n *int) func(*s3.Options) {
	return s3.WithAPIOptions(func(st *middleware.Stack) error {
		return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("objstore:CountAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				*n++
				return next.HandleFinalize(ctx, in)
			}), "Retry", middleware.After)
	})
}

// s3Writer streams one object. The part being filled is buf; full parts are
// uploaded by goroutines, at most Concurrency at a time, and their buffers come back
// through free, so a writer never holds more than Concurrency+1 parts.
type s3Writer struct {
	s      *S3
	key    string
	parent context.Context // the caller's, for clean-up after ctx ends
	ctx    context.Context // cancelled on the first failure or on Abort
	cancel context.CancelCauseFunc

	h    hash.Hash
	size int64
	buf  []byte

	free      chan []byte
	allocated int

	uploadID string
	parts    int32 // parts handed to uploaders
	wg       sync.WaitGroup

	mu       sync.Mutex
	done     []types.CompletedPart // by part number - 1
	partSums [][]byte
	failed   error
	// inDoubt is set when a part request ended without the server's answer (a
	// broken connection, a cancellation): the server may still be storing it.
	inDoubt bool

	state writerState
}

type writerState int

const (
	writerOpen writerState = iota
	writerCommitted
	writerAborted
)

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, fmt.Errorf("write %s: the writer is already committed or aborted", w.s.Location(w.key))
	}
	n := 0
	for len(p) > 0 {
		if err := w.err(); err != nil {
			return n, err
		}
		if int64(len(w.buf)) == w.s.cfg.PartSize {
			if err := w.sendPart(false); err != nil {
				return n, err
			}
		}
		k := min(len(p), int(w.s.cfg.PartSize)-len(w.buf))
		if len(w.buf)+k > cap(w.buf) && len(w.buf)+k > smallObject {
			// Past small-object sizes, switch to a whole part buffer instead of
			// growing by copies.
			b := w.buffer()
			if b == nil {
				return n, w.err()
			}
			w.buf = append(b, w.buf...)
		}
		w.buf = append(w.buf, p[:k]...)
		w.h.Write(p[:k])
		w.size += int64(k)
		n += k
		p = p[k:]
	}
	return n, nil
}

// err is the first failure of a part upload, or the end of the context.
func (w *s3Writer) err() error {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed != nil {
		return failed
	}
	if err := w.ctx.Err(); err != nil {
		return w.s.fail("write", w.key, context.Cause(w.ctx))
	}
	return nil
}

// buffer returns a free part buffer, allocating one while fewer than Concurrency+1
// exist, else waiting for an upload to finish.
func (w *s3Writer) buffer() []byte {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.allocated < cap(w.free) {
		w.allocated++
		return make([]byte, 0, w.s.cfg.PartSize)
	}
	select {
	case b := <-w.free:
		return b
	case <-w.ctx.Done():
		return nil
	}
}

// sendPart starts the multipart upload if needed and hands the full buffer to an
// uploader goroutine, then, unless it was the last part, takes a free buffer
// (waiting while all are in flight).
func (w *s3Writer) sendPart(last bool) error {
	if w.uploadID == "" {
		if err := w.createUpload(); err != nil {
			return err
		}
	}
	if w.parts == maxParts {
		return w.s.fail("write", w.key, fmt.Errorf("the object is larger than %d parts of %d bytes: raise the part size", maxParts, w.s.cfg.PartSize))
	}
	w.parts++
	num, buf := w.parts, w.buf
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.uploadPart(num, buf)
		w.free <- buf[:0]
		if err != nil {
			w.setFailed(err)
		}
		if num%collectEvery == 0 {
			runtime.GC()
		}
	}()
	w.buf = nil
	if last {
		return nil
	}
	w.buf = w.buffer()
	if w.buf == nil {
		return w.err()
	}
	return nil
}

func (w *s3Writer) setFailed(err error) {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = err
	}
	w.mu.Unlock()
	w.cancel(err)
}

func (w *s3Writer) createUpload() error {
	s := w.s
	out, err := s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
		Bucket:                    aws.String(s.cfg.Bucket),
		Key:                       aws.String(s.objectKey(w.key)),
		ContentType:               aws.String("application/octet-stream"),
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		ServerSideEncryption:      types.ServerSideEncryption(s.cfg.SSE),
		SSEKMSKeyId:               optional(s.cfg.KMSKeyID),
		ObjectLockMode:            types.ObjectLockMode(s.cfg.LockMode),
		ObjectLockRetainUntilDate: s.retainUntil(),
	})
	if err != nil {
		err = s.fail("start multipart upload", w.key, err)
		w.setFailed(err)
		return err
	}
	w.uploadID = aws.ToString(out.UploadId)
	return nil
}

// uploadPart sends one part with its SHA-256, which the server checks.
func (w *s3Writer) uploadPart(num int32, buf []byte) error {
	s := w.s
	sum := sha256.Sum256(buf)
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	out, err := s.client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket:         aws.String(s.cfg.Bucket),
		Key:            aws.String(s.objectKey(w.key)),
		UploadId:       aws.String(w.uploadID),
		PartNumber:     aws.Int32(num),
		Body:           bytes.NewReader(buf),
		ContentLength:  aws.Int64(int64(len(buf))),
		ChecksumSHA256: aws.String(b64),
	}, s.payloadHash(sum))
	step := "upload part " + strconv.Itoa(int(num))
	if err != nil {
		var answered smithy.APIError // the server said no: it is not storing the part
		if !errors.As(err, &answered) {
			w.mu.Lock()
			w.inDoubt = true
			w.mu.Unlock()
		}
		if cause := context.Cause(w.ctx); cause != nil && cause != w.ctx.Err() {
			return cause // another part failed first, or Abort: report that
		}
		return s.fail(step, w.key, err)
	}
	if got := aws.ToString(out.ChecksumSHA256); got != "" && got != b64 {
		return s.fail(step, w.key, fmt.Errorf("the server stored SHA-256 checksum %s, but %s was sent", got, b64))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for int(num) > len(w.done) {
		w.done = append(w.done, types.CompletedPart{})
		w.partSums = append(w.partSums, nil)
	}
	w.done[num-1] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumSHA256: aws.String(b64)}
	w.partSums[num-1] = sum[:]
	return nil
}

func (w *s3Writer) Commit() (res Written, err error) {
	if w.state != writerOpen {
		return Written{}, fmt.Errorf("commit %s: the writer is already committed or aborted", w.s.Location(w.key))
	}
	defer func() {
		if err != nil {
			_ = w.Abort()
		}
	}()
	if err := w.err(); err != nil {
		return Written{}, err
	}
	var sum [sha256.Size]byte
	w.h.Sum(sum[:0])
	if w.uploadID == "" {
		if err := w.s.putObject(w.ctx, w.key, w.buf, sum); err != nil {
			return Written{}, err
		}
	} else {
		if err := w.sendPart(true); err != nil { // never empty: parts are sent when more data follows
			return Written{}, err
		}
		w.wg.Wait()
		if err := w.err(); err != nil {
			return Written{}, err
		}
		if err := w.complete(); err != nil {
			return Written{}, err
		}
	}
	w.state = writerCommitted
	w.cancel(nil)
	w.release()
	return Written{Key: w.key, Size: w.size, SHA256: hex.EncodeToString(sum[:])}, nil
}

// complete assembles the parts, each listed with its SHA-256, and checks the
// composite checksum the server computed from them.
func (w *s3Writer) complete() error {
	s := w.s
	composite := compositeSHA256(w.partSums)
	var attempts int
	err := s.conditional(w.ctx, w.key, func(cond *string) error {
		out, err := s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(s.cfg.Bucket),
			Key:             aws.String(s.objectKey(w.key)),
			UploadId:        aws.String(w.uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: w.done},
			IfNoneMatch:     cond,
		}, countAttempts(&attempts))
		if err != nil {
			return err
		}
		if got := aws.ToString(out.ChecksumSHA256); got != "" && got != composite {
			return fmt.Errorf("the server computed composite SHA-256 checksum %s from the parts, expected %s", got, composite)
		}
		return nil
	})
	if err != nil && attempts > 1 && (isExists(err) || isNoSuchUpload(err)) {
		// An earlier attempt may have completed the upload and lost the answer.
		if info, serr := s.Stat(w.ctx, w.key); serr == nil && info.ServerChecksum == composite {
			w.uploadID = ""
			return nil
		}
	}
	if err != nil {
		if isExists(err) {
			return s.existsError(w.key)
		}
		return s.fail("complete multipart upload", w.key, err)
	}
	w.uploadID = "" // nothing left to abort
	return nil
}

func isNoSuchUpload(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload"
}

// compositeSHA256 is how S3 checksums a multipart object with SHA-256: the
// SHA-256 of the concatenated part digests, base64, followed by "-<parts>".
func compositeSHA256(partSums [][]byte) string {
	h := sha256.New()
	for _, p := range partSums {
		h.Write(p)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partSums))
}

// Abort stops the uploaders and aborts the multipart upload, with a context that
// outlives the caller's so that clean-up also happens after a cancellation.
func (w *s3Writer) Abort() error {
	if w.state != writerOpen {
		return nil
	}
	w.state = writerAborted
	w.cancel(errAborted)
	w.wg.Wait()
	w.release()
	if w.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.parent), abortTimeout)
	defer cancel()
	err := w.abortUpload(ctx)
	if err != nil && !isNoSuchUpload(err) {
		failed := w.s.fail("abort multipart upload", w.key, err)
		var e *S3Error
		if errors.As(failed, &e) {
			e.Hint = "The incomplete upload " + w.uploadID + " is invisible but keeps its parts stored: abort it by hand, or add a lifecycle rule that aborts incomplete multipart uploads"
		}
		return failed
	}
	w.uploadID = ""
	return nil
}

// abortUpload aborts the multipart upload until the server no longer has it. A part
// the server was still receiving when the abort arrived (its client gave up, the
// server did not) can be stored after the abort; S3's own advice is to check that
// no part remains and abort again. Such a part can also end a moment after the
// check (some servers, versitygw among them, then bring the upload back): when a
// part request ended without an answer, the upload is checked again a few times
// over a couple of seconds (settleChecks) before it is taken as gone.
func (w *s3Writer) abortUpload(ctx context.Context) error {
	bucket, key, id := aws.String(w.s.cfg.Bucket), aws.String(w.s.objectKey(w.key)), aws.String(w.uploadID)
	w.mu.Lock()
	settle := 0
	if w.inDoubt {
		settle = len(settleChecks)
	}
	w.mu.Unlock()
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	for attempt := 1; ; attempt++ {
		_, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id})
		switch {
		case err == nil, attempt > 1 && isNoSuchUpload(err):
		case serverFailed(err) && attempt < maxAbortChecks:
			// A server may fail an abort that meets a part it is storing: try again.
			if err := wait(time.Duration(attempt) * 100 * time.Millisecond); err != nil {
				return err
			}
			continue
		default:
			return err
		}
		for {
			_, lerr := w.s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: id})
			if lerr == nil {
				break // still there, or back: abort again
			}
			if !isNoSuchUpload(lerr) || settle == 0 {
				// Gone, or not ours to check (no permission to list parts): the
				// abort itself succeeded.
				return nil
			}
			if err := wait(settleChecks[len(settleChecks)-settle]); err != nil {
				return nil // the abort succeeded; there is no time left to watch for late parts
			}
			settle--
		}
		if attempt == maxAbortChecks {
			return errors.New("the server still holds parts of the upload after repeated aborts")
		}
		if err := wait(time.Duration(attempt) * 100 * time.Millisecond); err != nil {
			return err
		}
	}
}

// serverFailed reports whether the server answered err with a 5xx status.
func serverFailed(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
}

// maxAbortChecks bounds how often an abort is repeated for parts stored after it.
const maxAbortChecks = 5

// settleChecks are the pauses before the upload is checked again after an abort,
// when a part may still be arriving at the server.
var settleChecks = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}

// release drops the part buffers so that a long-lived writer value holds no memory.
func (w *s3Writer) release() {
	w.buf = nil
	for {
		select {
		case <-w.free:
		default:
			return
		}
	}
}
