package apstra

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A login answers 201 with a JWT whose claims are Apstra's, whose payload also
// decodes with standard base64; the token works in any header case, and a logout on
// either path ends it.
func TestLoginJWTHeaderCaseAndLogout(t *testing.T) {
	c := start(t, Config{Username: "ops", Password: "S3cret pass", TokenLifetime: 2 * time.Hour})
	out := c.login("/api/aaa/login")
	if out["id"] == "" {
		t.Fatalf("login answer %v has no user id", out)
	}
	parts := strings.Split(c.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", c.token)
	}
	var hdr map[string]string
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &hdr) != nil || hdr["alg"] != "HS256" {
		t.Fatalf("JWT header %q: %v", parts[0], err)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[1]) // one client decodes it so
	if err != nil {
		t.Fatalf("payload %q does not decode as standard base64: %v", parts[1], err)
	}
	var claims struct {
		Username    string `json:"username"`
		CreatedAt   string `json:"created_at"`
		UserSession string `json:"user_session"`
		Exp         int64  `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Username != "ops" || claims.UserSession == "" || claims.Exp != epoch.Add(2*time.Hour).Unix() ||
		!strings.HasPrefix(claims.CreatedAt, "2025-03-14T09:26:53") {
		t.Fatalf("claims %+v", claims)
	}
	for _, name := range []string{"AuthToken", "Authtoken", "AUTHTOKEN"} {
		r, err := http.NewRequest(http.MethodGet, c.srv.URL+"/api/blueprints", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header[name] = []string{c.token} // as sent, not canonicalised
		resp, err := c.hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("header %s: HTTP %d", name, resp.StatusCode)
		}
	}
	if resp, body := c.do(http.MethodGet, "/api/blueprints", nil, map[string]string{"Authorization": "Bearer " + c.token, "AuthToken": ""}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bearer token was accepted: HTTP %d %s", resp.StatusCode, body)
	}
	resp, body := c.do(http.MethodPost, "/api/user/logout", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: HTTP %d %s", resp.StatusCode, body)
	}
	resp, body = c.do(http.MethodPost, "/api/aaa/logout", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgBadToken)
	resp, body = c.do(http.MethodGet, "/api/blueprints", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgBadToken)
	st := c.a.Stats.Snapshot()
	if st.Logins != 1 || st.Logouts != 1 || st.OpenSessions != 0 || c.a.OpenSessions() != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Calls[EndpointLoginAAA] != 1 || st.Calls[EndpointLogoutUser] != 1 || st.Calls[EndpointLogoutAAA] != 1 || st.Calls[EndpointBlueprints] != 5 {
		t.Fatalf("calls %v", st.Calls)
	}
	if got := c.a.IssuedTokens(); len(got) != 1 || got[0] != c.token {
		t.Fatalf("issued tokens %q", got)
	}
}

// Older servers have only /api/user/login and /api/user/logout.
func TestLegacyLoginPaths(t *testing.T) {
	c := start(t, Config{LegacyLogin: true})
	resp, body := c.do(http.MethodPost, "/api/aaa/login", map[string]string{"username": "admin", "password": "admin"}, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("aaa login on a legacy server: HTTP %d %s", resp.StatusCode, body)
	}
	c.login("/api/user/login")
	if resp, _ := c.do(http.MethodPost, "/api/aaa/logout", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("aaa logout on a legacy server: HTTP %d", resp.StatusCode)
	}
	if resp, _ := c.do(http.MethodPost, "/api/user/logout", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("user logout: HTTP %d", resp.StatusCode)
	}
	if st := c.a.Stats.Snapshot(); st.Logins != 1 || st.Logouts != 1 || st.FailedLogins != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A token is valid until its exp claim, read on the server's clock, however much it
// is used; then every call answers 401 and the session counts as expired.
func TestTokenExpiresOnTheClock(t *testing.T) {
	c := start(t, Config{TokenLifetime: time.Hour})
	c.login("/api/aaa/login")
	for range 3 {
		c.clock.Advance(19 * time.Minute)
		if resp, body := c.do(http.MethodGet, "/api/blueprints", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s at %s", resp.StatusCode, body, c.clock.Now())
		}
	}
	c.clock.Advance(3 * time.Minute) // 60 minutes after login
	resp, body := c.do(http.MethodGet, "/api/blueprints", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgBadToken)
	st := c.a.Stats.Snapshot()
	if st.ExpiredSessions != 1 || st.OpenSessions != 0 {
		t.Fatalf("stats %+v", st)
	}
	c.token = ""
	resp, body = c.do(http.MethodGet, "/api/blueprints", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgNoToken)

	// A test can expire the session of the next call.
	c.login("/api/aaa/login")
	c.a.ExpireNextCalls(1)
	resp, body = c.do(http.MethodGet, "/api/blueprints/x/deploy", nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgBadToken)
	if n := c.a.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions open", n)
	}
}

// Five refused logins from one address within the window ban it for the ban
// duration: every login then answers 429 with the time left in Retry-After, the
// right password included. Refusals spread over more than the window do not ban.
func TestLoginBanOnTheClock(t *testing.T) {
	c := start(t, Config{Password: "right"})
	bad := map[string]string{"username": "admin", "password": "wrong"}
	good := map[string]string{"username": "admin", "password": "right"}
	for range 4 {
		resp, body := c.do(http.MethodPost, "/api/aaa/login", bad, nil)
		wantError(t, resp, body, http.StatusUnauthorized, msgBadCredentials)
	}
	c.clock.Advance(61 * time.Second) // the first four leave the window
	resp, body := c.do(http.MethodPost, "/api/user/login", bad, nil)
	wantError(t, resp, body, http.StatusUnauthorized, msgBadCredentials)
	if c.a.Banned("127.0.0.1") {
		t.Fatal("banned after refusals spread over more than the window")
	}
	for range 4 {
		c.clock.Advance(time.Second)
		resp, body = c.do(http.MethodPost, "/api/aaa/login", bad, nil)
		wantError(t, resp, body, http.StatusUnauthorized, msgBadCredentials)
	}
	if !c.a.Banned("127.0.0.1") || len(c.a.BannedAddresses()) != 1 {
		t.Fatalf("not banned after 5 refusals in the window: %v", c.a.BannedAddresses())
	}
	c.clock.Advance(30 * time.Second)
	resp, body = c.do(http.MethodPost, "/api/aaa/login", good, nil)
	wantError(t, resp, body, http.StatusTooManyRequests, msgBanned)
	if ra := resp.Header.Get("Retry-After"); ra != "150" {
		t.Fatalf("Retry-After %q, want 150", ra)
	}
	c.clock.Advance(150 * time.Second)
	c.login("/api/aaa/login")
	st := c.a.Stats.Snapshot()
	if st.FailedLogins != 10 || st.Logins != 1 {
		t.Fatalf("stats %+v", st)
	}

	// An administrator can lift a ban.
	for range 5 {
		c.do(http.MethodPost, "/api/aaa/login", bad, nil)
	}
	if !c.a.Banned("127.0.0.1") {
		t.Fatal("not banned")
	}
	c.a.Unban("127.0.0.1")
	c.login("/api/aaa/login")
}

// Malformed login bodies answer 422 with an object of errors and count as nothing.
func TestLoginBodyErrors(t *testing.T) {
	c := start(t, Config{})
	for _, body := range []any{map[string]string{"username": "admin"}, "not an object"} {
		resp, b := c.do(http.MethodPost, "/api/aaa/login", body, nil)
		var e struct {
			ErrorCode int               `json:"error_code"`
			Errors    map[string]string `json:"errors"`
		}
		if resp.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(b, &e) != nil || e.ErrorCode != 422 || len(e.Errors) == 0 {
			t.Fatalf("HTTP %d %s", resp.StatusCode, b)
		}
	}
	if st := c.a.Stats.Snapshot(); st.FailedLogins != 0 || c.a.Banned("127.0.0.1") {
		t.Fatalf("stats %+v", st)
	}
}
