package ilo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

func randHex(nBytes int) string {
	b := make([]byte, nBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// purgeIdleLocked drops sessions idle for longer than the idle timeout.
func (d *ILO) purgeIdleLocked(now time.Time) {
	for tok, s := range d.sessions {
		if now.Sub(s.lastUsed) > d.cfg.IdleTimeout {
			delete(d.sessions, tok)
			d.Stats.SessionExpired()
		}
	}
}

func (d *ILO) dropAllSessionsLocked() {
	for tok := range d.sessions {
		delete(d.sessions, tok)
		d.Stats.SessionExpired()
	}
}

// authenticate returns a copy of the session a token names and marks it used; nil
// when the token is empty, unknown or expired.
func (d *ILO) authenticate(token string) *session {
	if token == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sessions[token]
	if s == nil {
		return nil
	}
	now := time.Now()
	if now.Sub(s.lastUsed) > d.cfg.IdleTimeout {
		delete(d.sessions, token)
		d.Stats.SessionExpired()
		return nil
	}
	s.lastUsed = now
	c := *s
	return &c
}

// redfishToken is the Redfish way to authenticate: the X-Auth-Token header.
func redfishToken(r *http.Request) string { return r.Header.Get("X-Auth-Token") }

// cookieToken is the session key a browser-style client sends (iLO web UI, HPE's
// restore examples): Cookie: sessionKey=<token>.
func cookieToken(r *http.Request) string {
	if c, err := r.Cookie("sessionKey"); err == nil {
		return c.Value
	}
	return ""
}

// requireSession answers 401 NoValidSession and returns nil unless the request
// carries a valid X-Auth-Token (or, with cookie, a valid sessionKey cookie).
func (d *ILO) requireSession(w http.ResponseWriter, r *http.Request, cookie bool) *session {
	if s := d.authenticate(redfishToken(r)); s != nil {
		return s
	}
	if cookie {
		if s := d.authenticate(cookieToken(r)); s != nil {
			return s
		}
	}
	writeNoValidSession(w)
	return nil
}

func sessionPath(id string) string {
	return pathSessions + url.PathEscape(id) + "/"
}

func (d *ILO) handleLogin(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeExtendedInfo(w, http.StatusBadRequest, msg(MsgMalformedJSON))
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		writeExtendedInfo(w, http.StatusBadRequest, msg(MsgMalformedJSON))
		return
	}
	var creds [2]string
	for i, name := range []string{"UserName", "Password"} {
		raw, ok := fields[name]
		if !ok {
			writeExtendedInfo(w, http.StatusBadRequest, msg(MsgPropertyMissing, name))
			return
		}
		if err := json.Unmarshal(raw, &creds[i]); err != nil || strings.TrimSpace(string(raw)) == "null" {
			// MessageArgs carry the property name only: never echo a password.
			writeExtendedInfo(w, http.StatusBadRequest, msg(MsgPropertyValueTypeError, "", name))
			return
		}
	}
	user, pass := creds[0], creds[1]

	d.mu.Lock()
	now := time.Now()
	cfg := d.cfg
	if now.Before(d.delayedUntil) {
		d.mu.Unlock()
		d.Stats.LoginFailed()
		writeExtendedInfo(w, http.StatusUnauthorized, msg(MsgLoginAttemptDelayed))
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(cfg.Password)) == 1
	if !userOK || !passOK {
		d.failures++
		delayed := d.failures >= cfg.LoginFailuresBeforeDelay
		if delayed {
			d.delayedUntil = now.Add(cfg.LoginDelay)
		}
		d.mu.Unlock()
		d.Stats.LoginFailed()
		if delayed {
			writeExtendedInfo(w, http.StatusUnauthorized, msg(MsgLoginAttemptDelayed))
		} else {
			writeExtendedInfo(w, http.StatusUnauthorized, msg(MsgUnauthorizedLoginAttempt))
		}
		return
	}
	d.failures = 0
	d.purgeIdleLocked(now)
	if len(d.sessions) >= cfg.MaxSessions {
		d.mu.Unlock()
		d.Stats.LoginFailed()
		writeExtendedInfo(w, cfg.SessionLimitStatus, msg(MsgSessionLimitExceeded))
		return
	}
	s := &session{id: user + randHex(8), token: randHex(16), user: user, ip: clientIP(r), created: now, lastUsed: now}
	d.sessions[s.token] = s
	d.mu.Unlock()
	d.Stats.LoginSucceeded()

	loc := sessionPath(s.id)
	if !cfg.RelativeLocation {
		loc = "https://" + requestHost(r) + loc
	}
	w.Header().Set("X-Auth-Token", s.token)
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusCreated, d.sessionBody(s, true))
}

