package s3test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Action is what the proxy does with one request.
type Action int

const (
	// Pass forwards the request to the server.
	Pass Action = iota
	// SlowDown answers 503 SlowDown, as S3 does when throttling.
	SlowDown
	// Reset reads half of the request body, then drops the connection.
	Reset
	// Drop closes the connection without answering, as a server that died would.
	Drop
	// Corrupt flips one byte of the request body on its way to the server.
	Corrupt
	// NotImplemented answers 501 NotImplemented, as servers without If-None-Match do.
	NotImplemented
	// Lose forwards the request but drops the connection instead of answering: the
	// server did the work, the client never learns it.
	Lose
	// Stall reads half of the request body, then neither reads nor answers, as a
	// server that hangs (SIGSTOP, a full disk) would; the connection stays open.
	Stall
	// Late reads the request and drops the connection without an answer, but the
	// server goes on with it: the proxy sends it half of the body at once and the
	// rest LateBy later, as a server still busy with a request its client gave up on
	// would finish it. WaitLate waits until the server has answered.
	Late
)

// LateBy is how long after the client was hung up a Late request ends at the server.
const LateBy = 300 * time.Millisecond

// Request is a request seen by the proxy.
type Request struct {
	Op      string // S3 operation: PutObject, UploadPart, CompleteMultipartUpload, ...
	Method  string
	Path    string // /bucket/key
	Query   url.Values
	Header  http.Header
	Attempt int // 1 for the first request with this method, path and query
	// BodySHA256 is the base64 SHA-256 of the body as the proxy received it, once
	// the request is done; empty when nothing was read.
	BodySHA256 string
	BodySize   int64
}

// Proxy is a reverse proxy in front of a Server that injects the faults a real
// server cannot produce on demand. It serves TLS with the same CA.
type Proxy struct {
	URL string

	late sync.WaitGroup // Late requests still going on at the server

	mu       sync.Mutex
	rule     func(*Request) Action
	seen     []*Request
	attempts map[string]int
	stalled  []net.Conn // closed when the test ends
}

// NewProxy starts a proxy in front of srv, serving a certificate from ca (the CA
// srv was started with), and closes it when the test ends.
func NewProxy(tb testing.TB, srv *Server, ca *devicesim.CA) *Proxy {
	tb.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{attempts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the client signed the proxy's host name
		},
		Transport: srv.HTTPClient().Transport,
		ErrorLog:  log.New(io.Discard, "", 0), // broken connections are what the tests make
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(w, r, rp)
	}))
	ts.TLS = ca.ServerTLSConfig()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	tb.Cleanup(func() {
		p.mu.Lock()
		for _, c := range p.stalled {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.late.Wait()
		ts.Close()
	})
	p.URL = ts.URL
	return p
}

// SetRule installs the function that decides, per request, what the proxy does.
// nil passes everything.
func (p *Proxy) SetRule(rule func(*Request) Action) {
	p.mu.Lock()
	p.rule = rule
	p.mu.Unlock()
}

// Requests returns the requests seen so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.seen))
	for i, r := range p.seen {
		out[i] = *r
	}
	return out
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	req := &Request{
		Op: operation(r), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(),
	}
	p.mu.Lock()
	id := r.Method + " " + r.URL.RequestURI()
	p.attempts[id]++
	req.Attempt = p.attempts[id]
	p.seen = append(p.seen, req)
	rule := p.rule
	p.mu.Unlock()

	action := Pass
	if rule != nil {
		action = rule(req)
	}
	body := &hashingBody{r: r.Body, h: sha256.New()}
	defer func() {
		p.mu.Lock()
		req.BodySize = body.n
		if body.n > 0 {
			req.BodySHA256 = base64.StdEncoding.EncodeToString(body.h.Sum(nil))
		}
		p.mu.Unlock()
	}()
	r.Body = body
	switch action {
	case SlowDown:
		_, _ = io.Copy(io.Discard, r.Body)
		writeError(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case NotImplemented:
		_, _ = io.Copy(io.Discard, r.Body)
		writeError(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented.")
	case Reset:
		_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		hangUp(w)
	case Drop:
		hangUp(w)
	case Stall:
		_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				p.mu.Lock()
				p.stalled = append(p.stalled, conn)
				p.mu.Unlock()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case Lose:
		next.ServeHTTP(httptest.NewRecorder(), r)
		hangUp(w)
	case Late:
		data, err := io.ReadAll(r.Body)
		hangUp(w)
		if err != nil {
			return
		}
		out := r.Clone(context.Background())
		half := len(data) / 2
		out.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data[:half]), &delayed{r: bytes.NewReader(data[half:]), after: LateBy}))
		p.late.Add(1)
		go func() {
			defer p.late.Done()
			next.ServeHTTP(httptest.NewRecorder(), out)
		}()
	case Corrupt:
		body.flipAt = r.ContentLength / 2
		next.ServeHTTP(w, r)
	default:
		next.ServeHTTP(w, r)
	}
}

// WaitLate waits until the server has answered every Late request.
func (p *Proxy) WaitLate() { p.late.Wait() }

// delayed is r, which starts only after a while.
type delayed struct {
	r     io.Reader
	after time.Duration
	slept bool
}

func (d *delayed) Read(b []byte) (int, error) {
	if !d.slept {
		time.Sleep(d.after)
		d.slept = true
	}
	return d.r.Read(b)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+msg+`</Message><RequestId>proxy</RequestId></Error>`)
}

// operation names the S3 operation of a request.
func operation(r *http.Request) string {
	q := r.URL.Query()
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	hasKey := len(parts) == 2 && parts[1] != ""
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut && hasKey:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodDelete && hasKey:
		return "DeleteObject"
	case r.Method == http.MethodGet && q.Has("uploads"):
		return "ListMultipartUploads"
	case r.Method == http.MethodGet && hasKey:
		return "GetObject"
	case r.Method == http.MethodGet:
		return "ListObjectsV2"
	case r.Method == http.MethodHead && hasKey:
		return "HeadObject"
	case r.Method == http.MethodHead:
		return "HeadBucket"
	}
	return r.Method
}

// hashingBody hashes a request body as it is read and can flip one byte of it.
type hashingBody struct {
	r      io.ReadCloser
	h      hash.Hash
	n      int64
	flipAt int64 // offset of the byte to flip; 0 for none
}

func (b *hashingBody) Read(p []byte) (int, error) {
	k, err := b.r.Read(p)
	if b.flipAt > 0 && b.n <= b.flipAt && b.flipAt < b.n+int64(k) {
		p[b.flipAt-b.n] ^= 0xff
	}
	b.h.Write(p[:k])
	b.n += int64(k)
	return k, err
}

func (b *hashingBody) Close() error { return b.r.Close() }
