package redfish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// DefaultPort is the iLO's HTTPS port.
const DefaultPort = 443

// Well-known paths. The backup service path is discovered; DocumentedBackupRestoreServicePath
// is only the fallback for a manager resource that does not link it.
const (
	serviceRootPath                    = "/redfish/v1/"
	sessionsPath                       = "/redfish/v1/SessionService/Sessions/"
	managerPath                        = "/redfish/v1/Managers/1/"
	systemPath                         = "/redfish/v1/Systems/1/"
	DocumentedBackupRestoreServicePath = "/redfish/v1/Managers/1/BackupRestoreService/"
)

const (
	maxJSONBody  = 4 << 20  // Redfish resources are small; bound what is decoded
	maxErrorBody = 64 << 10 // error bodies are read this far for the message
	drainLimit   = 64 << 10 // read this much of an unread body so the connection is reused
)

// Config says which iLO to talk to and how to log in.
type Config struct {
	// Host is the iLO's DNS name or IP address (IPv6 with or without brackets),
	// without scheme, port or path.
	Host string
	// Port is the HTTPS port; 0 means 443.
	Port int
	// Username and Password are an iLO account's credentials.
	Username string
	Password string
	// Secrets is the operation's secret set: the client adds its password, backup
	// passwords and every session token it is issued, and scrubs all device text
	// with it. nil: the client keeps a set of its own.
	Secrets *client.Secrets
}

// Client talks Redfish to one iLO. Create one per operation (it holds one session);
// it is safe for concurrent use, but its calls share that session.
type Client struct {
	hc       *client.Client
	cfg      Config
	hostname string // Host without brackets
	hostPort string // host:port for URLs
	device   string // how errors name the iLO
	sess     *client.Session
	secrets  *client.Secrets

	mu          sync.Mutex
	token       string // X-Auth-Token of the open session; "" when none
	sessionPath string // path to DELETE to log out; "" when none
	servicePath string // discovered HpeiLOBackupRestoreService path
	filesPath   string // its BackupFiles collection, as last read

	// The session that uploaded an accepted restore: WaitReady watches for the iLO
	// to stop accepting it (the reset has begun). Never logged out.
	endedToken string
	endedPath  string
}

// ErrBadCredentials is wrapped by the error of a login the iLO refused for its user
// name or password (iLO.x.UnauthorizedLoginAttempt).
var ErrBadCredentials = errors.New("the iLO refused the user name or password")

// New validates cfg and returns a Client that sends all traffic through hc. It does
// not contact the iLO.
func New(hc *client.Client, cfg Config) (*Client, error) {
	if hc == nil {
		return nil, errors.New("redfish: no HTTP client")
	}
	addr, err := client.Target{Kind: "ilo", Host: cfg.Host, Port: cfg.Port, DefaultPort: DefaultPort,
		Username: cfg.Username, Password: cfg.Password}.Check()
	if err != nil {
		return nil, err
	}
	c := &Client{hc: hc, cfg: cfg, hostname: addr.Host, hostPort: addr.HostPort, device: addr.Name, secrets: cfg.Secrets}
	if c.secrets == nil {
		c.secrets = client.NewSecrets()
	}
	c.secrets.Add(cfg.Password)
	c.sess = client.NewSession(c.device, c.login, c.logout)
	return c, nil
}

// Device is how errors and log lines name the iLO (host, plus the port when not 443).
func (c *Client) Device() string { return c.device }

// Session returns the client's session. Open it with client.With (or Open/Close);
// every authenticated call runs inside Session.Call, so an expired session is
// re-established once. After an accepted Restore the iLO has already ended the
// session, and closing it sends no logout.
func (c *Client) Session() *client.Session { return c.sess }

func (c *Client) url(p string) string {
	u := url.URL{Scheme: "https", Host: c.hostPort, Path: p}
	return u.String()
}

// Secrets is the set the client scrubs device text with.
func (c *Client) Secrets() *client.Secrets { return c.secrets }

// BaseURL is the iLO's base ("https://host:port"), for direct Redfish access with an
// open session's token.
func (c *Client) BaseURL() string { return "https://" + c.hostPort }

// SessionToken is an open session, for direct Redfish access: send Token in the
// X-Auth-Token header; DELETE Path ends the session. Token is a secret: never log it
// or put it in state.
type SessionToken struct {
	Token string
	Path  string
}

// SessionToken returns the open session; false when none is open.
func (c *Client) SessionToken() (SessionToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SessionToken{Token: c.token, Path: c.sessionPath}, c.token != "" && c.sessionPath != ""
}

