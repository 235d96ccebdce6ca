package devicesim

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind names a misbehaviour a simulated device can be told to show.
type FaultKind string

const (
	// FaultMalformedJSON answers 200 with a truncated JSON document.
	FaultMalformedJSON FaultKind = "malformed-json"
	// FaultHTMLError answers 500 with an HTML error page, as web servers in front of
	// device APIs do.
	FaultHTMLError FaultKind = "html-error"
	// FaultServerError answers 503 with a Retry-After of one second.
	FaultServerError FaultKind = "server-error"
	// FaultReset closes the TCP connection without answering.
	FaultReset FaultKind = "reset"
	// FaultSlow waits Fault.Delay, then answers normally.
	FaultSlow FaultKind = "slow"
	// FaultTooManyRequests answers 429 with a Retry-After of Fault.RetryAfter in
	// whole seconds, rounded up (one second when unset), as a throttling API does.
	FaultTooManyRequests FaultKind = "too-many-requests"
)

// Fault is one injected misbehaviour. It applies to requests whose path starts with
// PathPrefix (case-insensitive; "" means every API path) and, when Method is set, to
// that method only. Times bounds how many requests it hits (0: all of them).
type Fault struct {
	Kind       FaultKind
	PathPrefix string
	Method     string
	Times      int
	Delay      time.Duration
	RetryAfter time.Duration // FaultTooManyRequests only
}

// Faults is a device's list of injected faults plus its base latency. The zero value
// injects nothing. Safe for concurrent use; tests change it while a device serves.
type Faults struct {
	mu      sync.Mutex
	latency time.Duration
	list    []*Fault
}

// SetLatency makes every API call take at least d (models a real device's response time).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Add injects a fault.
func (f *Faults) Add(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	copied := fault
	f.list = append(f.list, &copied)
}

// Clear removes every injected fault (latency stays).
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = nil
}

// take returns the fault that applies to r, consuming one of its Times.
func (f *Faults) take(r *http.Request) (*Fault, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.ToLower(r.URL.Path)
	for i, fault := range f.list {
		if fault.Method != "" && !strings.EqualFold(fault.Method, r.Method) {
			continue
		}
		if !strings.HasPrefix(path, strings.ToLower(fault.PathPrefix)) {
			continue
		}
		if fault.Times > 0 {
			fault.Times--
			if fault.Times == 0 {
				f.list = append(f.list[:i:i], f.list[i+1:]...)
			}
		}
		return fault, f.latency
	}
	return nil, f.latency
}

// Wrap applies latency and injected faults to every request except the simulator's
// own /_sim/ endpoints.
func (f *Faults) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			next.ServeHTTP(w, r)
			return
		}
		// Handlers get a writer that remembers whether an answer was started, so
		// ResetConnection knows whether there is anything to flush.
		tw := &trackingWriter{ResponseWriter: w}
		fault, latency := f.take(r)
		if latency > 0 {
			sleep(r, latency)
		}
		if fault == nil {
			next.ServeHTTP(tw, r)
			return
		}
		switch fault.Kind {
		case FaultSlow:
			sleep(r, fault.Delay)
			next.ServeHTTP(tw, r)
		case FaultMalformedJSON:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"_global_result": {"status": "0", "status_str": "trunc`))
		case FaultHTMLError:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>"))
		case FaultServerError:
			w.Header().Set("Retry-After", strconv.Itoa(1))
			w.WriteHeader(http.StatusServiceUnavailable)
		case FaultTooManyRequests:
			secs := int((fault.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			w.WriteHeader(http.StatusTooManyRequests)
		case FaultReset:
			ResetConnection(tw)
		default:
			next.ServeHTTP(tw, r)
		}
	})
}

// ResetConnection drops the client's TCP connection without an HTTP answer (or in the
// middle of one, when part of a body was already written).
//
// What was written is flushed first only for writers handed out by Faults.Wrap (which
// know whether an answer was started): flushing an untouched writer would send
// "200 OK" headers instead of no answer at all. On other writers, headers already
// written still go out, but body bytes still buffered are dropped.
func ResetConnection(w http.ResponseWriter) {
	if tw, ok := w.(*trackingWriter); ok && tw.started {
		tw.Flush()
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// trackingWriter records whether the handler started an answer.
type trackingWriter struct {
	http.ResponseWriter
	started bool
}

func (t *trackingWriter) WriteHeader(code int) {
	if code >= 200 {
		t.started = true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.started = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Flush() {
	t.started = true
	if fl, ok := t.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (t *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := t.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}
