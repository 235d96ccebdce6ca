// Package aruba simulates an ArubaOS 8 Mobility Conductor's REST API (the parts the
// backup provider uses), faithfully to shared/contracts/aruba-aos8.md, quirks included:
//
//   - login by GET (query) or POST (form body); success, failure (HTTP 200 or 401) and
//     session-limit bodies; a session table with a concurrent-session limit (64) and an
//     idle timeout (900 s);
//   - later calls authenticated by query UIDARUBA, cookie SESSION or header
//     X-CSRF-Token, optionally requiring the header (StrictCSRF); an expired or unknown
//     session answered with HTTP 401/403 or with HTTP 200 and status 1;
//   - status as the string "0"/"1" or the number 0/1;
//   - the configuration actions copy_running_flash, flash_backup (slow on demand, and
//     the AOS 8.2 form that refuses "filename"), copy_flash_scp (a real upload over
//     SFTP) and tar_flash_clean, on an in-memory flash;
//   - show commands, with an empty body for unknown or abbreviated commands;
//   - injected faults (devicesim.Faults) and counters (devicesim.Stats, /_sim/stats).
//
// Shapes the contract leaves open, chosen here:
//
//   - A login refused at the session limit answers like a failed login (HTTP 200, or
//     401 with FailedLoginHTTP401) with
//     {"_global_result":{"status":"1","status_str":"Maximum number of sessions reached (64)"}}.
//   - `show hostname` answers {"_data":["Hostname is <name>"]}.
//   - Schema errors (malformed JSON, a missing or non-string mandatory field, an
//     unknown field — which is how AOS 8.2 refuses flash_backup's "filename") answer
//     only {"Error":"<object>: wrong syntax: ..."}. Refused values and failed actions
//     answer the full envelope with a non-zero status (1: refused request, 2: the
//     action failed, e.g. the SCP upload).
//   - The copy_flash_scp echo masks "passwd".
//   - Logout always answers the documented body; only a known session counts as a
//     logout.
//
// The simulator never logs the credentials a client sends (neither the device's nor the
// SCP server's).
package aruba

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Expiry styles: how a call with an expired, unknown or missing session is answered.
const (
	// ExpiryStatus answers HTTP 200 with {"_global_result":{"status":1,"status_str":"Invalid
	// authentication token(UIDARUBA) in request URL"}} (or "You must authenticate
	// yourself" when no session was sent at all).
	ExpiryStatus = "status"
	// Expiry401 answers HTTP 401 (with the same JSON body).
	Expiry401 = "401"
	// Expiry403 answers HTTP 403 (with the same JSON body).
	Expiry403 = "403"
)

// Defaults.
const (
	DefaultMaxSessions      = 64
	DefaultIdleTimeout      = 900 * time.Second
	DefaultFlashArchiveSize = 64 << 10
	DefaultSCPPort          = 22
	DefaultSCPTimeout       = 15 * time.Second
)

// Texts the device answers with.
const (
	msgLoginOK        = "You've logged in successfully."
	msgLoginFailed    = "Unauthorized request, authentication failed"
	msgLoggedOut      = "You've been logged out successfully."
	msgInvalidToken   = "Invalid authentication token(UIDARUBA) in request URL"
	msgMustAuth       = "You must authenticate yourself"
	msgSuccess        = "Success"
	msgUploadOK       = "File uploaded successfully"
	flashBackupAOS82  = "flashbackup.tar.gz"
	maxCopyNameLen    = 256
	maxBackupNameLen  = 127
	maxRequestBodyLen = 1 << 20
)

