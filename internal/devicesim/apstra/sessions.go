package apstra

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Texts the server answers with (the "ours" of the package doc).
const (
	msgBadCredentials = "Invalid credentials"
	msgBanned         = "Too many failed login attempts from this address; try again later"
	msgNoToken        = "Authentication required"
	msgBadToken       = "Invalid or expired token"
	maxLoginBody      = 64 << 10
)

// loginRecord is the rate limit's memory of one client address.
type loginRecord struct {
	failures    []time.Time // refused logins within the window
	bannedUntil time.Time
}

// handleLogin serves POST /api/aaa/login and /api/user/login.
func (a *Apstra) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	addr := devicesim.ClientHost(r)
	if wait := a.banRemaining(addr); wait > 0 {
		a.Stats.LoginFailed()
		a.Logf("login refused: %s is banned for %s more", addr, wait.Round(time.Second))
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, msgBanned)
		return
	}
	var body struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err != nil || body.Username == nil || body.Password == nil {
		fields := map[string]string{}
		if body.Username == nil {
			fields["username"] = "Missing data for required field."
		}
		if body.Password == nil {
			fields["password"] = "Missing data for required field."
		}
		if err != nil {
			fields = map[string]string{"_schema": "Invalid input type."}
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error_code": http.StatusUnprocessableEntity, "errors": fields})
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(*body.Username), []byte(a.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(*body.Password), []byte(a.cfg.Password)) == 1
	if !userOK || !passOK {
		a.Stats.LoginFailed()
		banned := a.recordFailure(addr)
		a.Logf("login refused: wrong credentials from %s (banned: %v)", addr, banned)
		writeError(w, http.StatusUnauthorized, msgBadCredentials)
		return
	}
	now := a.Now()
	sessionID := devicesim.RandomUUID()
	exp := now.Add(a.cfg.TokenLifetime)
	token := a.mintJWT(*body.Username, sessionID, now, exp)
	if _, err := a.Sessions.Open(devicesim.Session{ID: sessionID, Token: token, User: *body.Username, Client: addr}); err != nil {
		a.Stats.LoginFailed()
		writeError(w, http.StatusServiceUnavailable, "Too many sessions")
		return
	}
	a.mu.Lock()
	a.sessionExp[sessionID] = exp
	a.mu.Unlock()
	a.Logf("login ok (%d open)", a.Sessions.Len())
	writeJSON(w, http.StatusCreated, map[string]string{"token": token, "id": a.userID})
}

// banRemaining is how long addr stays banned (0: not banned).
func (a *Apstra) banRemaining(addr string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.logins[addr]
	if rec == nil {
		return 0
	}
	return max(rec.bannedUntil.Sub(a.Now()), 0)
}

// recordFailure counts a refused login from addr and bans it when the refusals
// within the window reach the limit; it reports whether addr is now banned.
func (a *Apstra) recordFailure(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	rec := a.logins[addr]
	if rec == nil {
		rec = &loginRecord{}
		a.logins[addr] = rec
	}
	kept := rec.failures[:0]
	for _, t := range rec.failures {
		if now.Sub(t) < a.cfg.LoginWindow {
			kept = append(kept, t)
		}
	}
	rec.failures = append(kept, now)
	if len(rec.failures) >= a.cfg.LoginMaxFailures {
		rec.bannedUntil = now.Add(a.cfg.BanDuration)
		rec.failures = nil
		return true
	}
	return false
}

// jwtHeader is the base64url of {"alg":"HS256","typ":"JWT"}.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// mintJWT signs a token with the claims Apstra's carry. The payload is padded with
// spaces so that its base64url form is also valid standard base64 (no '-', '_' or
// missing padding): one public client decodes it with the standard alphabet.
func (a *Apstra) mintJWT(user, session string, created, exp time.Time) string {
	claims, _ := json.Marshal(map[string]any{
		"username":     user,
		"created_at":   created.UTC().Format(timeFormat),
		"user_session": session,
		"exp":          exp.Unix(),
	})
	payload := claims
	for pad := 0; pad < 64; pad++ {
		payload = append(append([]byte{'{'}, []byte(strings.Repeat(" ", pad))...), claims[1:]...)
		enc := base64.RawURLEncoding.EncodeToString(payload)
		if len(payload)%3 == 0 && !strings.ContainsAny(enc, "-_") {
			break
		}
	}
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, a.jwtKey)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// requireSession authenticates a call by its AuthToken header (any case). On failure
// it answers 401 and returns false.
func (a *Apstra) requireSession(w http.ResponseWriter, r *http.Request) (devicesim.Session, bool) {
	a.expireTokens()
	token := r.Header.Get("AuthToken")
	if token == "" {
		writeError(w, http.StatusUnauthorized, msgNoToken)
		return devicesim.Session{}, false
	}
	s, ok := a.Sessions.GetByToken(token)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgBadToken)
		return devicesim.Session{}, false
	}
	if _, ok := a.Sessions.Touch(s.ID); !ok {
		writeError(w, http.StatusUnauthorized, msgBadToken)
		return devicesim.Session{}, false
	}
	return s, true
}

// expireTokens drops the sessions whose token is past its exp claim.
func (a *Apstra) expireTokens() {
	now := a.Now()
	a.mu.Lock()
	var dead []string
	for id, exp := range a.sessionExp {
		if !now.Before(exp) {
			dead = append(dead, id)
			delete(a.sessionExp, id)
		}
	}
	a.mu.Unlock()
	for _, id := range dead {
		if a.Sessions.Expire(id) {
			a.Logf("token expired")
		}
	}
}

// handleLogout serves POST /api/aaa/logout and /api/user/logout.
func (a *Apstra) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	s, ok := a.requireSession(w, r)
	if !ok {
		return
	}
	a.Sessions.LogOut(s.ID)
	a.mu.Lock()
	delete(a.sessionExp, s.ID)
	a.mu.Unlock()
	a.Logf("logout (%d open)", a.Sessions.Len())
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleUser serves GET /api/user: the logged-in user (aos-pyez checks a resumed
// session with it).
func (a *Apstra) handleUser(w http.ResponseWriter, r *http.Request) {
	s, ok := a.requireSession(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": a.userID, "username": s.User, "first_name": "", "last_name": "", "email": "",
		"roles": []string{"administrator"}, "preferences": map[string]any{},
	})
}