// KeepAlive reads the session's own resource, so that the iLO counts the session as
// used and its idle timeout starts again. Unlike every other call it never logs in
// again: a session whose token was handed to another tool must stay that session,
// and its expiry is an error.
func (c *Client) KeepAlive(ctx context.Context) error {
	const step = "keep the session alive"
	s, ok := c.SessionToken()
	if !ok {
		return &client.DeviceError{Device: c.device, Step: step, Message: "no iLO session is open"}
	}
	var doc map[string]any
	_, err := c.getJSON(ctx, step, s.Path, s.Token, "the session", &doc)
	var de *client.DeviceError
	if errors.Is(err, client.ErrSessionExpired) && errors.As(err, &de) {
		de.Hint = "the iLO ended the session: its session timeout may be shorter than the keepalive interval, an administrator may have ended it, or the iLO reset"
	}
	return err
}

// log writes a debug line; string fields (device text among them) are scrubbed.
func (c *Client) log(ctx context.Context, msg string, fields map[string]any) {
	f := map[string]any{"device": c.device}
	for k, v := range fields {
		switch v := v.(type) {
		case string:
			f[k] = c.secrets.Scrub(v)
		case []string:
			clean := make([]string, len(v))
			for i, s := range v {
				clean[i] = c.secrets.Scrub(s)
			}
			f[k] = clean
		default:
			f[k] = v
		}
	}
	tflog.SubsystemDebug(ctx, client.Subsystem, "ilo: "+msg, f)
}

// newRequest builds a request to path p on the iLO. token "" means unauthenticated.
// Its context carries the client's secrets, so the HTTP layer scrubs transport
// errors (which may quote device bytes) with them.
func (c *Client) newRequest(ctx context.Context, method, p string, body io.Reader, token string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(client.WithSecrets(ctx, c.secrets), method, c.url(p), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	return req, nil
}

// send runs req through the shared HTTP client; a transport failure becomes a
// DeviceError for step.
func (c *Client) send(req *http.Request, step string) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	return resp, nil
}

// closeBody drains a little of an unread body (so the connection is reused) and closes it.
func closeBody(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
}

// responseError reads an unsuccessful answer into a DeviceError. On an authenticated
// call a 401 that says NoValidSession (or says nothing at all) wraps
// client.ErrSessionExpired, so Session.Call logs in again once.
func (c *Client) responseError(step string, resp *http.Response, authenticated bool) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return c.errorFrom(step, resp.StatusCode, body, authenticated)
}

func (c *Client) errorFrom(step string, status int, body []byte, authenticated bool) error {
	ae := parseError(status, body, c.secrets)
	msg, hint := ae.describe()
	de := &client.DeviceError{
		Device: c.device, Step: step, HTTPStatus: status,
		Message: msg, Hint: hint,
	}
	switch {
	case authenticated && status == http.StatusUnauthorized && (ae.has("NoValidSession") || len(ae.Messages) == 0):
		de.Err = client.ErrSessionExpired
	case ae.has("UnauthorizedLoginAttempt"):
		de.Err = ErrBadCredentials
	}
	return de
}

// malformed is the error for a success answer whose JSON cannot be read.
func (c *Client) malformed(step string, status int, what string, err error) error {
	return &client.DeviceError{
		Device: c.device, Step: step, HTTPStatus: status,
		Message: fmt.Sprintf("the iLO answered with malformed JSON for %s (%s)", what, client.OneLine(c.secrets.Scrub(err.Error()), maxTextLen)),
		Hint:    "retry; if it persists, reset the iLO (its web server may be in a bad state)",
	}
}

// refuseSecrets fails when a value the iLO reported holds a secret (one the client
// knows, or what Redact recognises): such values name files and reach the state,
// where a secret must never go (a device that echoes a password or token back is
// broken or hostile).
func (c *Client) refuseSecrets(step string, values map[string]string) error {
	for what, v := range values {
		if c.secrets.Scrub(v) != v {
			return &client.DeviceError{Device: c.device, Step: step,
				Message: fmt.Sprintf("the %s the iLO reported (%s) holds a secret (it echoed a password or a session token)", what, quoteSanitized(v, c.secrets)),
				Hint:    "check that the address is the iLO and that nothing between rewrites its answers"}
		}
	}
	return nil
}

// decodeJSON decodes a bounded JSON body into v.
func decodeJSON(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxJSONBody+1))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > maxJSONBody {
		return fmt.Errorf("the answer is larger than %d bytes", maxJSONBody)
	}
	return json.Unmarshal(data, v)
}

