package aruba

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

const (
	testUser = "apiadmin"
	testPass = "Pa55-word!&x"
)

// start serves a conductor with cfg (test credentials unless set).
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = testUser
	}
	if cfg.Password == "" {
		cfg.Password = testPass
	}
	s, err := Start(devicesim.SharedCA(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client is a minimal AOS8 API client for the tests.
type client struct {
	t     *testing.T
	s     *Server
	hc    *http.Client
	uid   string
	token string
}

func newClient(t *testing.T, s *Server) *client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: devicesim.SharedCA(t).ClientTLSConfig()}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, s: s, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

type response struct {
	code   int
	header http.Header
	raw    []byte
}

// json decodes the body into a generic map (numbers as json.Number).
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.raw)
	}
	return m
}

// global returns _global_result.status (as its JSON text) and status_str.
func (r response) global(t *testing.T) (string, string) {
	t.Helper()
	g, ok := r.json(t)["_global_result"].(map[string]any)
	if !ok {
		t.Fatalf("no _global_result in %s", r.raw)
	}
	st, _ := json.Marshal(g["status"])
	s, _ := g["status_str"].(string)
	return string(st), s
}

func (c *client) send(req *http.Request) response {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, raw: raw}
}

func (c *client) loginPOST(user, pass string) response {
	c.t.Helper()
	form := url.Values{"username": {user}, "password": {pass}}
	req, _ := http.NewRequest(http.MethodPost, c.s.URL+"/v1/api/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.remember(c.send(req))
}

// loginGET logs testUser in with pass by GET, as some clients do.
func (c *client) loginGET(pass string) response {
	c.t.Helper()
	q := url.Values{"username": {testUser}, "password": {pass}}
	req, _ := http.NewRequest(http.MethodGet, c.s.URL+"/v1/api/login?"+q.Encode(), nil)
	return c.remember(c.send(req))
}

func (c *client) remember(r response) response {
	c.t.Helper()
	if r.code == http.StatusOK {
		if g, ok := r.json(c.t)["_global_result"].(map[string]any); ok {
			if uid, _ := g["UIDARUBA"].(string); uid != "" {
				c.uid = uid
				c.token, _ = g["X-CSRF-Token"].(string)
			}
		}
	}
	return r
}

// mustLogin logs in by POST and fails the test if that does not work.
func (c *client) mustLogin() {
	c.t.Helper()
	r := c.loginPOST(testUser, testPass)
	if st, msg := r.global(c.t); r.code != 200 || msg != msgLoginOK {
		c.t.Fatalf("login: HTTP %d status %s %q", r.code, st, msg)
	}
}

// auth says which of the three session carriers a request uses.
type auth struct{ query, cookie, header bool }

var allAuth = auth{true, true, true}

func (c *client) request(method, path string, query url.Values, body []byte, a auth) response {
	c.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	if a.query {
		query.Set("UIDARUBA", c.uid)
	}
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	u := c.s.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(method, u, rdr)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.cookie {
		req.AddCookie(&http.Cookie{Name: "SESSION", Value: c.uid})
	}
	if a.header {
		req.Header.Set("X-CSRF-Token", c.token)
	}
	return c.send(req)
}

// object posts a configuration action with all three session carriers.
func (c *client) object(name string, body any) response {
	c.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.request(http.MethodPost, "/v1/configuration/object/"+name, url.Values{"config_path": {"/md"}}, raw, allAuth)
}

func (c *client) show(command string) response {
	c.t.Helper()
	return c.request(http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {command}}, nil, allAuth)
}

func (c *client) logout(method string) response {
	c.t.Helper()
	return c.request(method, "/v1/api/logout", nil, nil, allAuth)
}

// mustSucceed checks a configuration answer is the success envelope.
func mustSucceed(t *testing.T, r response) (status, msg string) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", r.code, r.raw)
	}
	st, msg := r.global(t)
	if st != `"0"` && st != `0` {
		t.Fatalf("status %s (%s): %s", st, msg, r.raw)
	}
	return st, msg
}

// mustFail checks a configuration answer reports a failure and returns its text.
func mustFail(t *testing.T, r response) string {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", r.code, r.raw)
	}
	m := r.json(t)
	if e, ok := m["Error"].(string); ok {
		return e
	}
	st, msg := r.global(t)
	if st == `"0"` || st == `0` {
		t.Fatalf("expected a failure, got status %s: %s", st, r.raw)
	}
	return msg
}