// clientIP is the address a session was opened from (Oem.Hpe.UserIP).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// requestHost is the host a client addressed, without a port: iLO names itself in
// a session Location without one (HPE's own client re-inserts the port it used).
func requestHost(r *http.Request) string {
	host := r.Host
	if host == "" {
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			host = addr.String()
		}
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return "localhost"
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

func (d *ILO) sessionBody(s *session, mine bool) map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#Session.Session",
		"@odata.id":      d.odata(sessionPath(s.id)),
		"@odata.type":    d.odataType("Session"),
		"Id":             s.id,
		"Name":           "User Session",
		"Description":    "Manager User Session",
		"UserName":       s.user,
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.type": "#HpeiLOSession.v2_1_0.HpeiLOSession",
			"AccessTime":  s.lastUsed.UTC().Format(time.RFC3339),
			"LoginTime":   s.created.UTC().Format(time.RFC3339),
			"MySession":   mine,
			"UserAccount": s.user,
			"UserIP":      s.ip,
			"UserTag":     "REST",
			"UserType":    "Local",
		}},
	}
}

// sessionsBodyLocked lists every open session (a real iLO lists other clients'
// sessions too; MySession in each member tells them apart).
func (d *ILO) sessionsBodyLocked() map[string]any {
	ids := make([]string, 0, len(d.sessions))
	for _, s := range d.sessions {
		ids = append(ids, s.id)
	}
	sort.Strings(ids)
	members := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		members = append(members, d.link(sessionPath(id)))
	}
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#SessionCollection.SessionCollection",
		"@odata.id":           d.odata(pathSessions),
		"@odata.type":         collectionType("Session"),
		"Name":                "Sessions",
		"Description":         "Manager User Sessions",
		"Members":             members,
		"Members@odata.count": len(members),
	}
}

// handleSessions serves /redfish/v1/SessionService/Sessions (POST: login, GET: list).
func (d *ILO) handleSessions(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		d.Stats.Call(EndpointLogin)
		d.handleLogin(w, r)
	case http.MethodGet:
		d.Stats.Call("GET /redfish/v1/SessionService/Sessions")
		if d.requireSession(w, r, false) == nil {
			return
		}
		d.mu.Lock()
		body := d.sessionsBodyLocked()
		d.mu.Unlock()
		writeResource(w, body)
	default:
		d.Stats.Call(r.Method + " /redfish/v1/SessionService/Sessions")
		writeMethodNotAllowed(w, "GET, POST")
	}
}

// handleSession serves one session: GET, DELETE (logout).
func (d *ILO) handleSession(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
	default:
		d.Stats.Call(r.Method + " /redfish/v1/SessionService/Sessions/{id}")
		writeMethodNotAllowed(w, "GET, DELETE")
		return
	}
	if r.Method == http.MethodDelete {
		d.Stats.Call(EndpointLogout)
	} else {
		d.Stats.Call("GET /redfish/v1/SessionService/Sessions/{id}")
	}
	me := d.requireSession(w, r, false)
	if me == nil {
		return
	}
	d.mu.Lock()
	var target *session
	for _, s := range d.sessions {
		if strings.EqualFold(s.id, id) {
			target = s
			break
		}
	}
	if target == nil {
		d.mu.Unlock()
		writeNotFound(w, sessionPath(id))
		return
	}
	if r.Method == http.MethodGet {
		c := *target
		d.mu.Unlock()
		writeResource(w, d.sessionBody(&c, c.token == me.token))
		return
	}
	delete(d.sessions, target.token)
	d.mu.Unlock()
	d.Stats.LoggedOut()
	writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
}
