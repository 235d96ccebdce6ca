package aruba

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestLoginPOSTAndGET(t *testing.T) {
	s := start(t, Config{Name: "mc-01"})
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		c := newClient(t, s)
		var r response
		if method == http.MethodPost {
			r = c.loginPOST(testUser, testPass)
		} else {
			r = c.loginGET(testPass)
		}
		if r.code != http.StatusOK {
			t.Fatalf("%s login: HTTP %d %s", method, r.code, r.raw)
		}
		if !uuidRE.MatchString(c.uid) || len(c.token) != 32 {
			t.Fatalf("%s login: uid %q token %q", method, c.uid, c.token)
		}
		want := fmt.Sprintf(`{"_global_result":{"status":"0","status_str":"You've logged in successfully.","UIDARUBA":%q,"X-CSRF-Token":%q}}`, c.uid, c.token)
		if string(r.raw) != want {
			t.Fatalf("%s login body\n got %s\nwant %s", method, r.raw, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		cookie := r.header.Get("Set-Cookie")
		if !strings.HasPrefix(cookie, "SESSION="+c.uid+";") || !strings.Contains(cookie, "Secure") {
			t.Fatalf("Set-Cookie %q", cookie)
		}
		// The new session works.
		mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "x.cfg"}))
	}
	if issued := s.Conductor.IssuedTokens(); len(issued) != 4 || !uuidRE.MatchString(issued[0]) || !uuidRE.MatchString(issued[2]) || len(issued[1]) != 32 {
		t.Fatalf("IssuedTokens %v", issued)
	}
	st := s.Conductor.Stats.Snapshot()
	if st.Logins != 2 || st.FailedLogins != 0 || st.OpenSessions != 2 || s.Conductor.OpenSessions() != 2 {
		t.Fatalf("stats %+v, open %d", st, s.Conductor.OpenSessions())
	}
	if st.Calls["POST /v1/api/login"] != 1 || st.Calls["GET /v1/api/login"] != 1 {
		t.Fatalf("calls %v", st.Calls)
	}
}

