package devicesim

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Stats counts what a simulated device saw. Tests assert on it (sessions opened and
// closed, calls per endpoint), and devices serve it at GET /_sim/stats.
type Stats struct {
	mu       sync.Mutex
	logins   int64
	failed   int64
	logouts  int64
	expired  int64
	open     int64
	peakOpen int64
	calls    map[string]int64
}

// StatsSnapshot is a point-in-time copy of Stats, as served at /_sim/stats.
type StatsSnapshot struct {
	Logins           int64            `json:"logins"`
	FailedLogins     int64            `json:"failed_logins"`
	Logouts          int64            `json:"logouts"`
	ExpiredSessions  int64            `json:"expired_sessions"`
	OpenSessions     int64            `json:"open_sessions"`
	PeakOpenSessions int64            `json:"peak_open_sessions"`
	Calls            map[string]int64 `json:"calls"`
}

// TotalCalls is the number of API calls the device answered (every endpoint).
func (s StatsSnapshot) TotalCalls() int64 {
	var n int64
	for _, c := range s.Calls {
		n += c
	}
	return n
}

// Call records one request to endpoint, conventionally "METHOD /path".
func (s *Stats) Call(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int64{}
	}
	s.calls[endpoint]++
}

// LoginSucceeded records a new open session.
func (s *Stats) LoginSucceeded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins++
	s.open++
	if s.open > s.peakOpen {
		s.peakOpen = s.open
	}
}

// LoginFailed records a refused login (bad credentials, session limit, ...).
func (s *Stats) LoginFailed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
}

// LoggedOut records a session closed by the client.
func (s *Stats) LoggedOut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logouts++
	s.open--
}

// SessionExpired records a session the device dropped by itself (idle timeout,
// forced expiry, reset).
func (s *Stats) SessionExpired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired++
	s.open--
}

// Snapshot returns a copy of the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := make(map[string]int64, len(s.calls))
	for k, v := range s.calls {
		calls[k] = v
	}
	return StatsSnapshot{
		Logins: s.logins, FailedLogins: s.failed, Logouts: s.logouts,
		ExpiredSessions: s.expired, OpenSessions: s.open, PeakOpenSessions: s.peakOpen,
		Calls: calls,
	}
}

// ServeHTTP serves the snapshot as JSON (mounted at /_sim/stats by every device).
func (s *Stats) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.Snapshot())
}
