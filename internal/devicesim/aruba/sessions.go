package aruba

import (
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

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
		c.Logf("login refused: authentication failed")
		c.loginFailed(w, msgLoginFailed)
		return
	}
	s, err := c.Sessions.Open(devicesim.Session{
		ID: devicesim.RandomUUID(), Token: devicesim.RandomHex(16), User: user, Client: devicesim.ClientHost(r),
	})
	if err != nil {
		limit := c.Sessions.Limit()
		c.Logf("login refused: %d sessions open", limit)
		c.loginFailed(w, fmt.Sprintf("Maximum number of sessions reached (%d)", limit))
		return
	}
	c.Logf("login ok (%d open)", c.Sessions.Len())
	uid, token := s.ID, s.Token
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
	s, found := c.Sessions.Get(uid)
	if !found && uid == "" && token != "" {
		s, found = c.Sessions.GetByToken(token)
	}
	if found && c.Sessions.LogOut(s.ID) {
		c.Logf("logout (%d open)", c.Sessions.Len())
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
	var s devicesim.Session
	var found bool
	if uid != "" {
		s, found = c.Sessions.Get(uid)
		if found && token != "" && subtle.ConstantTimeCompare([]byte(s.Token), []byte(token)) != 1 {
			found = false // the header names another session (or none)
		}
	} else {
		s, found = c.Sessions.GetByToken(token)
	}
	if !found {
		c.unauthenticated(w, msgInvalidToken)
		return false
	}
	if _, found := c.Sessions.Touch(s.ID); !found {
		// Expired or logged out meanwhile, or expired on purpose (ExpireNextCalls).
		c.unauthenticated(w, msgInvalidToken)
		return false
	}
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
