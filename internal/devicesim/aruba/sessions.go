package aruba

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"
)

type session struct {
	uid      string
	token    string
	lastUsed time.Time
}

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
