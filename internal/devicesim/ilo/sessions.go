package ilo

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// authenticate returns the session a token names and marks it used; nil when the
// token is empty, unknown or expired.
func (d *ILO) authenticate(token string) *devicesim.Session {
	s, ok := d.Sessions.GetByToken(token)
	if ok {
		s, ok = d.Sessions.Touch(s.ID)
	}
	if !ok {
		return nil
	}
	return &s
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
func (d *ILO) requireSession(w http.ResponseWriter, r *http.Request, cookie bool) *devicesim.Session {
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
	now := d.Now()
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
	d.mu.Unlock()
	s, err := d.Sessions.Open(devicesim.Session{
		ID: user + devicesim.RandomHex(8), Token: devicesim.RandomHex(16), User: user, Client: devicesim.ClientHost(r),
	})
	if err != nil {
		d.Stats.LoginFailed()
		writeExtendedInfo(w, cfg.SessionLimitStatus, msg(MsgSessionLimitExceeded))
		return
	}

	loc := sessionPath(s.ID)
	if !cfg.RelativeLocation {
		loc = "https://" + requestHost(r) + loc
	}
	w.Header().Set("X-Auth-Token", s.Token)
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusCreated, d.sessionBody(s, true))
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

func (d *ILO) sessionBody(s devicesim.Session, mine bool) map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#Session.Session",
		"@odata.id":      d.odata(sessionPath(s.ID)),
		"@odata.type":    d.odataType("Session"),
		"Id":             s.ID,
		"Name":           "User Session",
		"Description":    "Manager User Session",
		"UserName":       s.User,
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.type": "#HpeiLOSession.v2_1_0.HpeiLOSession",
			"AccessTime":  s.LastUsed.UTC().Format(time.RFC3339),
			"LoginTime":   s.Created.UTC().Format(time.RFC3339),
			"MySession":   mine,
			"UserAccount": s.User,
			"UserIP":      s.Client,
			"UserTag":     "REST",
			"UserType":    "Local",
		}},
	}
}

// sessionsBody lists every open session (a real iLO lists other clients' sessions
// too; MySession in each member tells them apart).
func (d *ILO) sessionsBody() map[string]any {
	open := d.Sessions.List()
	members := make([]map[string]string, 0, len(open))
	for _, s := range open {
		members = append(members, d.link(sessionPath(s.ID)))
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
		writeResource(w, d.sessionsBody())
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
	var target devicesim.Session
	found := false
	for _, s := range d.Sessions.List() {
		if strings.EqualFold(s.ID, id) {
			target, found = s, true
			break
		}
	}
	if !found {
		writeNotFound(w, sessionPath(id))
		return
	}
	if r.Method == http.MethodGet {
		writeResource(w, d.sessionBody(target, target.ID == me.ID))
		return
	}
	d.Sessions.LogOut(target.ID)
	writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
}