func TestLoginFailure(t *testing.T) {
	for _, http401 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http401=%v", http401), func(t *testing.T) {
			s := start(t, Config{FailedLoginHTTP401: http401})
			c := newClient(t, s)
			wantCode := http.StatusOK
			if http401 {
				wantCode = http.StatusUnauthorized
			}
			const want = `{"_global_result":{"status":"1","status_str":"Unauthorized request, authentication failed"}}`
			for _, r := range []response{
				c.loginPOST(testUser, "wrong"),
				c.loginGET("wrong"),
				c.loginPOST("admin", testPass),
				c.loginPOST("", ""),
			} {
				if r.code != wantCode || string(r.raw) != want {
					t.Fatalf("HTTP %d %s, want %d %s", r.code, r.raw, wantCode, want)
				}
				if r.header.Get("Set-Cookie") != "" {
					t.Fatal("failed login set a cookie")
				}
			}
			// Credentials as JSON instead of a form are not read (real devices take forms).
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/api/login", strings.NewReader(`{"username":"`+testUser+`","password":"`+testPass+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if r := c.send(req); r.code != wantCode {
				t.Fatalf("JSON login: HTTP %d %s", r.code, r.raw)
			}
			st := s.Conductor.Stats.Snapshot()
			if st.FailedLogins != 5 || st.Logins != 0 || st.OpenSessions != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestLoginStatusAsNumber(t *testing.T) {
	s := start(t, Config{StatusAsNumber: true})
	c := newClient(t, s)
	if r := c.loginPOST(testUser, "bad"); string(r.raw) != `{"_global_result":{"status":1,"status_str":"Unauthorized request, authentication failed"}}` {
		t.Fatalf("failure body %s", r.raw)
	}
	r := c.loginPOST(testUser, testPass)
	want := fmt.Sprintf(`{"_global_result":{"status":0,"status_str":"You've logged in successfully.","UIDARUBA":%q,"X-CSRF-Token":%q}}`, c.uid, c.token)
	if string(r.raw) != want {
		t.Fatalf("got %s\nwant %s", r.raw, want)
	}
	if r := c.logout(http.MethodGet); string(r.raw) != `{"_global_result":{"status":0,"status_str":"You've been logged out successfully.","UIDARUBA":"(null)"}}` {
		t.Fatalf("logout body %s", r.raw)
	}
}

func TestSessionLimit64(t *testing.T) {
	s := start(t, Config{})
	var clients []*client
	for i := 0; i < 64; i++ {
		c := newClient(t, s)
		c.mustLogin()
		clients = append(clients, c)
	}
	c65 := newClient(t, s)
	r := c65.loginPOST(testUser, testPass)
	st, msg := r.global(t)
	if r.code != http.StatusOK || st != `"1"` || msg != "Maximum number of sessions reached (64)" {
		t.Fatalf("65th login: HTTP %d %s", r.code, r.raw)
	}
	if strings.Contains(string(r.raw), "UIDARUBA") || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("refused login handed out a session: %s", r.raw)
	}
	snap := s.Conductor.Stats.Snapshot()
	if snap.Logins != 64 || snap.FailedLogins != 1 || snap.OpenSessions != 64 || snap.PeakOpenSessions != 64 {
		t.Fatalf("stats %+v", snap)
	}
	// Logging one out frees a slot.
	if r := clients[10].logout(http.MethodPost); r.code != http.StatusOK {
		t.Fatalf("logout: %d", r.code)
	}
	c65.mustLogin()
	if s.Conductor.OpenSessions() != 64 {
		t.Fatalf("open %d", s.Conductor.OpenSessions())
	}
}

func TestSessionLimitConfiguredAnd401(t *testing.T) {
	s := start(t, Config{MaxSessions: 2, FailedLoginHTTP401: true})
	a, b, x := newClient(t, s), newClient(t, s), newClient(t, s)
	a.mustLogin()
	b.mustLogin()
	r := x.loginGET(testPass)
	if _, msg := r.global(t); r.code != http.StatusUnauthorized || msg != "Maximum number of sessions reached (2)" {
		t.Fatalf("3rd login: HTTP %d %s", r.code, r.raw)
	}
	// Bad credentials at the limit still say authentication failed.
	if _, msg := x.loginPOST(testUser, "nope").global(t); msg != msgLoginFailed {
		t.Fatalf("bad login at the limit: %q", msg)
	}
	a.logout(http.MethodGet)
	x.mustLogin()
	if got := s.Conductor.Stats.Snapshot(); got.FailedLogins != 2 || got.Logouts != 1 || got.OpenSessions != 2 {
		t.Fatalf("stats %+v", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	clock := devicesim.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := start(t, Config{Clock: clock})
	c := newClient(t, s)
	c.mustLogin()
	other := newClient(t, s)
	other.mustLogin()

	// Activity keeps the session alive past the default 900 s.
	for i := 0; i < 3; i++ {
		clock.Advance(899 * time.Second)
		mustSucceed(t, c.object("tar_flash_clean", map[string]any{}))
	}
	// The other session was idle: gone.
	if got := s.Conductor.OpenSessions(); got != 1 {
		t.Fatalf("open sessions %d, want 1", got)
	}
	clock.Advance(900 * time.Second)
	r := c.show("show hostname")
	if st, msg := r.global(t); r.code != 200 || st != `"1"` || msg != msgInvalidToken {
		t.Fatalf("after idle timeout: HTTP %d %s", r.code, r.raw)
	}
	snap := s.Conductor.Stats.Snapshot()
	if snap.ExpiredSessions != 2 || snap.OpenSessions != 0 || snap.Logouts != 0 {
		t.Fatalf("stats %+v", snap)
	}
	// Logging out an expired session answers the documented body but counts nothing.
	if r := c.logout(http.MethodGet); r.code != 200 || !strings.Contains(string(r.raw), msgLoggedOut) {
		t.Fatalf("logout: %d %s", r.code, r.raw)
	}
	if s.Conductor.Stats.Snapshot().Logouts != 0 {
		t.Fatal("logout of an expired session counted")
	}
}

func TestIdleTimeoutRealClock(t *testing.T) {
	s := start(t, Config{IdleTimeout: 150 * time.Millisecond, ExpiryStyle: Expiry401})
	c := newClient(t, s)
	c.mustLogin()
	time.Sleep(200 * time.Millisecond)
	// Reaped without any API call: /_sim/stats and OpenSessions see it.
	r := c.request(http.MethodGet, "/_sim/stats", nil, nil, auth{})
	var snap struct {
		OpenSessions    int64 `json:"open_sessions"`
		ExpiredSessions int64 `json:"expired_sessions"`
	}
	if err := json.Unmarshal(r.raw, &snap); err != nil || snap.OpenSessions != 0 || snap.ExpiredSessions != 1 {
		t.Fatalf("/_sim/stats %s (%v)", r.raw, err)
	}
	if got := c.show("show hostname"); got.code != http.StatusUnauthorized {
		t.Fatalf("expired call: HTTP %d", got.code)
	}
}

func TestExpiryStyles(t *testing.T) {
	cases := []struct {
		style  string
		number bool
		code   int
	}{
		{"", false, 200},
		{ExpiryStatus, true, 200},
		{Expiry401, false, 401},
		{Expiry403, true, 403},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-number=%v", tc.style, tc.number), func(t *testing.T) {
			s := start(t, Config{ExpiryStyle: tc.style, StatusAsNumber: tc.number})
			c := newClient(t, s)
			one := `"1"`
			if tc.number {
				one = `1`
			}
			// No session at all.
			r := c.request(http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {"show hostname"}}, nil, auth{})
			want := `{"_global_result":{"status":` + one + `,"status_str":"You must authenticate yourself"}}`
			if r.code != tc.code || string(r.raw) != want {
				t.Fatalf("no session: HTTP %d %s, want %d %s", r.code, r.raw, tc.code, want)
			}
			// An unknown session.
			c.uid, c.token = "00000000-0000-4000-8000-000000000000", "deadbeef"
			want = `{"_global_result":{"status":` + one + `,"status_str":"Invalid authentication token(UIDARUBA) in request URL"}}`
			for _, r := range []response{c.show("show hostname"), c.object("tar_flash_clean", map[string]any{})} {
				if r.code != tc.code || string(r.raw) != want {
					t.Fatalf("unknown session: HTTP %d %s, want %d %s", r.code, r.raw, tc.code, want)
				}
			}
			// A forced expiry.
			c.mustLogin()
			s.Conductor.ExpireAllSessions()
			if r := c.show("show hostname"); r.code != tc.code || string(r.raw) != want {
				t.Fatalf("expired session: HTTP %d %s", r.code, r.raw)
			}
			if got := s.Conductor.Stats.Snapshot(); got.ExpiredSessions != 1 || got.OpenSessions != 0 {
				t.Fatalf("stats %+v", got)
			}
		})
	}
}

func TestSessionCarriers(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()
	show := func(a auth) response {
		return c.request(http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {"show hostname"}}, nil, a)
	}
	for _, a := range []auth{{query: true}, {cookie: true}, {header: true}, {query: true, header: true}, allAuth} {
		if r := show(a); r.code != 200 || !strings.Contains(string(r.raw), "Hostname is") {
			t.Fatalf("carriers %+v: HTTP %d %s", a, r.code, r.raw)
		}
	}
	// A header naming another session is refused.
	good := c.token
	c.token = strings.Repeat("0", 32)
	if _, msg := show(allAuth).global(t); msg != msgInvalidToken {
		t.Fatalf("mismatched CSRF token: %q", msg)
	}
	if _, msg := show(auth{header: true}).global(t); msg != msgInvalidToken {
		t.Fatalf("unknown CSRF token alone: %q", msg)
	}
	c.token = good
}

func TestStrictCSRF(t *testing.T) {
	s := start(t, Config{StrictCSRF: true, ExpiryStyle: Expiry401})
	c := newClient(t, s)
	c.mustLogin()
	show := func(a auth) int {
		return c.request(http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {"show hostname"}}, nil, a).code
	}
	for _, a := range []auth{{query: true}, {cookie: true}, {header: true}, {query: true, cookie: true}} {
		if code := show(a); code != http.StatusUnauthorized {
			t.Fatalf("strict CSRF, carriers %+v: HTTP %d", a, code)
		}
	}
	for _, a := range []auth{{query: true, header: true}, {cookie: true, header: true}, allAuth} {
		if code := show(a); code != http.StatusOK {
			t.Fatalf("strict CSRF, carriers %+v: HTTP %d", a, code)
		}
	}
	c.token = strings.Repeat("a", 32)
	if code := show(allAuth); code != http.StatusUnauthorized {
		t.Fatalf("strict CSRF with a wrong token: HTTP %d", code)
	}
	// Refusals do not drop the session.
	if s.Conductor.OpenSessions() != 1 {
		t.Fatal("session lost")
	}
}

func TestExpireNextCalls(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()
	s.Conductor.ExpireNextCalls(2)
	if _, msg := c.show("show hostname").global(t); msg != msgInvalidToken {
		t.Fatalf("1st call: %q", msg)
	}
	c.mustLogin()
	if _, msg := c.object("tar_flash_clean", map[string]any{}).global(t); msg != msgInvalidToken {
		t.Fatalf("2nd call: %q", msg)
	}
	c.mustLogin()
	mustSucceed(t, c.object("tar_flash_clean", map[string]any{}))
	snap := s.Conductor.Stats.Snapshot()
	if snap.Logins != 3 || snap.ExpiredSessions != 2 || snap.OpenSessions != 1 {
		t.Fatalf("stats %+v", snap)
	}
}

func TestLogout(t *testing.T) {
	s := start(t, Config{MaxSessions: 1})
	const want = `{"_global_result":{"status":"0","status_str":"You've been logged out successfully.","UIDARUBA":"(null)"}}`
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		c := newClient(t, s)
		c.mustLogin()
		if r := newClient(t, s).loginPOST(testUser, testPass); !strings.Contains(string(r.raw), "Maximum number of sessions") {
			t.Fatalf("slot not taken: %s", r.raw)
		}
		r := c.logout(method)
		if r.code != 200 || string(r.raw) != want {
			t.Fatalf("%s logout: HTTP %d %s", method, r.code, r.raw)
		}
		if _, msg := c.show("show hostname").global(t); msg != msgInvalidToken {
			t.Fatalf("call after logout: %q", msg)
		}
		if s.Conductor.OpenSessions() != 0 {
			t.Fatal("logout did not free the slot")
		}
	}
	// Logout by CSRF header alone.
	c := newClient(t, s)
	c.mustLogin()
	c.request(http.MethodGet, "/v1/api/logout", nil, nil, auth{header: true})
	if s.Conductor.OpenSessions() != 0 {
		t.Fatal("logout by header did not free the slot")
	}
	snap := s.Conductor.Stats.Snapshot()
	if snap.Logouts != 3 || snap.Logins != 3 || snap.OpenSessions != 0 || snap.Calls["GET /v1/api/logout"] != 2 || snap.Calls["POST /v1/api/logout"] != 1 {
		t.Fatalf("stats %+v", snap)
	}
}

func TestConcurrentLogins(t *testing.T) {
	s := start(t, Config{MaxSessions: 10})
	var wg sync.WaitGroup
	results := make(chan string, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, s)
			_, msg := c.loginPOST(testUser, testPass).global(t)
			results <- msg
		}()
	}
	wg.Wait()
	close(results)
	okCount := 0
	for msg := range results {
		if msg == msgLoginOK {
			okCount++
		}
	}
	if okCount != 10 || s.Conductor.OpenSessions() != 10 {
		t.Fatalf("%d logins succeeded, %d open; want 10", okCount, s.Conductor.OpenSessions())
	}
	if snap := s.Conductor.Stats.Snapshot(); snap.FailedLogins != 20 || snap.PeakOpenSessions != 10 {
		t.Fatalf("stats %+v", snap)
	}
}

func TestCredentialsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := log.New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), "", 0)
	s := start(t, Config{Logger: logger, SCPPort: closedPort(t)})
	c := newClient(t, s)
	c.loginGET("wrong-" + testPass)
	c.loginGET(testPass)
	c.mustLogin()
	c.object("copy_flash_scp", map[string]string{
		"srcfilename": "default.cfg", "scphost": "127.0.0.1", "username": "scpuser",
		"passwd": "scp-Secret-42", "destfilename": "x.cfg",
	})
	c.logout(http.MethodGet)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "login ok") || !strings.Contains(out, "copy_flash_scp") {
		t.Fatalf("expected some log lines, got:\n%s", out)
	}
	for _, secret := range []string{testPass, "scp-Secret-42", testUser, "scpuser", c.token, c.uid} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains a credential %q:\n%s", secret, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
