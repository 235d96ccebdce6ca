package apstra

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// DefaultPort is Apstra's HTTPS port.
const DefaultPort = 443

// Login and logout paths: /api/aaa/... is documented; servers that answer 404 there
// (older releases) have only /api/user/..., which Juniper's own SDK still uses.
const (
	loginPathAAA   = "/api/aaa/login"
	loginPathUser  = "/api/user/login"
	logoutPathAAA  = "/api/aaa/logout"
	logoutPathUser = "/api/user/logout"
)

const (
	maxJSONBody  = 64 << 20 // small documents (lists, deploy state, revisions)
	maxErrorBody = 64 << 10 // error bodies are read this far for the message
	drainLimit   = 64 << 10 // read this much of an unread body so the connection is reused
)

// Errors a caller tells apart with errors.Is.
var (
	// ErrBadCredentials: the server refused the username or password (401 at login).
	// The client never tries again with the same credentials in this process:
	// Apstra bans an address after five refused logins.
	ErrBadCredentials = errors.New("apstra refused the username or password")
	// ErrThrottled: the server refuses logins from this address for now (429).
	ErrThrottled = errors.New("apstra refuses logins from this address for now")
	// ErrNotFound: the blueprint (or path) does not exist (404).
	ErrNotFound = errors.New("not found on the apstra server")
	// ErrNotManaged: config-rendering refused a node that is not a managed system
	// (422): record it as skipped.
	ErrNotManaged = errors.New("the node is not a managed system")
	// ErrNotDeployed: the node exists only in staging, so it has no deployed
	// configuration (404): record it as skipped.
	ErrNotDeployed = errors.New("the node is not deployed")
)

// Config says how to reach and authenticate to one Apstra server.
type Config struct {
	// Host is the server's DNS name or IP address, without scheme, port or path.
	Host string
	// Port is the HTTPS port; 0 means 443.
	Port int
	// Username and Password are an Apstra account's credentials.
	Username string
	Password string
	// Secrets is the operation's secret set: the client adds its password and
	// every token it is issued (and the token's parts and claims), and scrubs all
	// device text with it. nil: the client keeps a set of its own.
	Secrets *client.Secrets
}

// Client talks to one Apstra server. Open its Session once per operation (client.With
// does that and always logs out); every API call runs inside Session.Call, so an
// expired token is replaced once. Safe for concurrent use: calls share the session.
type Client struct {
	hc       *client.Client
	cfg      Config
	hostPort string
	device   string
	sess     *client.Session
	secrets  *client.Secrets
	gate     *loginGate

	mu          sync.Mutex
	token       string
	expires     time.Time
	logoutPath  string
	legacyLogin bool              // /api/aaa/login answered 404
	labels      map[string]string // blueprint id → label, for errors
}

// New validates cfg and returns a client that sends all traffic through hc. It does
// not contact the server.
func New(hc *client.Client, cfg Config) (*Client, error) {
	if hc == nil {
		return nil, errors.New("apstra: no HTTP client")
	}
	addr, err := client.Target{Kind: "apstra", Host: cfg.Host, Port: cfg.Port, DefaultPort: DefaultPort,
		Username: cfg.Username, Password: cfg.Password}.Check()
	if err != nil {
		return nil, err
	}
	c := &Client{
		hc: hc, cfg: cfg, hostPort: addr.HostPort, device: "apstra " + addr.Name, secrets: cfg.Secrets,
		gate: gateFor(addr.HostPort, cfg.Username, cfg.Password), labels: map[string]string{},
	}
	if c.secrets == nil {
		c.secrets = client.NewSecrets()
	}
	c.secrets.Add(cfg.Password)
	c.sess = client.NewSession(c.device, c.login, c.logout)
	return c, nil
}

// Session returns the client's session (see client.With).
func (c *Client) Session() *client.Session { return c.sess }

// Device is how errors and log lines name the server ("apstra <host>[:port]").
func (c *Client) Device() string { return c.device }

// Secrets is the set the client scrubs device text with.
func (c *Client) Secrets() *client.Secrets { return c.secrets }

// BaseURL is the server's API base ("https://host:port"), for direct API access
// with the token.
func (c *Client) BaseURL() string { return "https://" + c.hostPort }

// Token is the session's API token, for direct API access: send it in the
// AuthToken header. It is a secret: never log it or put it in state.
type Token struct {
	Value string
	// Expires is the token's exp claim; zero when the token carries none.
	Expires time.Time
}

// Token returns the open session's token; false when no session is open.
func (c *Client) Token() (Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Token{Value: c.token, Expires: c.expires}, c.token != ""
}

// log writes a debug line; string fields are scrubbed.
func (c *Client) log(ctx context.Context, msg string, fields map[string]any) {
	f := map[string]any{"device": c.device}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			v = c.secrets.Scrub(s)
		}
		f[k] = v
	}
	tflog.SubsystemDebug(ctx, client.Subsystem, "apstra: "+msg, f)
}

