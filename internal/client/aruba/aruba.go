// Package aruba speaks the ArubaOS 8 Mobility Conductor REST API (port 4343): login,
// configuration actions (copy_running_flash, flash_backup, copy_flash_scp,
// tar_flash_clean), show commands and logout. It accepts every variant real builds
// answer with (internal/devicesim/README.md lists them, with where each is known from).
package aruba

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

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// DefaultPort is the conductor's HTTPS API port.
const DefaultPort = 4343

// maxBody bounds what is read from one API answer; running configs are far smaller.
const maxBody = 64 << 20

// Config says how to reach and authenticate to one conductor.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// Secrets is the operation's secret set: the client adds its password, the SCP
	// passwords it sends and every session token it is issued, and scrubs all device
	// text with it. nil: the client keeps a set of its own.
	Secrets *client.Secrets
}

// Conductor is a client for one Mobility Conductor. Its methods need an open session
// (see Session); they are not meant to be called concurrently.
type Conductor struct {
	http   *client.Client
	cfg    Config
	base   *url.URL
	device string

	secrets *client.Secrets

	mu      sync.Mutex
	uid     string
	csrf    string
	session *client.Session
}

// New returns a client for the conductor described by cfg.
func New(hc *client.Client, cfg Config) (*Conductor, error) {
	addr, err := client.Target{Kind: "conductor", Host: cfg.Host, Port: cfg.Port, DefaultPort: DefaultPort,
		Username: cfg.Username, Password: cfg.Password}.Check()
	if err != nil {
		return nil, err
	}
	c := &Conductor{
		http:    hc,
		cfg:     cfg,
		base:    &url.URL{Scheme: "https", Host: addr.HostPort},
		device:  "conductor " + addr.HostPort, // always with the port, as operators know conductors
		secrets: cfg.Secrets,
	}
	if c.secrets == nil {
		c.secrets = client.NewSecrets()
	}
	c.secrets.Add(cfg.Password)
	c.session = client.NewSession(c.Device(), c.login, c.logout)
	return c, nil
}

// Session is the conductor's session: open it once per operation and always close it
// (client.With does both).
func (c *Conductor) Session() *client.Session { return c.session }

// Device names the conductor in errors.
func (c *Conductor) Device() string { return c.device }

// Secrets is the set the client scrubs device text with.
func (c *Conductor) Secrets() *client.Secrets { return c.secrets }

// BaseURL is the conductor's API base ("https://host:port"), for direct API access
// with an open session's tokens.
func (c *Conductor) BaseURL() string { return c.base.String() }

// SessionTokens are the handles of an open session, for direct API access: send UID
// as the UIDARUBA query parameter (and SESSION cookie) and CSRFToken as the
// X-CSRF-Token header. Both are secrets: never log them or put them in state.
type SessionTokens struct {
	UID       string
	CSRFToken string
}

// SessionTokens returns the open session's tokens; false when no session is open.
func (c *Conductor) SessionTokens() (SessionTokens, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SessionTokens{UID: c.uid, CSRFToken: c.csrf}, c.uid != ""
}

// KeepAlive makes one cheap authenticated call (show hostname), so that the
// conductor counts the session as used and its idle timeout starts again. Unlike
// every other call it never logs in again: a session whose tokens were handed to
// another tool must stay that session, and its expiry is an error.
func (c *Conductor) KeepAlive(ctx context.Context) error {
	if _, ok := c.SessionTokens(); !ok {
		return c.fail("keep the session alive", 0, "no session is open", nil)
	}
	_, err := c.callOnce(ctx, "keep the session alive", http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {"show hostname"}}, nil)
	var de *client.DeviceError
	if errors.Is(err, client.ErrSessionExpired) && errors.As(err, &de) {
		de.Hint = "the conductor ended the session: its idle timeout may be shorter than the keepalive interval, an administrator may have cleared it, or it rebooted"
	}
	return err
}

// fail builds the error of a step; msg is device text (or built from it) and is
// scrubbed of every secret the client knows.
func (c *Conductor) fail(step string, status int, msg string, err error) *client.DeviceError {
	return &client.DeviceError{Device: c.Device(), Step: step, HTTPStatus: status, Message: c.secrets.Scrub(msg), Err: err}
}

