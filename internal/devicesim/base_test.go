package devicesim

import (
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestBase(clock Clock, secretIDs bool) *Base {
	return NewBase(BaseConfig{Clock: clock, MaxSessions: 2, IdleTimeout: time.Minute, SessionIDIsSecret: secretIDs})
}

func TestSessionTableLimitLogoutAndCounters(t *testing.T) {
	clock := NewManualClock(testStart)
	b := newTestBase(clock, false)
	t1, err := b.Sessions.Open(Session{ID: "a", Token: "tok-a", User: "admin", Client: "127.0.0.1"})
	if err != nil || !t1.Created.Equal(testStart) || !t1.LastUsed.Equal(testStart) || t1.User != "admin" {
		t.Fatalf("first Open: %+v %v", t1, err)
	}
	if _, err := b.Sessions.Open(Session{ID: "b", Token: "tok-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sessions.Open(Session{ID: "c", Token: "tok-c"}); !errors.Is(err, ErrSessionLimit) {
		t.Fatalf("third Open at a limit of 2: %v", err)
	}
	if s, ok := b.Sessions.GetByToken("tok-b"); !ok || s.ID != "b" {
		t.Fatalf("GetByToken: %+v %v", s, ok)
	}
	if _, ok := b.Sessions.GetByToken(""); ok {
		t.Fatal("an empty token names a session")
	}
	if !b.Sessions.LogOut("a") || b.Sessions.LogOut("a") || b.Sessions.LogOut("unknown") {
		t.Fatal("LogOut answers true exactly once for a known session")
	}
	if !b.Sessions.Expire("b") || b.Sessions.Expire("b") {
		t.Fatal("Expire answers true exactly once for a known session")
	}
	got := b.Stats.Snapshot()
	want := StatsSnapshot{Logins: 2, Logouts: 1, ExpiredSessions: 1, OpenSessions: 0, PeakOpenSessions: 2, Calls: map[string]int64{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	if issued := b.IssuedTokens(); !reflect.DeepEqual(issued, []string{"tok-a", "tok-b"}) {
		t.Fatalf("issued %v (ids are not secret here)", issued)
	}
	secret := newTestBase(clock, true)
	_, _ = secret.Sessions.Open(Session{ID: "uid-1", Token: "tok-1"})
	if issued := secret.IssuedTokens(); !reflect.DeepEqual(issued, []string{"uid-1", "tok-1"}) {
		t.Fatalf("issued %v (ids are secret here)", issued)
	}
}

// The idle timeout runs on the device's clock: a test moves the clock, nothing sleeps.
func TestSessionTableIdleExpiryOnTheClock(t *testing.T) {
	clock := NewManualClock(testStart)
	b := newTestBase(clock, false)
	_, _ = b.Sessions.Open(Session{ID: "busy", Token: "t1"})
	_, _ = b.Sessions.Open(Session{ID: "idle", Token: "t2"})
	for i := 0; i < 3; i++ {
		clock.Advance(59 * time.Second)
		if s, ok := b.Sessions.Touch("busy"); !ok || !s.LastUsed.Equal(clock.Now()) {
			t.Fatalf("Touch after %d×59 s: %+v %v", i+1, s, ok)
		}
	}
	// "idle" has been idle 177 s, "busy" 0 s.
	if l := b.Sessions.List(); len(l) != 1 || l[0].ID != "busy" || !l[0].Created.Equal(testStart) {
		t.Fatalf("List %+v", l)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if b.OpenSessions() != 1 {
		t.Fatal("a session expired before its idle timeout")
	}
	clock.Advance(time.Nanosecond) // idle exactly the timeout: expired
	if _, ok := b.Sessions.Get("busy"); ok || b.OpenSessions() != 0 {
		t.Fatal("a session outlived its idle timeout")
	}
	if st := b.Stats.Snapshot(); st.ExpiredSessions != 2 || st.OpenSessions != 0 || st.Logouts != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A table with room again opens sessions at the clock's time.
	if s, err := b.Sessions.Open(Session{ID: "new", Token: "t3"}); err != nil || !s.Created.Equal(clock.Now()) {
		t.Fatalf("Open: %+v %v", s, err)
	}
	b.ExpireAllSessions()
	if b.OpenSessions() != 0 || b.Stats.Snapshot().ExpiredSessions != 3 {
		t.Fatalf("after ExpireAllSessions: %+v", b.Stats.Snapshot())
	}
}

func TestSessionTableExpireNextUses(t *testing.T) {
	b := newTestBase(NewManualClock(testStart), false)
	_, _ = b.Sessions.Open(Session{ID: "a", Token: "ta"})
	_, _ = b.Sessions.Open(Session{ID: "b", Token: "tb"})
	b.ExpireNextCalls(1)
	if _, ok := b.Sessions.Get("a"); !ok {
		t.Fatal("a lookup without use consumed the forced expiry")
	}
	if _, ok := b.Sessions.Touch("a"); ok {
		t.Fatal("the next use found its session alive")
	}
	if _, ok := b.Sessions.Touch("b"); !ok {
		t.Fatal("the use after it found its session expired")
	}
	if st := b.Stats.Snapshot(); st.ExpiredSessions != 1 || st.OpenSessions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// testDevice is the smallest device: one endpoint that waits for its request to end.
type testDevice struct {
	*Base
	started  chan struct{}
	finished atomic.Bool
}

func (d *testDevice) Identity() Identity {
	return Identity{Kind: "test", Name: "dev-1", Username: "u", Password: "p", Firmware: "1.0"}
}

func (d *testDevice) Handler() http.Handler {
	return d.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.Stats.Call(r.Method + " " + r.URL.Path)
		if r.URL.Path == "/wait" {
			close(d.started)
			<-r.Context().Done() // Close cancels it
			time.Sleep(50 * time.Millisecond)
			d.finished.Store(true)
			return
		}
		Reply(w, http.StatusOK, "application/json", []byte(`{}`))
	}))
}

func trustingClient(t *testing.T, ca *CA) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestServerStatsFaultsDeviceInfoAndClose(t *testing.T) {
	ca := SharedCA(t)
	if SharedCA(t) != ca {
		t.Fatal("SharedCA made a second CA")
	}
	if _, err := Start(nil, "", &testDevice{}, nil); err == nil {
		t.Fatal("Start without a CA")
	}
	d := &testDevice{Base: newTestBase(nil, false), started: make(chan struct{})}
	s, err := Start(ca, "", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	hc := trustingClient(t, ca)

	info := s.DeviceInfo()
	if info.Kind != "test" || info.Name != "dev-1" || info.Firmware != "1.0" || info.Host != "127.0.0.1" || info.Port == 0 ||
		info.URL != s.URL || info.StatsURL != s.URL+StatsPath {
		t.Fatalf("DeviceInfo %+v", info)
	}

	// Faults reach the API but never StatsPath.
	d.Faults.Add(Fault{Kind: FaultServerError})
	resp, err := hc.Get(s.URL + "/api")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("faulted API call: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = hc.Get(s.StatsURL())
	if err != nil {
		t.Fatal(err)
	}
	var snap StatsSnapshot
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || snap.TotalCalls() != 0 {
		t.Fatalf("stats: HTTP %d %+v %v", resp.StatusCode, snap, err)
	}
	d.Faults.Clear()
	resp, err = hc.Get(s.URL + "/api")
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != 2 {
		t.Fatalf("API call: %v %v", resp, err)
	}
	resp.Body.Close()

	// Close cancels the request in progress, waits for its handler, and is idempotent.
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Get(s.URL + "/wait")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-d.started
	s.Close()
	if !d.finished.Load() {
		t.Fatal("Close returned before the handler in progress finished")
	}
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	if _, err := hc.Get(s.URL + "/api"); err == nil {
		t.Fatal("a closed server answered")
	}
}

// FaultTooManyRequests answers 429 with the Retry-After it was given (whole seconds,
// rounded up; one second when none), then lets the API answer once it is used up.
func TestFaultTooManyRequests(t *testing.T) {
	ca := SharedCA(t)
	d := &testDevice{Base: newTestBase(nil, false), started: make(chan struct{})}
	s, err := Start(ca, "", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	hc := trustingClient(t, ca)
	d.Faults.Add(Fault{Kind: FaultTooManyRequests, PathPrefix: "/api", Times: 1, RetryAfter: 1500 * time.Millisecond})
	d.Faults.Add(Fault{Kind: FaultTooManyRequests, PathPrefix: "/other", Times: 1})
	for _, tc := range []struct{ path, retryAfter string }{{"/api", "2"}, {"/other", "1"}} {
		resp, err := hc.Get(s.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != tc.retryAfter {
			t.Fatalf("%s: HTTP %d, Retry-After %q; want 429 and %q", tc.path, resp.StatusCode, resp.Header.Get("Retry-After"), tc.retryAfter)
		}
	}
	resp, err := hc.Get(s.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the fault: HTTP %d", resp.StatusCode)
	}
}

// Every line a device logs, its own and its session table's, names the device.
func TestBaseLogsWithPrefix(t *testing.T) {
	clock := NewManualClock(testStart)
	var buf strings.Builder
	b := NewBase(BaseConfig{Clock: clock, MaxSessions: 2, IdleTimeout: time.Minute,
		Logger: log.New(&buf, "", 0), LogPrefix: "aruba mc-1"})
	b.Logf("login from %s", "127.0.0.1")
	if _, err := b.Sessions.Open(Session{ID: "a", Token: "tok-a", User: "admin", Client: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if n := b.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions open after the idle timeout", n)
	}
	want := "aruba mc-1: login from 127.0.0.1\naruba mc-1: session expired after 1m0s idle (0 open)\n"
	if buf.String() != want {
		t.Errorf("log = %q, want %q", buf.String(), want)
	}
	// Without a logger, nothing is written and nothing fails.
	NewBase(BaseConfig{MaxSessions: 1, IdleTimeout: time.Minute, LogPrefix: "x"}).Logf("dropped %d", 1)
}