// fail builds the error of a step; msg is device text (or built from it) and is
// scrubbed of every secret the client knows.
func (c *Client) fail(step string, status int, msg string, err error) *client.DeviceError {
	return &client.DeviceError{Device: c.device, Step: step, HTTPStatus: status, Message: c.secrets.Scrub(msg), Err: err}
}

// newRequest builds a request to path p (with query q) whose context carries the
// client's secrets, so the HTTP layer scrubs transport errors with them.
func (c *Client) newRequest(ctx context.Context, method, p string, q url.Values, body []byte, token string) (*http.Request, error) {
	u := url.URL{Scheme: "https", Host: c.hostPort, Path: p}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(client.WithSecrets(ctx, c.secrets), method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("AuthToken", token)
	}
	return req, nil
}

// closeBody drains a little of an unread body (so the connection is reused) and closes it.
func closeBody(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
}

// loginGate serialises the logins of this process to one server with one set of
// credentials and remembers a refusal: after the server refused a password once,
// no client of this process sends it again (five refusals ban the address).
type loginGate struct {
	turn    chan struct{} // holds one token: whose turn it is to log in
	refused bool          // guarded by holding the turn
}

var (
	gates    sync.Map // [32]byte → *loginGate
	gateSalt = func() []byte { b := make([]byte, 32); _, _ = rand.Read(b); return b }()
)