// getJSON GETs p and decodes a 200 answer into v; token "" means unauthenticated.
func (c *Client) getJSON(ctx context.Context, step, p, token, what string, v any) (http.Header, error) {
	req, err := c.newRequest(ctx, http.MethodGet, p, nil, token)
	if err != nil {
		return nil, &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	resp, err := c.send(req, step)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, c.responseError(step, resp, token != "")
	}
	if err := decodeJSON(resp.Body, v); err != nil {
		return nil, c.malformed(step, resp.StatusCode, what, err)
	}
	return resp.Header, nil
}

// call runs fn with the session's token inside Session.Call. With no open session
// (never opened, or ended by a restore) it reports an expired session, so
// Session.Call logs in and runs fn again.
func (c *Client) call(ctx context.Context, step string, fn func(ctx context.Context, token string) error) error {
	return c.sess.Call(ctx, func(ctx context.Context) error {
		c.mu.Lock()
		token := c.token
		c.mu.Unlock()
		if token == "" {
			return &client.DeviceError{Device: c.device, Step: step, Message: "no iLO session is open", Err: client.ErrSessionExpired}
		}
		return fn(ctx, token)
	})
}

// login is the Session's login: create a Redfish session and keep its token and path.
func (c *Client) login(ctx context.Context) error {
	token, p, err := c.createSession(ctx, "log in")
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.token, c.sessionPath = token, p
	c.mu.Unlock()
	c.log(ctx, "session opened", nil)
	return nil
}

// logout is the Session's logout. A session the device already ended (restore) is
// not logged out.
func (c *Client) logout(ctx context.Context) error {
	c.mu.Lock()
	token, p := c.token, c.sessionPath
	c.token, c.sessionPath = "", ""
	c.mu.Unlock()
	if p == "" || token == "" {
		c.log(ctx, "no session to log out (the iLO already ended it)", nil)
		return nil
	}
	return c.deleteSession(ctx, "log out", token, p)
}

// markSessionEnded records that the iLO ended the session by itself (it resets after
// an accepted restore): closing the Session then sends no DELETE.
func (c *Client) markSessionEnded(ctx context.Context) {
	c.mu.Lock()
	c.endedToken, c.endedPath = c.token, c.sessionPath
	c.token, c.sessionPath = "", ""
	c.mu.Unlock()
	c.log(ctx, "the iLO ends every session when it resets; this session will not be logged out", nil)
}

// createSession logs in: POST {"UserName","Password"} to the sessions collection.
// The POST starts no job, so it is marked repeatable for the transport.
func (c *Client) createSession(ctx context.Context, step string) (token, sessionPath string, err error) {
	body, err := json.Marshal(map[string]string{"UserName": c.cfg.Username, "Password": c.cfg.Password})
	if err != nil {
		return "", "", &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	req, err := c.newRequest(client.Repeatable(ctx), http.MethodPost, sessionsPath, bytes.NewReader(body), "")
	if err != nil {
		return "", "", &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.send(req, step)
	if err != nil {
		return "", "", err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", "", c.responseError(step, resp, false)
	}
	token = resp.Header.Get("X-Auth-Token")
	c.secrets.Add(token) // a secret from the moment it exists, whatever happens next
	var doc struct {
		ID string `json:"@odata.id"`
	}
	_ = decodeJSON(resp.Body, &doc) // the body names the session too (not every BMC sends Location)
	if token == "" {
		return "", "", &client.DeviceError{Device: c.device, Step: step, HTTPStatus: resp.StatusCode,
			Message: "the iLO accepted the login but sent no X-Auth-Token header",
			Hint:    "check that the address is an HPE iLO's Redfish service and not a proxy or another web server"}
	}
	location := resp.Header.Get("Location")
	p, perr := c.sessionPathFrom(location)
	if location == "" || (perr != nil && p == "") {
		// No usable Location, but the token proves a session exists: find its path
		// another way, to use it (no Location at all) or at least to log it out.
		if found := c.findSession(ctx, step, token, doc.ID); found != "" {
			if location == "" {
				return token, found, nil
			}
			p = found
		}
	}
	if perr != nil {
		if p != "" { // free the slot on this iLO; the token never goes to another host
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), client.LogoutTimeout)
			if derr := c.deleteSession(lctx, step, token, p); derr != nil {
				c.log(ctx, "logging out the session of a refused login failed", map[string]any{"error": errorSummary(derr)})
			}
			cancel()
		} else {
			tflog.SubsystemWarn(ctx, client.Subsystem, "ilo: the session of a refused login could not be found to log it out: "+
				"it stays open until the iLO's idle timeout (it counts against the iLO's session limit)", map[string]any{"device": c.device})
		}
		return "", "", &client.DeviceError{Device: c.device, Step: step, HTTPStatus: resp.StatusCode,
			Message: perr.Error(),
			Hint:    "connect to the iLO by the name or address it uses for itself, and check for proxies between this host and the iLO"}
	}
	return token, p, nil
}