// newRequest builds a request whose context carries the client's secrets, so the
// HTTP layer scrubs transport errors (which may quote device bytes) with them.
func (c *Conductor) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	return http.NewRequestWithContext(client.WithSecrets(ctx, c.secrets), method, target, body)
}

// login posts the credentials as a form body (never in the URL, where proxies and the
// device's own logs would keep them).
func (c *Conductor) login(ctx context.Context) error {
	const step = "log in"
	form := url.Values{"username": {c.cfg.Username}, "password": {c.cfg.Password}}
	req, err := c.newRequest(client.Repeatable(ctx), http.MethodPost, c.endpoint("/v1/api/login", nil), strings.NewReader(form.Encode()))
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	status, body, err := c.send(req)
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	return c.loginAnswer(status, body)
}

// loginAnswer reads a login answer: the session on success, else the error.
func (c *Conductor) loginAnswer(status int, body []byte) error {
	const step = "log in"
	env, perr := parseEnvelope(body)
	if env.Global != nil { // issued tokens are secrets from the moment they exist
		c.secrets.Add(env.Global.UID, env.Global.CSRFToken)
	}
	var msg string
	switch {
	case perr != nil:
		msg = client.DescribeBody(c.secrets, status, body, perr)
	case env.Global == nil && status == http.StatusOK:
		msg = "the answer has no _global_result"
	default:
		msg = env.failure()
	}
	if status == http.StatusOK && msg == "" && env.Global.UID != "" {
		c.mu.Lock()
		c.uid, c.csrf = env.Global.UID, env.Global.CSRFToken
		c.mu.Unlock()
		return nil
	}
	if msg == "" {
		msg = nonEmpty(env.message(), "no session identifier (UIDARUBA) in the answer")
	}
	e := c.fail(step, status, msg, nil)
	switch {
	case sessionLimitText(msg):
		e.Hint = "the conductor refuses new sessions: at most 64 CLI, WebUI and API sessions may be open at once. " +
			"Close idle sessions (show web-server statistics / aaa), wait for them to time out (900 s by default), or lower -parallelism"
	case status == http.StatusUnauthorized || strings.Contains(strings.ToLower(msg), "authentication failed"):
		e.Hint = "check the aruba username and password of the provider (or ARUBA_USERNAME / ARUBA_PASSWORD)"
	}
	return e
}

// logout frees the session slot.
func (c *Conductor) logout(ctx context.Context) error {
	const step = "log out"
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/v1/api/logout", nil), nil)
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	c.authenticate(req)
	status, body, err := c.send(req)
	c.mu.Lock()
	c.uid, c.csrf = "", ""
	c.mu.Unlock()
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	if status != http.StatusOK {
		return c.fail(step, status, client.DescribeBody(c.secrets, status, body, nil), nil)
	}
	return nil
}

