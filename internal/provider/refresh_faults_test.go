package provider

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// Handler wrappers that make a simulated iLO misbehave on demand, for the tests of
// what refresh, plan and timeouts do then.

func isServiceGet(r *http.Request) bool {
	p := strings.TrimSuffix(strings.ToLower(r.URL.Path), "/")
	return r.Method == http.MethodGet && strings.HasSuffix(p, "/backuprestoreservice")
}

// stallCap bounds a stall, so a client that never gives up fails the test instead of
// hanging it.
const stallCap = 45 * time.Second

// bodyStall answers GETs of the backup service with headers and the start of a body,
// then sends nothing more until the client goes away (or stallCap passes).
type bodyStall struct {
	mu        sync.Mutex
	armed     bool
	stalls    int
	abandoned int // stalls the client ended (it gave up before stallCap)
}

func (s *bodyStall) set(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = on
}

func (s *bodyStall) counts() (stalls, abandoned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalls, s.abandoned
}

func (s *bodyStall) wrap(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		armed := s.armed && isServiceGet(r)
		if armed {
			s.stalls++
		}
		s.mu.Unlock()
		if !armed {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"@odata.id": "/redfish/v1/Managers/1/BackupRestoreService/", `))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		t := time.NewTimer(stallCap)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			s.mu.Lock()
			s.abandoned++
			s.mu.Unlock()
		case <-t.C:
		}
	})
}

// outageKind is how an iLO in an outage answers.
type outageKind int

const (
	outageNone        outageKind = iota
	outageReset                  // every connection is dropped without an answer
	outageUnavailable            // every request answers 503
	outageServiceGone            // the backup service answers 404; the rest works
)

type outage struct {
	mu   sync.Mutex
	kind outageKind
	hits int
}

func (o *outage) set(k outageKind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kind = k
}

func (o *outage) hitCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits
}

func (o *outage) wrap(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		kind := o.kind
		if kind != outageNone && (kind != outageServiceGone || isServiceGet(r)) {
			o.hits++
		}
		o.mu.Unlock()
		switch {
		case kind == outageReset:
			devicesim.ResetConnection(w)
		case kind == outageUnavailable:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("<html><title>503 Service Unavailable</title></html>"))
		case kind == outageServiceGone && isServiceGet(r):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"error":{"code":"iLO.0.10.ExtendedInfo","message":"See @Message.ExtendedInfo for more information.",`+
				`"@Message.ExtendedInfo":[{"MessageId":"Base.1.18.ResourceMissingAtURI","MessageArgs":[%q]}]}}`, r.URL.Path)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func isRestoreUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), ilosim.HTTPPushURI)
}

// lostAnswer lets the iLO receive and act on a whole restore upload, then drops the
// connection instead of answering (dropNext), or answers only after answerDelay.
type lostAnswer struct {
	mu          sync.Mutex
	dropNext    bool
	dropped     int
	answerDelay time.Duration
}

func (l *lostAnswer) arm() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropNext = true
}

func (l *lostAnswer) droppedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

func (l *lostAnswer) setAnswerDelay(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answerDelay = d
}

func (l *lostAnswer) wrap(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isRestoreUpload(r) {
			next.ServeHTTP(w, r)
			return
		}
		l.mu.Lock()
		drop, delay := l.dropNext, l.answerDelay
		l.dropNext = false
		l.mu.Unlock()
		switch {
		case drop:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r) // the iLO reads the whole upload and acts on it
			l.mu.Lock()
			l.dropped++
			l.mu.Unlock()
			devicesim.ResetConnection(w) // and the answer never arrives
		case delay > 0:
			next.ServeHTTP(&delayedAnswer{ResponseWriter: w, delay: delay}, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// delayedAnswer holds an answer back for delay (the iLO checking a large image
// before it answers).
type delayedAnswer struct {
	http.ResponseWriter
	delay   time.Duration
	delayed bool
}

func (d *delayedAnswer) WriteHeader(code int) {
	if !d.delayed {
		d.delayed = true
		time.Sleep(d.delay)
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *delayedAnswer) Write(b []byte) (int, error) {
	if !d.delayed {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}