// Config describes one simulated conductor.
type Config struct {
	// Name is the hostname (`show hostname`, the running config). Default "conductor".
	Name string
	// Username and Password are the API credentials. Default "admin" / "admin".
	Username string
	Password string
	// MaxSessions is the concurrent-session limit (default 64).
	MaxSessions int
	// IdleTimeout drops a session after this much inactivity (default 900 s).
	IdleTimeout time.Duration
	// StatusAsNumber answers every "status" as the JSON number 0/1/2 instead of the
	// string "0"/"1"/"2".
	StatusAsNumber bool
	// FailedLoginHTTP401 answers a refused login with HTTP 401 instead of 200.
	FailedLoginHTTP401 bool
	// ExpiryStyle is ExpiryStatus (default), Expiry401 or Expiry403.
	ExpiryStyle string
	// StrictCSRF refuses authenticated calls without a matching X-CSRF-Token header
	// (and without the session id in the query or cookie).
	StrictCSRF bool
	// FlashBackupDelay is how long flash_backup takes (real devices: 20-45 s).
	FlashBackupDelay time.Duration
	// AOS82 models AOS 8.2.x: flash_backup refuses a "filename" field and always writes
	// flashbackup.tar.gz.
	AOS82 bool
	// SCPPort is the port copy_flash_scp connects to on the given scphost (default 22).
	SCPPort int
	// SCPTimeout bounds one copy_flash_scp upload (default 15 s).
	SCPTimeout time.Duration
	// RunningConfig is the `show running-config` text (default: a realistic AOS 8
	// conductor configuration naming the hostname).
	RunningConfig string
	// RunningConfigPerLine answers `show running-config` with one _data element per
	// line instead of one element with embedded newlines.
	RunningConfigPerLine bool
	// FlashArchiveSize is how many bytes of pseudo-random content the flash holds (and
	// so roughly the size of a flash_backup archive). Default 64 KiB; negative: none.
	FlashArchiveSize int
	// ListenAddr is where Start listens ("" means 127.0.0.1:0).
	ListenAddr string
	// Logger receives a line per notable event (never credentials). nil: no logging.
	Logger *log.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = "conductor"
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "admin"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	switch cfg.ExpiryStyle {
	case Expiry401, Expiry403:
	default:
		cfg.ExpiryStyle = ExpiryStatus
	}
	if cfg.SCPPort <= 0 {
		cfg.SCPPort = DefaultSCPPort
	}
	if cfg.SCPTimeout <= 0 {
		cfg.SCPTimeout = DefaultSCPTimeout
	}
	if cfg.RunningConfig == "" {
		cfg.RunningConfig = DefaultRunningConfig(cfg.Name)
	}
	if cfg.FlashArchiveSize == 0 {
		cfg.FlashArchiveSize = DefaultFlashArchiveSize
	}
	if cfg.FlashArchiveSize < 0 {
		cfg.FlashArchiveSize = 0
	}
	return cfg
}

// Conductor is one simulated Mobility Conductor. Serve Handler() over HTTPS (Start
// does that). Safe for concurrent use.
type Conductor struct {
	// Stats counts logins, logouts, sessions and calls per endpoint.
	Stats devicesim.Stats
	// Faults injects latency and misbehaviour into the API (not into /_sim/).
	Faults devicesim.Faults

	cfg     Config
	now     func() time.Time
	handler http.Handler

	mu            sync.Mutex
	sessions      map[string]*session // by UIDARUBA
	expireNext    int
	issued        []string // every session id and CSRF token handed out, for leak tests
	runningConfig string
	flash         map[string]flashFile
}

type session struct {
	uid      string
	token    string
	lastUsed time.Time
}

// New returns a conductor with cfg (zero fields take their defaults).
func New(cfg Config) *Conductor {
	cfg = cfg.withDefaults()
	c := &Conductor{
		cfg:           cfg,
		now:           time.Now,
		sessions:      map[string]*session{},
		runningConfig: cfg.RunningConfig,
	}
	c.flash = initialFlash(cfg, c.now())
	c.handler = c.Faults.Wrap(http.HandlerFunc(c.serve))
	return c
}

// Config returns the conductor's configuration with defaults applied.
func (c *Conductor) Config() Config { return c.cfg }

// Name is the conductor's hostname.
func (c *Conductor) Name() string { return c.cfg.Name }

// Handler serves the API (through Faults) and /_sim/stats.
func (c *Conductor) Handler() http.Handler { return c.handler }

func (c *Conductor) logf(format string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Printf("aruba %s: "+format, append([]any{c.cfg.Name}, args...)...)
	}
}