// endpoint builds a URL on the conductor; the session id is added by authenticate.
func (c *Conductor) endpoint(path string, query url.Values) string {
	u := *c.base
	u.Path = path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// authenticate adds the session in all three forms builds expect: query UIDARUBA,
// cookie SESSION and header X-CSRF-Token.
func (c *Conductor) authenticate(req *http.Request) {
	c.mu.Lock()
	uid, csrf := c.uid, c.csrf
	c.mu.Unlock()
	q := req.URL.Query()
	q.Set("UIDARUBA", uid)
	req.URL.RawQuery = q.Encode()
	req.AddCookie(&http.Cookie{Name: "SESSION", Value: uid})
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	req.Header.Set("Accept", "application/json")
}

func (c *Conductor) send(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read below, or abandoned with an error
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// call sends one authenticated request and classifies the answer: an expired session
// becomes client.ErrSessionExpired (so Session.Call logs in again once).
func (c *Conductor) call(ctx context.Context, step, method, path string, query url.Values, body []byte) ([]byte, error) {
	var out []byte
	err := c.session.Call(ctx, func(ctx context.Context) error {
		var err error
		out, err = c.callOnce(ctx, step, method, path, query, body)
		return err
	})
	return out, err
}

// callOnce sends one authenticated request on the current session, never logging in
// again.
func (c *Conductor) callOnce(ctx context.Context, step, method, path string, query url.Values, body []byte) ([]byte, error) {
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, c.endpoint(path, query), rdr)
	if err != nil {
		return nil, c.fail(step, 0, "", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authenticate(req)
	status, resp, err := c.send(req)
	if err != nil {
		return nil, c.fail(step, 0, "", err)
	}
	if err := c.callAnswer(step, status, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// callAnswer classifies the answer to an authenticated call: nil when it may be read.
func (c *Conductor) callAnswer(step string, status int, resp []byte) error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return c.refusal(step, status, resp)
	}
	if status != http.StatusOK {
		return c.fail(step, status, client.DescribeBody(c.secrets, status, resp, nil), nil)
	}
	if env, perr := parseEnvelope(resp); perr == nil && env.Global.failed() && sessionExpiredText(env.Global.StatusStr) {
		return c.expired(step, status, env.Global.StatusStr)
	}
	return nil
}

// refusal classifies a 401/403 by what the device says. Builds answer an expired
// session with 401 or 403 and the same texts as the HTTP 200 form (or with no text);
// anything else the device says is a refusal of this call (a role that does not
// allow the command, say), reported in the device's words and never repeated.
func (c *Conductor) refusal(step string, status int, body []byte) error {
	env, perr := parseEnvelope(body)
	var text string
	if perr == nil {
		text = nonEmpty(env.failure(), env.message())
		if strings.TrimSpace(text) == "" || sessionExpiredText(text) {
			return c.expired(step, status, text)
		}
	} else {
		text = client.DescribeBody(c.secrets, status, body, nil)
	}
	e := c.fail(step, status, text, nil)
	if status == http.StatusForbidden {
		e.Hint = "the conductor refused this command for the API user: give the aruba user a management role that allows it (backups need root or another read-write role)"
	} else {
		e.Hint = "the conductor refused the call for the API user: check the aruba user's role and password"
	}
	return e
}

// expired is the error of a call the conductor refused because the session is gone;
// it wraps client.ErrSessionExpired, so the call is repeated once after a new login.
func (c *Conductor) expired(step string, status int, text string) *client.DeviceError {
	e := c.fail(step, status, nonEmpty(text, "the session is no longer valid"), client.ErrSessionExpired)
	e.Hint = "the conductor says the session is no longer valid, also right after a new login: check that nothing on the conductor " +
		"ends API sessions (a very short idle timeout, an administrator clearing sessions, a reboot)"
	return e
}

// configure posts a configuration action and checks every failure form builds use.
func (c *Conductor) configure(ctx context.Context, step, object, configPath string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return c.fail(step, 0, "", err)
	}
	resp, err := c.call(ctx, step, http.MethodPost, "/v1/configuration/object/"+object, url.Values{"config_path": {configPath}}, body)
	if err != nil {
		return err
	}
	return c.configureAnswer(step, resp)
}

// configureAnswer checks a configuration action's answer for every failure form.
func (c *Conductor) configureAnswer(step string, resp []byte) error {
	env, err := parseEnvelope(resp)
	if err != nil {
		return c.fail(step, http.StatusOK, client.DescribeBody(c.secrets, http.StatusOK, resp, err), nil)
	}
	if msg := env.failure(); msg != "" {
		return c.fail(step, http.StatusOK, msg, nil)
	}
	return nil
}

// show runs a show command and returns its raw JSON answer. An unknown or abbreviated
// command is answered with an empty body.
func (c *Conductor) show(ctx context.Context, command string) ([]byte, error) {
	step := fmt.Sprintf("%q", command)
	resp, err := c.call(ctx, step, http.MethodGet, "/v1/configuration/showcommand", url.Values{"command": {command}}, nil)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(resp)) == 0 {
		return nil, c.fail(step, http.StatusOK, "the conductor answered with an empty body (the command is unknown, abbreviated or not supported on this build)", nil)
	}
	return resp, nil
}

// Hostname returns the conductor's hostname (`show hostname`).
func (c *Conductor) Hostname(ctx context.Context) (string, error) {
	resp, err := c.show(ctx, "show hostname")
	if err != nil {
		return "", err
	}
	return c.hostnameFrom(resp)
}

// hostnameFrom reads the hostname out of a `show hostname` answer. A hostname holding
// a secret (one the client knows, or what Redact recognises) is refused: it would name
// files and reach the state.
func (c *Conductor) hostnameFrom(resp []byte) (string, error) {
	h, err := parseHostname(resp)
	if err != nil {
		return "", c.fail(`"show hostname"`, http.StatusOK, err.Error(), nil)
	}
	if c.secrets.Scrub(h) != h {
		return "", c.fail(`"show hostname"`, http.StatusOK, fmt.Sprintf("the hostname the conductor reported (%q) holds a secret (it echoed a credential or a session token)", c.secrets.Scrub(h)), nil)
	}
	return h, nil
}

// RunningConfig returns `show running-config` as text, one line per configuration line.
func (c *Conductor) RunningConfig(ctx context.Context) (string, error) {
	resp, err := c.show(ctx, "show running-config")
	if err != nil {
		return "", err
	}
	text, err := parseShowText(resp)
	if err != nil {
		return "", c.fail(`"show running-config"`, http.StatusOK, err.Error(), nil)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text, nil
}

// CopyRunningToFlash saves the running configuration to a flash file (copy_running_flash).
func (c *Conductor) CopyRunningToFlash(ctx context.Context, configPath, fileName string) error {
	err := c.configure(ctx, "save running config to flash", "copy_running_flash", configPath, map[string]string{"filename": fileName})
	return err
}

// LegacyFlashBackupName is the archive AOS 8.2 builds write whatever name is asked for.
const LegacyFlashBackupName = "flashbackup.tar.gz"

// FlashBackup archives the flash (flash_backup) as <base>.tar.gz and returns the
// archive's name on flash. AOS 8.2 builds refuse the filename field: then the call is
// made again without it (the refused call started nothing) and the archive is
// flashbackup.tar.gz.
func (c *Conductor) FlashBackup(ctx context.Context, configPath, base string) (string, error) {
	const step = "flash backup"
	err := c.configure(ctx, step, "flash_backup", configPath, map[string]string{"backup_flash": "flash", "filename": base})
	if err == nil {
		return base + ".tar.gz", nil
	}
	var de *client.DeviceError
	if !errors.As(err, &de) || de.HTTPStatus != http.StatusOK || !mentionsFilename(de.Message) {
		return "", err
	}
	if err2 := c.configure(ctx, step+" (AOS 8.2 form, without filename)", "flash_backup", configPath, map[string]string{"backup_flash": "flash"}); err2 != nil {
		return "", err2
	}
	return LegacyFlashBackupName, nil
}

func mentionsFilename(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "filename")
}

// SCPCopy describes one copy_flash_scp upload.
type SCPCopy struct {
	SourceFile string // name on flash
	Host       string // an IP address: the API takes no DNS names
	Username   string
	Password   string
	DestFile   string // relative to the SCP user's home
}

// CopyFlashToSCP makes the conductor push a flash file to an SCP server. It is sent
// exactly once: the upload is a job on the device.
func (c *Conductor) CopyFlashToSCP(ctx context.Context, configPath string, cp SCPCopy) error {
	step := "copy " + cp.SourceFile + " to SCP server"
	if net.ParseIP(cp.Host) == nil {
		return c.fail(step, 0, fmt.Sprintf("SCP host %q is not an IP address (the conductor API accepts only addresses)", cp.Host), nil)
	}
	c.secrets.Add(cp.Password)
	// Success is the envelope's status alone: builds differ on whether the text says
	// "File uploaded successfully", and the provider verifies the file over SFTP anyway.
	err := c.configure(ctx, step, "copy_flash_scp", configPath, map[string]string{
		"srcfilename": cp.SourceFile, "scphost": cp.Host, "username": cp.Username,
		"passwd": cp.Password, "destfilename": cp.DestFile,
	})
	return err
}

// TarFlashClean deletes the *.tar* files from flash (tar_flash_clean).
func (c *Conductor) TarFlashClean(ctx context.Context, configPath string) error {
	err := c.configure(ctx, "clean tar files from flash", "tar_flash_clean", configPath, struct{}{})
	return err
}