// maxSessionMembers bounds how many entries of the Sessions collection are read
// when looking for a session.
const maxSessionMembers = 64

// findSession returns the path of the session token authenticates, when the login
// answer gave no usable Location: the body's @odata.id when it is a safe path on this
// iLO, else the Sessions collection member the iLO marks as the caller's own
// (Oem.Hpe.MySession). "" when neither finds it.
func (c *Client) findSession(ctx context.Context, step, token, bodyID string) string {
	if bodyID != "" {
		if p, err := c.sessionPathFrom(bodyID); err == nil {
			return p
		}
	}
	var coll struct{ Members []odataLink }
	if _, err := c.getJSON(ctx, step, sessionsPath, token, "the Sessions collection", &coll); err != nil {
		c.log(ctx, "listing the sessions failed", map[string]any{"error": errorSummary(err)})
		return ""
	}
	for i, m := range coll.Members {
		if i == maxSessionMembers {
			break
		}
		p, err := devicePath(m.ID, true)
		if err != nil || !strings.HasPrefix(strings.ToLower(p), strings.ToLower(sessionsPath)) {
			continue
		}
		var sess struct {
			Oem struct{ Hpe struct{ MySession bool } }
		}
		if _, err := c.getJSON(ctx, step, p, token, "a session", &sess); err == nil && sess.Oem.Hpe.MySession {
			c.log(ctx, "found the session in the Sessions collection (the login answer named no usable Location)", nil)
			return p
		}
	}
	return ""
}

// sessionPathFrom normalises a session Location to a path on this iLO. iLO sends an
// absolute URL (https://host/redfish/v1/SessionService/Sessions/<id>/), other BMCs a
// path. A Location on another host is refused; the path is still returned then, so
// the caller can free the session on this iLO.
func (c *Client) sessionPathFrom(location string) (string, error) {
	if location == "" {
		return "", errors.New("the iLO accepted the login but did not say where the session is (no Location header), so it could not be logged out")
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("the iLO sent a session Location that is not a URL: %s", quoteSanitized(location, c.secrets))
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("the iLO sent an unsafe session Location %s: it has a %q segment", quoteSanitized(location, c.secrets), seg)
		}
	}
	base, _ := url.Parse(c.url(sessionsPath))
	abs := base.ResolveReference(u)
	p, err := devicePath(abs.EscapedPath(), true)
	if err != nil {
		return "", fmt.Errorf("the iLO sent an unsafe session Location %s: %v", quoteSanitized(location, c.secrets), err)
	}
	if u.IsAbs() || u.Host != "" {
		if abs.Scheme != "https" && abs.Scheme != "http" {
			return "", fmt.Errorf("the iLO sent a session Location with scheme %q: %s", abs.Scheme, quoteSanitized(location, c.secrets))
		}
		if !sameHost(abs.Hostname(), c.hostname) {
			return p, fmt.Errorf("the iLO sent a session Location on another host (%s), not on %s; refusing to use it", quoteSanitized(location, c.secrets), c.device)
		}
	}
	return p, nil
}

// sameHost compares host names case-insensitively and IP addresses by value. Ports
// are not compared: an iLO behind a port forward names its own port.
func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ipA, ipB := net.ParseIP(stripZone(a)), net.ParseIP(stripZone(b))
	return ipA != nil && ipB != nil && ipA.Equal(ipB)
}

func stripZone(h string) string {
	if i := strings.IndexByte(h, '%'); i >= 0 {
		return h[:i]
	}
	return h
}

// deleteSession logs a session out. A session the iLO no longer knows (401, 404) is
// already gone, which is what a logout wants.
func (c *Client) deleteSession(ctx context.Context, step, token, p string) error {
	req, err := c.newRequest(ctx, http.MethodDelete, p, nil, token)
	if err != nil {
		return &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	resp, err := c.send(req, step)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		c.log(ctx, "session closed", nil)
		return nil
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusGone:
		c.log(ctx, "session was already closed by the iLO", map[string]any{"status": resp.StatusCode})
		return nil
	}
	return c.responseError(step, resp, false)
}