// gateFor returns the gate of server hostPort and the credentials. The key is a
// salted hash: the password is not kept in the map.
func gateFor(hostPort, user, password string) *loginGate {
	h := sha256.New()
	for _, s := range [][]byte{gateSalt, []byte(strings.ToLower(hostPort)), []byte(user), []byte(password)} {
		var n [8]byte
		for i := range n {
			n[i] = byte(len(s) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(s)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	fresh := &loginGate{turn: make(chan struct{}, 1)}
	fresh.turn <- struct{}{}
	g, _ := gates.LoadOrStore(key, fresh)
	if gate, ok := g.(*loginGate); ok {
		return gate
	}
	return fresh // gates holds nothing but *loginGate
}

// login is the Session's login: POST the credentials to /api/aaa/login, or to
// /api/user/login where the first answers 404. A refused password is never sent
// again; a 429 is retried by the HTTP layer when its Retry-After is short.
func (c *Client) login(ctx context.Context) error {
	const step = "log in"
	select {
	case <-c.gate.turn:
	case <-ctx.Done():
		return c.fail(step, 0, "waiting for another login to this server with the same credentials", ctx.Err())
	}
	defer func() { c.gate.turn <- struct{}{} }()
	if c.gate.refused {
		e := c.fail(step, 0, "not attempted: the server already refused this username and password during this run", ErrBadCredentials)
		e.Hint = hintBadCredentials
		return e
	}
	body, err := json.Marshal(map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	c.mu.Lock()
	legacy := c.legacyLogin
	c.mu.Unlock()
	paths := []string{loginPathAAA, loginPathUser}
	if legacy {
		paths = paths[1:]
	}
	for i, p := range paths {
		status, answer, header, err := c.post(client.Repeatable(ctx), step, p, body, "")
		if err != nil {
			return err
		}
		if status == http.StatusNotFound && i+1 < len(paths) {
			c.log(ctx, "login path answered 404; trying the older one", map[string]any{"path": p, "next": paths[i+1]})
			c.mu.Lock()
			c.legacyLogin = true
			c.mu.Unlock()
			continue
		}
		return c.loginAnswer(ctx, p, status, answer, header)
	}
	return nil // not reached: the last path always answers
}

const hintBadCredentials = "check the apstra username and password of the provider (or APSTRA_USER / APSTRA_PASS). " +
	"This run sends no further login with them: Apstra bans an address for 3 minutes after 5 refused logins within 60 s"

// loginAnswer reads a login answer: the session on success, else the error.
func (c *Client) loginAnswer(ctx context.Context, p string, status int, body []byte, header http.Header) error {
	const step = "log in"
	if status >= 200 && status < 300 {
		var doc struct {
			Token string `json:"token"`
		}
		err := json.Unmarshal(body, &doc)
		c.secrets.Add(doc.Token) // a secret from the moment it exists
		if err != nil || doc.Token == "" {
			return c.fail(step, status, c.describeBody(status, body, err, "no token in the login answer"), nil)
		}
		claims, cerr := parseJWT(doc.Token)
		c.secrets.Add(claims.secrets...)
		if cerr != nil {
			c.log(ctx, "the token is not a JWT whose expiry can be read", map[string]any{"error": cerr.Error()})
		}
		logout := logoutPathAAA
		if p == loginPathUser {
			logout = logoutPathUser
		}
		c.mu.Lock()
		c.token, c.expires, c.logoutPath = doc.Token, claims.expires, logout
		c.mu.Unlock()
		c.log(ctx, "session opened", map[string]any{"path": p, "expires": claims.expires.Format(time.RFC3339)})
		return nil
	}
	msg := c.describeBody(status, body, nil, "")
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		c.gate.refused = true
		e := c.fail(step, status, msg, ErrBadCredentials)
		e.Hint = hintBadCredentials
		return e
	case http.StatusTooManyRequests:
		e := c.fail(step, status, msg, ErrThrottled)
		wait := "a few minutes"
		if d, ok := client.RetryAfter(&http.Response{StatusCode: status, Header: header}); ok {
			wait = d.Round(time.Second).String()
		}
		e.Hint = "the server refuses logins from this address for now (Apstra bans an address for 3 minutes after 5 refused logins within 60 s): " +
			"try again in " + wait + ", check that nothing else logs in from here with a wrong password, or ask an administrator to remove the address " +
			"from Platform > Security > Banned List"
		return e
	}
	return c.fail(step, status, msg, nil)
}

// post sends a POST (login, logout) and reads its bounded answer.
func (c *Client) post(ctx context.Context, step, p string, body []byte, token string) (int, []byte, http.Header, error) {
	req, err := c.newRequest(ctx, http.MethodPost, p, nil, body, token)
	if err != nil {
		return 0, nil, nil, c.fail(step, 0, "", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, c.fail(step, 0, "", err)
	}
	defer closeBody(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return resp.StatusCode, nil, nil, c.fail(step, resp.StatusCode, "reading the answer", err)
	}
	return resp.StatusCode, data, resp.Header, nil
}

// logout is the Session's logout. A 401 means the server already ended the session
// (it expired): that is what a logout wants.
func (c *Client) logout(ctx context.Context) error {
	const step = "log out"
	c.mu.Lock()
	token, p := c.token, c.logoutPath
	c.token, c.expires, c.logoutPath = "", time.Time{}, ""
	c.mu.Unlock()
	if token == "" {
		return nil
	}
	for {
		status, body, _, err := c.post(client.Repeatable(ctx), step, p, nil, token)
		if err != nil {
			return err
		}
		switch {
		case status >= 200 && status < 300:
			c.log(ctx, "session closed", nil)
			return nil
		case status == http.StatusUnauthorized:
			c.log(ctx, "the session had already ended (401 at logout)", nil)
			return nil
		case status == http.StatusNotFound && p == logoutPathAAA:
			p = logoutPathUser
			continue
		}
		return c.fail(step, status, c.describeBody(status, body, nil, ""), nil)
	}
}

// get sends an authenticated GET of p inside Session.Call and returns the response
// when it is 200; the caller closes its body. A 401 wraps client.ErrSessionExpired,
// so the session logs in once more and the GET (safe to repeat) is sent again.
func (c *Client) get(ctx context.Context, step, p string, q url.Values) (*http.Response, error) {
	var out *http.Response
	err := c.sess.Call(ctx, func(ctx context.Context) error {
		c.mu.Lock()
		token := c.token
		c.mu.Unlock()
		if token == "" {
			return c.fail(step, 0, "no apstra session is open", client.ErrSessionExpired)
		}
		req, err := c.newRequest(ctx, http.MethodGet, p, q, nil, token)
		if err != nil {
			return c.fail(step, 0, "", err)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return c.fail(step, 0, "", err)
		}
		if resp.StatusCode == http.StatusOK {
			out = resp
			return nil
		}
		defer closeBody(resp)
		return c.responseError(step, resp)
	})
	return out, err
}

// getJSON GETs p and decodes its bounded 200 answer into v.
func (c *Client) getJSON(ctx context.Context, step, p string, v any) ([]byte, error) {
	resp, err := c.get(ctx, step, p, nil)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return nil, c.fail(step, resp.StatusCode, "reading the answer", err)
	}
	if len(data) > maxJSONBody {
		return nil, c.fail(step, resp.StatusCode, fmt.Sprintf("the answer is larger than %d MiB", maxJSONBody>>20), nil)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, c.fail(step, resp.StatusCode, c.describeBody(resp.StatusCode, data, err, ""), nil)
	}
	return data, nil
}

// responseError reads an unsuccessful answer into a DeviceError.
func (c *Client) responseError(step string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	status := resp.StatusCode
	e := c.fail(step, status, c.describeBody(status, body, nil, ""), nil)
	switch status {
	case http.StatusUnauthorized:
		e.Err = client.ErrSessionExpired
		e.Hint = "the server says the API token is no longer valid, also right after a new login: check that nothing ends API sessions " +
			"(an administrator, a restart of the server)"
	case http.StatusForbidden:
		e.Hint = "the apstra user may not read this: give the user a role that can read blueprints, the design catalog and resource pools"
	case http.StatusNotFound:
		e.Err = ErrNotFound
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.Hint = "the server is busy or throttling requests (it was asked again with backoff): try again later"
		if d, ok := client.RetryAfter(resp); ok {
			e.Hint = fmt.Sprintf("the server is busy or throttling requests and asks to wait %s: try again later", d.Round(time.Second))
		}
	}
	return e
}
