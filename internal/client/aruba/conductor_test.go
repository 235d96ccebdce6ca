package aruba

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

const (
	simUser = "api-admin"
	simPass = "Conductor Pa55,word&x" // a space, a comma and '&': all must stay out of errors
	scpUser = "scpbackup"
	scpPass = "scp Secret;99"
)

// httpClient trusts the simulators' CA and retries fast.
func httpClient(t *testing.T) *client.Client {
	t.Helper()
	hc, err := client.New(client.Config{
		CACertPEM:      string(testkit.CA(t).CertPEM),
		RetryMax:       2,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
		UserAgent:      "terraform-provider-infrabackup/test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// startSim serves a conductor over TLS and checks, when the test ends, that no session
// was left open on it.
func startSim(t *testing.T, cfg sim.Config) (*sim.Server, *Conductor) {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = simUser
	}
	if cfg.Password == "" {
		cfg.Password = simPass
	}
	srv, err := sim.Start(testkit.CA(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // runs before srv.Close
		if n := srv.Conductor.OpenSessions(); n != 0 {
			t.Errorf("%d sessions left open on the conductor", n)
		}
	})
	return srv, conductorFor(t, srv.Host, srv.Port, simPass)
}

func conductorFor(t *testing.T, host string, port int, password string) *Conductor {
	t.Helper()
	c, err := New(httpClient(t), Config{Host: host, Port: port, Username: simUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs fn in one session, the way the provider does.
func run(c *Conductor, fn func(ctx context.Context) error) error {
	return client.With(context.Background(), c.Session(), fn)
}

// noSecrets fails when err's text holds a credential or a session token the conductor issued.
func noSecrets(t *testing.T, srv *sim.Server, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	secrets := append([]string{simPass, "Pa55", scpPass, "Secret;99"}, extra...)
	if srv != nil {
		secrets = append(secrets, srv.Conductor.IssuedTokens()...)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error text contains a secret (%q): %s", s, msg)
		}
	}
}

func deviceError(t *testing.T, err error) *client.DeviceError {
	t.Helper()
	var de *client.DeviceError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *client.DeviceError", err, err)
	}
	return de
}

func calls(srv *sim.Server, endpoint string) int64 {
	return srv.Conductor.Stats.Snapshot().Calls[endpoint]
}

func TestNewValidatesConfig(t *testing.T) {
	hc := httpClient(t)
	for name, cfg := range map[string]Config{
		"empty host":   {Host: " ", Username: "u", Password: "p"},
		"port too big": {Host: "10.0.0.1", Port: 70000, Username: "u", Password: "p"},
		"negative":     {Host: "10.0.0.1", Port: -1, Username: "u", Password: "p"},
		"no username":  {Host: "10.0.0.1", Password: "p"},
		"no password":  {Host: "10.0.0.1", Username: "u"},
	} {
		if _, err := New(hc, cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	c, err := New(hc, Config{Host: "mc1.example", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Device() != "conductor mc1.example:4343" {
		t.Errorf("Device() = %q; the default port is 4343", c.Device())
	}
	// An IPv6 address is bracketed once, whether it was given with brackets or not.
	for _, host := range []string{"fd00::5", "[fd00::5]"} {
		c, err = New(hc, Config{Host: host, Port: 8443, Username: "u", Password: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Device() != "conductor [fd00::5]:8443" || c.base.Host != "[fd00::5]:8443" {
			t.Errorf("host %q: Device() = %q, URL host %q", host, c.Device(), c.base.Host)
		}
	}
}

func TestLoginByPOSTAndHostname(t *testing.T) {
	srv, c := startSim(t, sim.Config{Name: "mc-dc1"})
	var host string
	err := run(c, func(ctx context.Context) error {
		var err error
		host, err = c.Hostname(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if host != "mc-dc1" {
		t.Fatalf("Hostname = %q", host)
	}
	st := srv.Conductor.Stats.Snapshot()
	if st.Calls["POST /v1/api/login"] != 1 || st.Calls["GET /v1/api/login"] != 0 {
		t.Errorf("login calls %v: want one POST and no GET (credentials never go into a URL)", st.Calls)
	}
	if st.Logins != 1 || st.Logouts != 1 || st.OpenSessions != 0 {
		t.Errorf("logins=%d logouts=%d open=%d", st.Logins, st.Logouts, st.OpenSessions)
	}
}

// requestLog records every request the conductor receives.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

type loggedRequest struct {
	method, uri, contentType, csrf, cookie, userAgent, body string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		ck, _ := r.Cookie("SESSION")
		lr := loggedRequest{method: r.Method, uri: r.RequestURI, contentType: r.Header.Get("Content-Type"),
			csrf: r.Header.Get("X-CSRF-Token"), userAgent: r.UserAgent(), body: string(body)}
		if ck != nil {
			lr.cookie = ck.Value
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, lr)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) all() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedRequest(nil), l.reqs...)
}

func (l *requestLog) count(method, path string) int {
	n := 0
	for _, r := range l.all() {
		if r.method == method && strings.HasPrefix(r.uri, path) {
			n++
		}
	}
	return n
}

// startRecorded serves a simulated conductor behind a recorder of raw requests (the
// simulator's own Stats do not see requests its Faults answered).
func startRecorded(t *testing.T, cfg sim.Config) (*sim.Conductor, *requestLog, *Conductor) {
	t.Helper()
	cfg.Username, cfg.Password = simUser, simPass
	cond := sim.New(cfg)
	rl := &requestLog{}
	ts := httptest.NewUnstartedServer(rl.wrap(cond.Handler()))
	ts.TLS = testkit.CA(t).ServerTLSConfig()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		if n := cond.OpenSessions(); n != 0 {
			t.Errorf("%d sessions left open on the conductor", n)
		}
	})
	u, _ := url.Parse(ts.URL)
	port, _ := strconv.Atoi(u.Port())
	return cond, rl, conductorFor(t, u.Hostname(), port, simPass)
}

func TestRequestsCarryNoCredentialsInURLs(t *testing.T) {
	cond, rl, c := startRecorded(t, sim.Config{Name: "mc-rec"})
	err := run(c, func(ctx context.Context) error {
		if _, err := c.Hostname(ctx); err != nil {
			return err
		}
		return c.CopyRunningToFlash(ctx, "/md", "backup.cfg")
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rl.all()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want login, show, copy, logout: %+v", len(reqs), reqs)
	}
	tokens := cond.IssuedTokens() // uid, csrf
	if len(tokens) != 2 {
		t.Fatalf("issued %v", tokens)
	}
	uid, csrf := tokens[0], tokens[1]
	login := reqs[0]
	if login.method != http.MethodPost || login.uri != "/v1/api/login" || login.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("login request %s %s (%s)", login.method, login.uri, login.contentType)
	}
	form, _ := url.ParseQuery(login.body)
	if form.Get("username") != simUser || form.Get("password") != simPass {
		t.Errorf("login form %q does not carry the credentials", login.body)
	}
	for _, r := range reqs {
		if strings.Contains(r.uri, "password") || strings.Contains(r.uri, url.QueryEscape(simPass)) || strings.Contains(r.uri, simUser) {
			t.Errorf("credentials in a URL: %s %s", r.method, r.uri)
		}
		if r.userAgent != "terraform-provider-infrabackup/test" {
			t.Errorf("%s %s: User-Agent %q", r.method, r.uri, r.userAgent)
		}
	}
	// Every later call carries the session three ways: query, cookie and CSRF header.
	for _, r := range reqs[1:] {
		u, _ := url.Parse(r.uri)
		if u.Query().Get("UIDARUBA") != uid || r.cookie != uid || r.csrf != csrf {
			t.Errorf("%s %s: UIDARUBA=%q cookie=%q csrf=%q; want the session in all three", r.method, r.uri, u.Query().Get("UIDARUBA"), r.cookie, r.csrf)
		}
	}
	if last := reqs[3]; !strings.HasPrefix(last.uri, "/v1/api/logout") {
		t.Errorf("last request %s %s, want the logout", last.method, last.uri)
	}
	copyReq := reqs[2]
	if copyReq.method != http.MethodPost || !strings.Contains(copyReq.uri, "config_path=%2Fmd") || copyReq.body != `{"filename":"backup.cfg"}` {
		t.Errorf("copy_running_flash request %s %s %s", copyReq.method, copyReq.uri, copyReq.body)
	}
}

func TestRunningConfig(t *testing.T) {
	for _, perLine := range []bool{false, true} {
		t.Run("per line "+strconv.FormatBool(perLine), func(t *testing.T) {
			srv, c := startSim(t, sim.Config{Name: "mc-rc", RunningConfigPerLine: perLine})
			var text string
			err := run(c, func(ctx context.Context) (err error) {
				text, err = c.RunningConfig(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := srv.Conductor.RunningConfig()
			if text != want {
				t.Fatalf("running config differs:\n got %q...\nwant %q...", text[:min(len(text), 160)], want[:min(len(want), 160)])
			}
			if !strings.Contains(text, "\nhostname \"mc-rc\"\n") || !strings.HasSuffix(text, "end\n") {
				t.Fatalf("unexpected text %q...", text[:min(len(text), 160)])
			}
		})
	}
	t.Run("no trailing newline", func(t *testing.T) {
		srv, c := startSim(t, sim.Config{})
		srv.Conductor.SetRunningConfig("hostname x\n!\nend")
		var text string
		err := run(c, func(ctx context.Context) (err error) {
			text, err = c.RunningConfig(ctx)
			return err
		})
		if err != nil || text != "hostname x\n!\nend\n" {
			t.Fatalf("%q %v", text, err)
		}
	})
}

func TestCopyRunningToFlash(t *testing.T) {
	srv, c := startSim(t, sim.Config{StatusAsNumber: true})
	err := run(c, func(ctx context.Context) error { return c.CopyRunningToFlash(ctx, "/md", "mc_backup_config.cfg") })
	if err != nil {
		t.Fatal(err)
	}
	got, ok := srv.Conductor.FlashFile("mc_backup_config.cfg")
	if !ok || string(got) != srv.Conductor.RunningConfig() {
		t.Fatalf("flash file present=%v, %d bytes", ok, len(got))
	}
	// A name the device refuses is an error with the device's text.
	err = run(c, func(ctx context.Context) error { return c.CopyRunningToFlash(ctx, "/md", "bad name.cfg") })
	de := deviceError(t, err)
	if !strings.Contains(de.Message, "Invalid filename") || de.Step != "save running config to flash" {
		t.Fatalf("error %v", err)
	}
}

func TestFlashBackup(t *testing.T) {
	srv, c := startSim(t, sim.Config{})
	var name string
	err := run(c, func(ctx context.Context) (err error) {
		name, err = c.FlashBackup(ctx, "/md", "mc-flash")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if name != "mc-flash.tar.gz" {
		t.Fatalf("FlashBackup returned %q", name)
	}
	files := srv.Conductor.FlashFiles()
	if files[name] == 0 {
		t.Fatalf("%s is not on flash: %v", name, files)
	}
	if _, ok := files[LegacyFlashBackupName]; ok {
		t.Error("the legacy archive name was written by a current build")
	}
	if n := calls(srv, "POST /v1/configuration/object/flash_backup"); n != 1 {
		t.Errorf("flash_backup posted %d times", n)
	}
}

func TestFlashBackupAOS82(t *testing.T) {
	srv, c := startSim(t, sim.Config{AOS82: true})
	var name string
	err := run(c, func(ctx context.Context) (err error) {
		name, err = c.FlashBackup(ctx, "/md", "mc-flash")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if name != LegacyFlashBackupName {
		t.Fatalf("FlashBackup returned %q on AOS 8.2, want %s", name, LegacyFlashBackupName)
	}
	files := srv.Conductor.FlashFiles()
	if files[LegacyFlashBackupName] == 0 {
		t.Fatalf("%s is not on flash: %v", LegacyFlashBackupName, files)
	}
	if _, ok := files["mc-flash.tar.gz"]; ok {
		t.Error("an AOS 8.2 build wrote the requested name")
	}
	// One refused call with filename, one without.
	if n := calls(srv, "POST /v1/configuration/object/flash_backup"); n != 2 {
		t.Errorf("flash_backup posted %d times, want 2", n)
	}
}

// A flash_backup that fails in transit is not sent again: it starts a job on the device.
func TestFlashBackupNotRepeated(t *testing.T) {
	for _, kind := range []devicesim.FaultKind{devicesim.FaultServerError, devicesim.FaultReset} {
		t.Run(string(kind), func(t *testing.T) {
			cond, rl, c := startRecorded(t, sim.Config{})
			cond.Faults.Add(devicesim.Fault{Kind: kind, PathPrefix: "/v1/configuration/object/flash_backup", Times: 1})
			err := run(c, func(ctx context.Context) error {
				_, err := c.FlashBackup(ctx, "/md", "flash")
				return err
			})
			de := deviceError(t, err)
			if de.Step != "flash backup" {
				t.Errorf("step %q", de.Step)
			}
			if kind == devicesim.FaultServerError && (de.HTTPStatus != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "503")) {
				t.Errorf("error %v does not give the status", err)
			}
			if n := rl.count(http.MethodPost, "/v1/configuration/object/flash_backup"); n != 1 {
				t.Fatalf("flash_backup sent %d times", n)
			}
			if n := rl.count(http.MethodGet, "/v1/api/logout"); n != 1 {
				t.Fatalf("%d logouts after the failure", n)
			}
		})
	}
}

// A show command is safe to repeat: a dropped connection or a 5xx is retried.
func TestShowRetriedOnTransientFailure(t *testing.T) {
	cond, rl, c := startRecorded(t, sim.Config{Name: "mc-retry"})
	cond.Faults.Add(devicesim.Fault{Kind: devicesim.FaultReset, PathPrefix: "/v1/configuration/showcommand", Times: 2})
	var host string
	err := run(c, func(ctx context.Context) (err error) {
		host, err = c.Hostname(ctx)
		return err
	})
	if err != nil || host != "mc-retry" {
		t.Fatalf("%q %v", host, err)
	}
	if n := rl.count(http.MethodGet, "/v1/configuration/showcommand"); n != 3 {
		t.Fatalf("%d show requests, want 3", n)
	}
}

func TestCancelledOperationStillLogsOut(t *testing.T) {
	srv, c := startSim(t, sim.Config{FlashBackupDelay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		_, err := c.FlashBackup(ctx, "/md", "flash")
		return err
	})
	if err == nil {
		t.Fatal("expected the deadline to end the flash backup")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
	st := srv.Conductor.Stats.Snapshot()
	if st.Logouts != 1 || st.OpenSessions != 0 {
		t.Fatalf("logouts=%d open=%d after a cancelled operation", st.Logouts, st.OpenSessions)
	}
}

// startSFTP starts an SCP server that accepts scpUser with pass.
func startSFTP(t *testing.T, pass string) *sftpserver.Server {
	t.Helper()
	srv, err := sftpserver.Start(sftpserver.Config{Username: scpUser, Password: pass, RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestCopyFlashToSCP(t *testing.T) {
	scp := startSFTP(t, scpPass)
	srv, c := startSim(t, sim.Config{Name: "mc-scp", SCPPort: scp.Port()})
	if err := os.Mkdir(filepath.Join(scp.RootDir(), "mc-scp"), 0o755); err != nil {
		t.Fatal(err)
	}
	var archive string
	err := run(c, func(ctx context.Context) (err error) {
		if err := c.CopyRunningToFlash(ctx, "/md", "mc-scp.cfg"); err != nil {
			return err
		}
		if archive, err = c.FlashBackup(ctx, "/md", "flash"); err != nil {
			return err
		}
		for src, dest := range map[string]string{
			archive:      "mc-scp/2026-01-02T030405Z_flash.tar.gz",
			"mc-scp.cfg": "mc-scp/2026-01-02T030405Z_config.cfg",
		} {
			if err := c.CopyFlashToSCP(ctx, "/md", SCPCopy{SourceFile: src, Host: "127.0.0.1", Username: scpUser, Password: scpPass, DestFile: dest}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for src, dest := range map[string]string{archive: "2026-01-02T030405Z_flash.tar.gz", "mc-scp.cfg": "2026-01-02T030405Z_config.cfg"} {
		want, ok := srv.Conductor.FlashFile(src)
		got, err := os.ReadFile(filepath.Join(scp.RootDir(), "mc-scp", dest))
		if !ok || err != nil || len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("%s on the SCP server: err=%v, %d bytes, want the %d bytes of %s", dest, err, len(got), len(want), src)
		}
	}
	if st := scp.Stats(); st.Uploads != 2 || st.FailedLogins != 0 {
		t.Errorf("SCP server stats %+v", st)
	}
	if n := calls(srv, "POST /v1/configuration/object/copy_flash_scp"); n != 2 {
		t.Errorf("copy_flash_scp posted %d times", n)
	}
}

func TestCopyFlashToSCPRefusesDNSName(t *testing.T) {
	scp := startSFTP(t, scpPass)
	srv, c := startSim(t, sim.Config{SCPPort: scp.Port()})
	err := run(c, func(ctx context.Context) error {
		return c.CopyFlashToSCP(ctx, "/md", SCPCopy{SourceFile: "default.cfg", Host: "backup.example.com", Username: scpUser, Password: scpPass, DestFile: "x.cfg"})
	})
	de := deviceError(t, err)
	if !strings.Contains(de.Message, "backup.example.com") || !strings.Contains(de.Message, "not an IP address") {
		t.Fatalf("error %v does not explain that an address is needed", err)
	}
	if n := calls(srv, "POST /v1/configuration/object/copy_flash_scp"); n != 0 {
		t.Fatalf("copy_flash_scp was sent %d times for a DNS name", n)
	}
	if st := scp.Stats(); st.Logins+st.FailedLogins != 0 {
		t.Fatalf("the SCP server was contacted: %+v", st)
	}
	noSecrets(t, srv, err)
}

func TestCopyFlashToSCPAuthFailure(t *testing.T) {
	scp := startSFTP(t, "the-right-one")
	srv, c := startSim(t, sim.Config{SCPPort: scp.Port()})
	err := run(c, func(ctx context.Context) error {
		return c.CopyFlashToSCP(ctx, "/md", SCPCopy{SourceFile: sim.FlashStartupConfig, Host: "127.0.0.1", Username: scpUser, Password: scpPass, DestFile: "x.cfg"})
	})
	de := deviceError(t, err)
	if !strings.Contains(de.Message, "authentication failed") {
		t.Fatalf("error %v does not carry the device's message", err)
	}
	if !strings.Contains(de.Step, "SCP") || !strings.Contains(de.Step, sim.FlashStartupConfig) || de.Device != c.Device() {
		t.Errorf("step %q device %q", de.Step, de.Device)
	}
	if st := scp.Stats(); st.FailedLogins == 0 || st.Uploads != 0 {
		t.Errorf("SCP server stats %+v", st)
	}
	if _, err := os.Stat(filepath.Join(scp.RootDir(), "x.cfg")); err == nil {
		t.Error("a file arrived despite the refused login")
	}
	noSecrets(t, srv, err, "the-right-one")
}

func TestTarFlashClean(t *testing.T) {
	srv, c := startSim(t, sim.Config{})
	err := run(c, func(ctx context.Context) error {
		if _, err := c.FlashBackup(ctx, "/md", "flash"); err != nil {
			return err
		}
		if _, err := c.FlashBackup(ctx, "/md", "other"); err != nil {
			return err
		}
		return c.TarFlashClean(ctx, "/md")
	})
	if err != nil {
		t.Fatal(err)
	}
	files := srv.Conductor.FlashFiles()
	for name := range files {
		if strings.Contains(name, ".tar") {
			t.Errorf("%s is still on flash", name)
		}
	}
	if _, ok := files[sim.FlashStartupConfig]; !ok {
		t.Errorf("tar_flash_clean removed %s: %v", sim.FlashStartupConfig, files)
	}
}

// The whole backup sequence, on the build variants that change the wire format.
func TestBuildVariants(t *testing.T) {
	for name, cfg := range map[string]sim.Config{
		"strict CSRF":      {StrictCSRF: true},
		"status as number": {StatusAsNumber: true},
		"both, AOS 8.2":    {StrictCSRF: true, StatusAsNumber: true, AOS82: true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Name = "mc-var"
			srv, c := startSim(t, cfg)
			err := run(c, func(ctx context.Context) error {
				if h, err := c.Hostname(ctx); err != nil || h != "mc-var" {
					return errors.Join(err, errors.New("hostname "+h))
				}
				if _, err := c.RunningConfig(ctx); err != nil {
					return err
				}
				if err := c.CopyRunningToFlash(ctx, "/md", "var.cfg"); err != nil {
					return err
				}
				if _, err := c.FlashBackup(ctx, "/md", "flash"); err != nil {
					return err
				}
				return c.TarFlashClean(ctx, "/md")
			})
			if err != nil {
				t.Fatal(err)
			}
			st := srv.Conductor.Stats.Snapshot()
			if st.Logins != 1 || st.Logouts != 1 || st.ExpiredSessions != 0 {
				t.Fatalf("logins=%d logouts=%d expired=%d", st.Logins, st.Logouts, st.ExpiredSessions)
			}
		})
	}
}

func TestExpiredSessionReLogsInOnce(t *testing.T) {
	for _, style := range []string{sim.ExpiryStatus, sim.Expiry401, sim.Expiry403} {
		t.Run(style, func(t *testing.T) {
			srv, c := startSim(t, sim.Config{Name: "mc-exp", ExpiryStyle: style})
			srv.Conductor.ExpireNextCalls(1)
			var host string
			err := run(c, func(ctx context.Context) (err error) {
				host, err = c.Hostname(ctx)
				if err != nil {
					return err
				}
				// A refused configuration action is repeated too: the device did nothing.
				srv.Conductor.ExpireNextCalls(1)
				return c.CopyRunningToFlash(ctx, "/md", "exp.cfg")
			})
			if err != nil || host != "mc-exp" {
				t.Fatalf("%q %v", host, err)
			}
			st := srv.Conductor.Stats.Snapshot()
			if st.Logins != 3 || st.ExpiredSessions != 2 || st.Logouts != 1 {
				t.Fatalf("logins=%d expired=%d logouts=%d, want 3 2 1", st.Logins, st.ExpiredSessions, st.Logouts)
			}
			if n := st.Calls["GET /v1/configuration/showcommand"]; n != 2 {
				t.Errorf("show sent %d times", n)
			}
			if n := st.Calls["POST /v1/configuration/object/copy_running_flash"]; n != 2 {
				t.Errorf("copy_running_flash sent %d times", n)
			}
			if _, ok := srv.Conductor.FlashFile("exp.cfg"); !ok {
				t.Error("the repeated copy did not write the file")
			}
		})
	}
}

func TestExpiredTwiceGivesUp(t *testing.T) {
	for _, style := range []string{sim.ExpiryStatus, sim.Expiry401} {
		t.Run(style, func(t *testing.T) {
			srv, c := startSim(t, sim.Config{ExpiryStyle: style})
			srv.Conductor.ExpireNextCalls(2)
			err := run(c, func(ctx context.Context) error {
				_, err := c.Hostname(ctx)
				return err
			})
			if !errors.Is(err, client.ErrSessionExpired) {
				t.Fatalf("error %v does not wrap ErrSessionExpired", err)
			}
			de := deviceError(t, err)
			if de.Device != c.Device() || !strings.Contains(de.Step, "show hostname") {
				t.Errorf("device %q step %q", de.Device, de.Step)
			}
			st := srv.Conductor.Stats.Snapshot()
			if st.Logins != 2 || st.Calls["GET /v1/configuration/showcommand"] != 2 {
				t.Fatalf("logins=%d shows=%d, want 2 and 2", st.Logins, st.Calls["GET /v1/configuration/showcommand"])
			}
			noSecrets(t, srv, err)
		})
	}
}

func TestBadCredentials(t *testing.T) {
	for _, http401 := range []bool{false, true} {
		t.Run("HTTP 401 "+strconv.FormatBool(http401), func(t *testing.T) {
			srv, _ := startSim(t, sim.Config{FailedLoginHTTP401: http401})
			c := conductorFor(t, srv.Host, srv.Port, "wrong Pa55,word&y")
			ran := false
			err := run(c, func(context.Context) error { ran = true; return nil })
			if ran {
				t.Fatal("fn ran without a session")
			}
			de := deviceError(t, err)
			wantStatus := http.StatusOK
			if http401 {
				wantStatus = http.StatusUnauthorized
			}
			if de.Step != "log in" || de.HTTPStatus != wantStatus || de.Device != "conductor 127.0.0.1:"+strconv.Itoa(srv.Port) {
				t.Errorf("step %q status %d device %q", de.Step, de.HTTPStatus, de.Device)
			}
			if !strings.Contains(de.Message, "authentication failed") || !strings.Contains(de.Hint, "password") {
				t.Errorf("message %q hint %q", de.Message, de.Hint)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.Device()) || !strings.Contains(msg, "log in failed") {
				t.Errorf("error text %q", msg)
			}
			st := srv.Conductor.Stats.Snapshot()
			if st.FailedLogins != 1 || st.Calls["POST /v1/api/login"] != 1 {
				t.Errorf("failed=%d login posts=%d: a refused login is not retried", st.FailedLogins, st.Calls["POST /v1/api/login"])
			}
			if n := st.Calls["GET /v1/api/logout"] + st.Calls["POST /v1/api/logout"]; n != 0 {
				t.Errorf("%d logouts after a failed login", n)
			}
			noSecrets(t, srv, err, "wrong Pa55", "word&y")
		})
	}
}

func TestSessionLimit(t *testing.T) {
	srv, c := startSim(t, sim.Config{MaxSessions: 1})
	holder := conductorFor(t, srv.Host, srv.Port, simPass)
	ctx := context.Background()
	if err := holder.Session().Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Session().Close(ctx) }()
	err := run(c, func(context.Context) error { return nil })
	de := deviceError(t, err)
	if de.Step != "log in" || !strings.Contains(de.Message, "Maximum number of sessions") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(de.Hint, "at most 64") || !strings.Contains(de.Hint, "sessions") {
		t.Errorf("hint %q does not name the session limit", de.Hint)
	}
	if strings.Contains(de.Hint, "check the aruba username") {
		t.Errorf("hint %q blames the credentials", de.Hint)
	}
	if err := holder.Session().Close(ctx); err != nil {
		t.Fatal(err)
	}
	// With the slot free again, the same client logs in.
	if err := run(c, func(ctx context.Context) error { _, err := c.Hostname(ctx); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestHTMLErrorPage(t *testing.T) {
	for _, tc := range []struct {
		name, prefix, method string
		op                   func(ctx context.Context, c *Conductor) error
	}{
		{"configuration action", "/v1/configuration/object", http.MethodPost,
			func(ctx context.Context, c *Conductor) error { return c.CopyRunningToFlash(ctx, "/md", "a.cfg") }},
		{"show command", "/v1/configuration/showcommand", http.MethodGet,
			func(ctx context.Context, c *Conductor) error { _, err := c.Hostname(ctx); return err }},
		{"login", "/v1/api/login", http.MethodPost,
			func(context.Context, *Conductor) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := startSim(t, sim.Config{})
			srv.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: tc.prefix, Method: tc.method})
			err := run(c, func(ctx context.Context) error { return tc.op(ctx, c) })
			if err == nil {
				t.Fatal("expected an error")
			}
			de := deviceError(t, err)
			msg := err.Error()
			if !strings.Contains(msg, "HTML") || !strings.Contains(msg, "500") || de.HTTPStatus != http.StatusInternalServerError {
				t.Fatalf("error %q (HTTP %d) must say an HTML page came with HTTP 500", msg, de.HTTPStatus)
			}
			if !strings.Contains(msg, "Internal Server Error") {
				t.Errorf("error %q does not quote the page title", msg)
			}
			noSecrets(t, srv, err)
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		op           func(ctx context.Context, c *Conductor) error
	}{
		{"configuration action", "/v1/configuration/object",
			func(ctx context.Context, c *Conductor) error { return c.TarFlashClean(ctx, "/md") }},
		{"show command", "/v1/configuration/showcommand",
			func(ctx context.Context, c *Conductor) error { _, err := c.RunningConfig(ctx); return err }},
		{"login", "/v1/api/login",
			func(context.Context, *Conductor) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := startSim(t, sim.Config{})
			srv.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultMalformedJSON, PathPrefix: tc.prefix})
			err := run(c, func(ctx context.Context) error { return tc.op(ctx, c) })
			if err == nil {
				t.Fatal("malformed JSON was accepted")
			}
			deviceError(t, err)
			if msg := err.Error(); !strings.Contains(msg, "not valid JSON") || !strings.Contains(msg, c.Device()) {
				t.Fatalf("error %q does not say the answer is not valid JSON", msg)
			}
			noSecrets(t, srv, err)
		})
	}
}

func TestEmptyBodyShowCommand(t *testing.T) {
	srv, c := startSim(t, sim.Config{})
	err := run(c, func(ctx context.Context) error {
		_, err := c.show(ctx, "show runn")
		return err
	})
	de := deviceError(t, err)
	if !strings.Contains(de.Message, "empty body") || !strings.Contains(de.Step, "show runn") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(de.Message, "unknown") {
		t.Errorf("message %q does not suggest the command is unknown", de.Message)
	}
	if n := calls(srv, "GET /v1/configuration/showcommand"); n != 1 {
		t.Errorf("the empty answer was requested %d times", n)
	}
}