// serve dispatches one request (after Faults).
func (c *Conductor) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/stats" {
		c.reap()
		c.Stats.ServeHTTP(w, r)
		return
	}
	c.Stats.Call(r.Method + " " + r.URL.Path)
	c.reap()
	switch p := r.URL.Path; {
	case p == "/v1/api/login":
		c.handleLogin(w, r)
	case p == "/v1/api/logout":
		c.handleLogout(w, r)
	case p == "/v1/configuration/showcommand":
		c.handleShow(w, r)
	case strings.HasPrefix(p, "/v1/configuration/object/") && len(p) > len("/v1/configuration/object/"):
		c.handleObject(w, r, strings.TrimPrefix(p, "/v1/configuration/object/"))
	default:
		http.NotFound(w, r)
	}
}

// status renders a status code as this build does: "0" or 0.
func (c *Conductor) status(n int) any {
	if c.cfg.StatusAsNumber {
		return n
	}
	return strconv.Itoa(n)
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// ---- sessions ----

func newID() (uid, token string) {
	var b [32]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(err)
	}
	u := b[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	uid = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	return uid, hex.EncodeToString(b[16:])
}

// reap drops the sessions idle for longer than IdleTimeout.
func (c *Conductor) reap() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reapLocked()
}

func (c *Conductor) reapLocked() {
	now := c.now()
	for uid, s := range c.sessions {
		if now.Sub(s.lastUsed) >= c.cfg.IdleTimeout {
			delete(c.sessions, uid)
			c.Stats.SessionExpired()
			c.logf("session expired after %s idle (%d open)", c.cfg.IdleTimeout, len(c.sessions))
		}
	}
}

// OpenSessions is the number of live sessions (after dropping idle ones).
func (c *Conductor) OpenSessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reapLocked()
	return len(c.sessions)
}

// ExpireAllSessions drops every session, as a device reboot or an admin's
// "aaa user delete all" would; each counts as expired.
func (c *Conductor) ExpireAllSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid := range c.sessions {
		delete(c.sessions, uid)
		c.Stats.SessionExpired()
	}
}

// IssuedTokens returns every session id (UIDARUBA) and CSRF token the conductor
// handed out, in order (uid, token, uid, token, ...), so tests can check that none
// of them leaked into a log or a state.
func (c *Conductor) IssuedTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.issued...)
}

// ExpireNextCalls makes the next n authenticated API calls (show commands and
// configuration actions; not login/logout) find their session expired: the session is
// dropped (counted as expired) and the call answered per ExpiryStyle, so a client's
// re-login can be tested.
func (c *Conductor) ExpireNextCalls(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireNext = n
}

func (c *Conductor) loginBody(status int, msg, uid, token string) []byte {
	g := struct {
		Status    any    `json:"status"`
		StatusStr string `json:"status_str"`
		UID       string `json:"UIDARUBA,omitempty"`
		CSRF      string `json:"X-CSRF-Token,omitempty"`
	}{c.status(status), msg, uid, token}
	return mustJSON(map[string]any{"_global_result": g})
}

func (c *Conductor) handleLogin(w http.ResponseWriter, r *http.Request) {
	var user, pass string
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		user, pass = q.Get("username"), q.Get("password")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			c.loginFailed(w, msgLoginFailed)
			return
		}
		user, pass = r.Form.Get("username"), r.Form.Get("password")
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(c.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(c.cfg.Password)) == 1
	if !userOK || !passOK {
		c.logf("login refused: authentication failed")
		c.loginFailed(w, msgLoginFailed)
		return
	}
	c.mu.Lock()
	if len(c.sessions) >= c.cfg.MaxSessions {
		c.mu.Unlock()
		c.logf("login refused: %d sessions open", c.cfg.MaxSessions)
		c.loginFailed(w, fmt.Sprintf("Maximum number of sessions reached (%d)", c.cfg.MaxSessions))
		return
	}
	uid, token := newID()
	c.sessions[uid] = &session{uid: uid, token: token, lastUsed: c.now()}
	c.issued = append(c.issued, uid, token)
	c.Stats.LoginSucceeded()
	open := len(c.sessions)
	c.mu.Unlock()
	c.logf("login ok (%d open)", open)
	http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: uid, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, c.loginBody(0, msgLoginOK, uid, token))
}

