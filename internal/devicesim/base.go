package devicesim

import (
	"log"
	"net"
	"net/http"
	"strconv"
	"time"
)

// StatsPath serves a device's Stats snapshot. It is never subject to injected faults,
// and a device that models an outage (a reset) still answers it.
const StatsPath = "/_sim/stats"

// Base is what every simulated device has besides its protocol: counters, injected
// faults, a clock and a session table. A device embeds the *Base that NewBase returns,
// serves its protocol through Wrap, and is served by Start.
type Base struct {
	// Stats counts logins, logouts, sessions and calls per endpoint; served at StatsPath.
	Stats Stats
	// Faults injects latency and misbehaviour into the API (not into /_sim/).
	Faults Faults
	// Sessions is the device's session table; its sessions count in Stats.
	Sessions *SessionTable

	clock Clock
	logf  func(format string, args ...any)
}

// BaseConfig configures a Base.
type BaseConfig struct {
	// Clock is the device's clock (nil: SystemClock).
	Clock Clock
	// MaxSessions and IdleTimeout are the session table's limit and idle timeout
	// (both required: each device kind has its own defaults).
	MaxSessions int
	IdleTimeout time.Duration
	// SessionIDIsSecret says a session id authenticates on its own (Aruba's UIDARUBA
	// does), so IssuedTokens lists it with the token.
	SessionIDIsSecret bool
	// Logger receives a line per notable event (never credentials), each starting
	// with LogPrefix (the device's kind and name); nil: no logging.
	Logger    *log.Logger
	LogPrefix string
}

// NewBase returns a Base configured by cfg.
func NewBase(cfg BaseConfig) *Base {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	logf := func(string, ...any) {}
	if cfg.Logger != nil {
		logf = func(format string, args ...any) {
			cfg.Logger.Printf("%s: "+format, append([]any{cfg.LogPrefix}, args...)...)
		}
	}
	b := &Base{clock: cfg.Clock, logf: logf}
	b.Sessions = &SessionTable{
		clock: cfg.Clock, stats: &b.Stats, limit: cfg.MaxSessions, idle: cfg.IdleTimeout,
		idSecret: cfg.SessionIDIsSecret, logf: logf, byID: map[string]*Session{},
	}
	return b
}

// Now is the time on the device's clock.
func (b *Base) Now() time.Time { return b.clock.Now() }

// Logf logs one line through the device's logger, if it has one.
func (b *Base) Logf(format string, args ...any) { b.logf(format, args...) }

// Wrap returns the device's handler: injected faults around the API, idle sessions
// dropped at every request (so StatsPath reports them as expired the moment they are),
// and StatsPath served beside the API.
func (b *Base) Wrap(api http.Handler) http.Handler {
	return b.Faults.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.Sessions.Reap()
		if r.URL.Path == StatsPath {
			b.Stats.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
}

// OpenSessions is the number of live sessions (idle ones expire first).
func (b *Base) OpenSessions() int { return b.Sessions.Len() }

// ExpireAllSessions drops every session, as a device reboot or an administrator
// would; each counts as expired.
func (b *Base) ExpireAllSessions() { b.Sessions.ExpireAll() }

// ExpireNextCalls makes the next n API calls that use a session find it expired: the
// session is dropped (counted as expired) and the call answered as the device answers
// an expired session, so a client's re-login can be tested. Logins do not count; which
// other calls use a session is the device's (its package doc says).
func (b *Base) ExpireNextCalls(n int) { b.Sessions.ExpireNextUses(n) }

// IssuedTokens returns every session secret the device handed out, oldest first, so
// tests can check that none of them leaked into a log, a state or an error.
func (b *Base) IssuedTokens() []string { return b.Sessions.Issued() }

// Reply writes a complete answer: status, Content-Type, Content-Length and body.
func Reply(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ClientHost is the address a request came from, without its port (what devices show
// as a session's client address).
func ClientHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
