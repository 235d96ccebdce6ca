package provider

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// Handler wrappers for a simulated iLO (simEnv.addILOWrapped): some record what the
// provider sent, others make the iLO misbehave on demand, for the tests of what
// refresh, plan and timeouts do then.

// tokenRecorder remembers every session token the iLO hands out.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (tr *tokenRecorder) wrap(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&headerSpy{ResponseWriter: w, seen: tr.add}, r)
	})
}

func (tr *tokenRecorder) add(token string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.tokens = append(tr.tokens, token)
}

func (tr *tokenRecorder) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.tokens...)
}

// headerSpy hands the X-Auth-Token of an answer to seen.
type headerSpy struct {
	http.ResponseWriter
	seen func(string)
}

func (h *headerSpy) WriteHeader(code int) {
	if tok := h.Header().Get("X-Auth-Token"); tok != "" {
		h.seen(tok)
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerSpy) Write(b []byte) (int, error) { return h.ResponseWriter.Write(b) }

func (h *headerSpy) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *headerSpy) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// patchSpy records every PATCH of the backup service (its If-Match and the status
// the iLO answered). When raceNext is set, the next PATCH is preceded by another
// client's PATCH that leaves the flag as it is but changes the ETag, exactly as if
// someone changed the service between Terraform's read and write.
type patchSpy struct {
	mu        sync.Mutex
	raceNext  bool
	raceCount int
	patches   []patchRecord
}

type patchRecord struct {
	ifMatch string
	status  int
}

func (p *patchSpy) wrap(d *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || !strings.Contains(strings.ToLower(r.URL.Path), "backuprestoreservice") {
			next.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		race := p.raceNext
		p.raceNext = false
		p.mu.Unlock()
		if race {
			other := httptest.NewRequest(http.MethodPatch, r.URL.Path,
				strings.NewReader(fmt.Sprintf(`{"CustomBackupandRestore": %t}`, d.CustomBackupAndRestore())))
			other.Header.Set("X-Auth-Token", r.Header.Get("X-Auth-Token"))
			other.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, other)
			p.mu.Lock()
			if rec.Code == http.StatusOK {
				p.raceCount++
			}
			p.mu.Unlock()
		}
		spy := &statusSpy{ResponseWriter: w}
		next.ServeHTTP(spy, r)
		p.mu.Lock()
		p.patches = append(p.patches, patchRecord{ifMatch: r.Header.Get("If-Match"), status: spy.status})
		p.mu.Unlock()
	})
}

func (p *patchSpy) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raceNext = true
}

// patched checks the PATCHes sent since the previous check: their statuses in
// order, each with an If-Match naming the service's weak ETag.
func (p *patchSpy) patched(wantStatuses ...int) checkFunc {
	return deviceCheck(func() error {
		p.mu.Lock()
		got := p.patches
		p.patches = nil
		p.mu.Unlock()
		if len(got) != len(wantStatuses) {
			return fmt.Errorf("want %d PATCHes (%v), got %+v", len(wantStatuses), wantStatuses, got)
		}
		for i, rec := range got {
			if rec.status != wantStatuses[i] {
				return fmt.Errorf("PATCH %d answered %d, want %d (all: %+v)", i+1, rec.status, wantStatuses[i], got)
			}
			if !strings.HasPrefix(rec.ifMatch, `W/"`) {
				return fmt.Errorf("PATCH %d carried If-Match %q, want the service's weak ETag", i+1, rec.ifMatch)
			}
		}
		return nil
	})
}

// raced checks how often the ETag was changed behind the provider's back.
func (p *patchSpy) raced(want int) checkFunc {
	return deviceCheck(func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.raceCount != want {
			return fmt.Errorf("the ETag was changed %d times behind the provider's back, want %d", p.raceCount, want)
		}
		return nil
	})
}

// statusSpy remembers the status of an answer.
type statusSpy struct {
	http.ResponseWriter
	status int
}

func (s *statusSpy) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusSpy) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }

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

// assertAbandoned fails the test unless want answers stalled and the provider gave
// up on each itself (within its timeout) rather than waiting for the iLO.
func (s *bodyStall) assertAbandoned(t *testing.T, want int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalls != want || s.abandoned != want {
		t.Errorf("want %d stalled answers, each abandoned by the provider; got %d stalls, %d abandoned", want, s.stalls, s.abandoned)
	}
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