func (c *Conductor) loginFailed(w http.ResponseWriter, msg string) {
	c.Stats.LoginFailed()
	code := http.StatusOK
	if c.cfg.FailedLoginHTTP401 {
		code = http.StatusUnauthorized
	}
	writeJSON(w, code, c.loginBody(1, msg, "", ""))
}

func (c *Conductor) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	uid := sessionID(r)
	token := r.Header.Get("X-CSRF-Token")
	c.mu.Lock()
	s := c.sessions[uid]
	if s == nil && uid == "" && token != "" {
		s = c.byTokenLocked(token)
	}
	if s != nil {
		delete(c.sessions, s.uid)
		c.Stats.LoggedOut()
	}
	open := len(c.sessions)
	c.mu.Unlock()
	if s != nil {
		c.logf("logout (%d open)", open)
	}
	http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true})
	writeJSON(w, http.StatusOK, mustJSON(map[string]any{"_global_result": struct {
		Status    any    `json:"status"`
		StatusStr string `json:"status_str"`
		UID       string `json:"UIDARUBA"`
	}{c.status(0), msgLoggedOut, "(null)"}}))
}

// sessionID is the session the request names: query UIDARUBA first, then cookie SESSION.
func sessionID(r *http.Request) string {
	if uid := r.URL.Query().Get("UIDARUBA"); uid != "" {
		return uid
	}
	if ck, err := r.Cookie("SESSION"); err == nil {
		return ck.Value
	}
	return ""
}

func (c *Conductor) byTokenLocked(token string) *session {
	for _, s := range c.sessions {
		if subtle.ConstantTimeCompare([]byte(s.token), []byte(token)) == 1 {
			return s
		}
	}
	return nil
}

// requireSession authenticates an API call. On failure it answers (per ExpiryStyle)
// and returns false.
func (c *Conductor) requireSession(w http.ResponseWriter, r *http.Request) bool {
	uid := sessionID(r)
	token := r.Header.Get("X-CSRF-Token")
	if uid == "" && token == "" {
		c.unauthenticated(w, msgMustAuth)
		return false
	}
	if c.cfg.StrictCSRF && (uid == "" || token == "") {
		c.unauthenticated(w, msgMustAuth)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var s *session
	if uid != "" {
		s = c.sessions[uid]
		if s != nil && token != "" && subtle.ConstantTimeCompare([]byte(s.token), []byte(token)) != 1 {
			s = nil // the header names another session (or none)
		}
	} else {
		s = c.byTokenLocked(token)
	}
	if s == nil {
		c.unauthenticated(w, msgInvalidToken)
		return false
	}
	if c.expireNext > 0 {
		c.expireNext--
		delete(c.sessions, s.uid)
		c.Stats.SessionExpired()
		c.unauthenticated(w, msgInvalidToken)
		return false
	}
	s.lastUsed = c.now()
	return true
}

func (c *Conductor) unauthenticated(w http.ResponseWriter, msg string) {
	code := http.StatusOK
	switch c.cfg.ExpiryStyle {
	case Expiry401:
		code = http.StatusUnauthorized
	case Expiry403:
		code = http.StatusForbidden
	}
	writeJSON(w, code, mustJSON(map[string]any{"_global_result": struct {
		Status    any    `json:"status"`
		StatusStr string `json:"status_str"`
	}{c.status(1), msg}}))
}

// ---- test accessors ----

// SetRunningConfig replaces the running configuration.
func (c *Conductor) SetRunningConfig(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runningConfig = text
}

// RunningConfig returns the running configuration.
func (c *Conductor) RunningConfig() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningConfig
}

// FlashFiles lists the flash: name → size in bytes.
func (c *Conductor) FlashFiles() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.flash))
	for name, f := range c.flash {
		out[name] = int64(len(f.data))
	}
	return out
}

// FlashFile returns a copy of one flash file's content.
func (c *Conductor) FlashFile(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.flash[name]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

func (c *Conductor) flashNames() []string {
	names := make([]string, 0, len(c.flash))
	for n := range c.flash {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
