package provider

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// Credentials of the simulated Apstra and of an iLO that accepts only a session's own
// password.
const (
	testILOSessionPass  = "iLO-Session-Own-Pw!"
	sessionEchoResource = "echo.session"
)

// liveAtLogout records the SHA-256 of every session a device still held live when a
// client logged it out: a session that was usable up to its logout.
type liveAtLogout struct {
	mu     sync.Mutex
	hashes []string
}

func (l *liveAtLogout) add(secret string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hashes = append(l.hashes, sha256Hex([]byte(secret)))
}

// has checks that the echoed value at dotted is the SHA-256 of a session that was
// live until its logout.
func (l *liveAtLogout) has(dotted string) checkFunc {
	return func(s *tfjson.State) error {
		got, err := attrText(s, sessionEchoResource, dotted)
		if err != nil {
			return err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(got) != 64 || !slices.Contains(l.hashes, got) {
			return fmt.Errorf("%s = %q is not the SHA-256 of a session the device held live until its logout (%d such sessions)", dotted, got, len(l.hashes))
		}
		return nil
	}
}

// sessionBlock is the ephemeral session resource typ ("ilo_session") named name.
func sessionBlock(typ, name, host string, port int, opts ...option) *block {
	return build(&block{kind: "ephemeral", labels: []string{"infrabackup_" + typ, name}},
		append([]option{set("host", host), set("port", port)}, opts...))
}

// TestAccSessions_openedUsableClosed: the session resources of all three device kinds
// open a session in every plan and apply that uses them, hand out values another
// provider receives (the echo provider, which stores them: here only their SHA-256
// and the non-secret values), and log it out when Terraform closes them. Each echoed
// token is one the device still held live when the provider logged it out, every
// device ends with zero open sessions and as many logouts as logins, the iLO session
// logs in with its own password (the provider's is wrong for that iLO), and no
// token or password reaches the state or a TF_LOG=trace log.
func TestAccSessions_openedUsableClosed(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TMPDIR", tmp)
	t.Setenv(EnvArubaUsername, testArubaUser)
	t.Setenv(EnvArubaPassword, testArubaPass)
	t.Setenv(EnvILOUsername, testILOUser)
	t.Setenv(EnvILOPassword, testILOPass) // not this iLO's: the session's own password must win
	t.Setenv(EnvApstraUsername, testApstraUser)
	t.Setenv(EnvApstraPassword, testApstraPass)
	t.Setenv("TF_VAR_ilo_password", testILOSessionPass)

	e := newSimEnv(t)
	var arubaLive, iloLive, apstraLive liveAtLogout
	mc := e.addConductorWrapped("mc-session", func(c *arubasim.Conductor, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/api/logout" {
				uid := r.URL.Query().Get("UIDARUBA")
				if s, ok := c.Sessions.Get(uid); ok && s.Token == r.Header.Get("X-CSRF-Token") {
					arubaLive.add(uid)
					arubaLive.add(s.Token)
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	ilo := e.addILOWrapped("ilo-session", func(c *ilosim.Config) { c.Password = testILOSessionPass },
		func(d *ilosim.ILO, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					if _, ok := d.Sessions.GetByToken(r.Header.Get("X-Auth-Token")); ok {
						iloLive.add(r.Header.Get("X-Auth-Token"))
					}
				}
				next.ServeHTTP(w, r)
			})
		})
	var aosDevice *apstrasim.Apstra // set below, before any request
	aos := e.addApstraWrapped("aos-session", nil,
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/logout") {
					if _, ok := aosDevice.Sessions.GetByToken(r.Header.Get("AuthToken")); ok {
						apstraLive.add(r.Header.Get("AuthToken"))
					}
				}
				next.ServeHTTP(w, r)
			})
		})
	aosDevice = aos.Apstra

	const (
		mcSession  = "ephemeral.infrabackup_aruba_session.mc"
		iloSession = "ephemeral.infrabackup_ilo_session.ilo"
		aosSession = "ephemeral.infrabackup_apstra_session.aos"
	)
	config := hclConfig(
		e.provider(unset("aruba"), unset("ilo"), unset("apstra")),
		ephemeralVariable("ilo_password"),
		sessionBlock("aruba_session", "mc", mc.Host, mc.Port),
		sessionBlock("ilo_session", "ilo", ilo.Host, ilo.Port, set("password", expr("var.ilo_password"))),
		sessionBlock("apstra_session", "aos", aos.Host, aos.Port),
		&block{kind: "provider", labels: []string{"echo"}, attrs: []attribute{{"data", object(
			set("aruba_base_url", expr(mcSession+".base_url")),
			set("aruba_uid", expr("sha256("+mcSession+".uidaruba)")),
			set("aruba_csrf", expr("sha256("+mcSession+".csrf_token)")),
			set("ilo_base_url", expr(iloSession+".base_url")),
			set("ilo_token", expr("sha256("+iloSession+".x_auth_token)")),
			set("ilo_session_uri", expr(iloSession+".session_uri")),
			set("apstra_base_url", expr(aosSession+".base_url")),
			set("apstra_token", expr("sha256("+aosSession+".token)")),
			set("apstra_expires_at", expr(aosSession+".expires_at")),
		)}}},
		&block{kind: "resource", labels: []string{"echo", "session"}},
	)
	if strings.Contains(config, testILOSessionPass) || strings.Contains(config, testArubaPass) || strings.Contains(config, testApstraPass) {
		t.Fatal("the test configuration must not hold the passwords literally")
	}
	var states []string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"infrabackup": testProviderFactories["infrabackup"],
			"echo":        echoprovider.NewProviderServer(),
		},
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				echoed("data.aruba_base_url", mc.URL),
				echoed("data.ilo_base_url", ilo.baseURL()),
				echoed("data.apstra_base_url", "https://"+net.JoinHostPort(aos.Host, strconv.Itoa(aos.Port))),
				arubaLive.has("data.aruba_uid"), arubaLive.has("data.aruba_csrf"),
				iloLive.has("data.ilo_token"), apstraLive.has("data.apstra_token"),
				checkFunc(func(s *tfjson.State) error {
					uri, err := attrText(s, sessionEchoResource, "data.ilo_session_uri")
					if err != nil || !strings.HasPrefix(uri, "/redfish/v1/SessionService/Sessions/") {
						return fmt.Errorf("ilo_session_uri = %q (%v), want a path under the Sessions collection", uri, err)
					}
					exp, err := attrText(s, sessionEchoResource, "data.apstra_expires_at")
					if err != nil || !strings.HasSuffix(exp, "Z") {
						return fmt.Errorf("apstra_expires_at = %q (%v), want an RFC 3339 UTC time", exp, err)
					}
					return nil
				}),
				deviceCheck(func() error {
					text, n := readTree(t, tmp, "terraform.tfstate")
					if n == 0 || !strings.Contains(text, "ilo_token") {
						return fmt.Errorf("found no state file with the echoed values under %s", tmp)
					}
					backups, _ := readTree(t, tmp, "terraform.tfstate.backup") // the prior states Terraform keeps
					states = append(states, text+backups)
					return nil
				}),
			},
		}},
	})

	for name, st := range map[string]*devicesim.Stats{"conductor": &mc.Conductor.Stats, "iLO": &ilo.ILO.Stats, "Apstra": &aos.Apstra.Stats} {
		snap := st.Snapshot()
		if snap.Logins < 2 || snap.Logouts != snap.Logins || snap.OpenSessions != 0 || snap.FailedLogins != 0 {
			t.Errorf("%s: want a session per plan and apply, each logged out, none failed: %+v", name, snap)
		}
	}
	log := readTraceLog(t, logFile, "/v1/api/login", "/redfish/v1/SessionService/Sessions", "/api/aaa/login", "OpenEphemeralResource", "CloseEphemeralResource")
	secrets := []string{testArubaPass, testILOPass, testILOSessionPass, testApstraPass}
	secrets = append(secrets, mc.Conductor.IssuedTokens()...)
	secrets = append(secrets, ilo.ILO.IssuedTokens()...)
	secrets = append(secrets, aos.Apstra.IssuedTokens()...)
	if len(secrets) < 4+2*2+2+2 {
		t.Fatalf("too few tokens issued to mean anything: %d", len(secrets))
	}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, url.QueryEscape(s))
	}
	assertNoSecrets(t, "the trace log", log, forms...)
	if len(states) != 1 {
		t.Fatalf("%d state checks ran, want 1", len(states))
	}
	assertNoSecrets(t, "the state file", states[0], forms...)
}

// echoed checks a non-secret value the echo provider received.
func echoed(dotted, want string) checkFunc {
	return func(s *tfjson.State) error {
		got, err := attrText(s, sessionEchoResource, dotted)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s = %q, want %q", dotted, got, want)
		}
		return nil
	}
}

// TestSessions_renewKeepsTheSessionAlive: on devices whose sessions end after 10
// idle minutes of their clock, a session that Terraform renews every 8 minutes
// outlives two such spans, while a session opened beside it and not renewed expires;
// renewing that one then fails, saying so, without logging in again (its tokens
// were handed out: a new session would not be theirs); closing logs out the live one.
func TestSessions_renewKeepsTheSessionAlive(t *testing.T) {
	e := newSimEnv(t)
	clock := devicesim.NewManualClock(time.Now())
	mc := e.addConductor("mc-renew", func(c *arubasim.Config) { c.Clock, c.IdleTimeout = clock, 10*time.Minute })
	ilo := e.addILO("ilo-renew", func(c *ilosim.Config) { c.Clock, c.IdleTimeout = clock, 10*time.Minute })
	p := newProtocolProvider(t)
	p.configure(map[string]any{
		"backup_dir": e.backupDir, "ca_cert_pem": string(e.ca.CertPEM), "max_retries": 0,
		"aruba": map[string]any{"username": testArubaUser, "password": testArubaPass},
		"ilo":   map[string]any{"username": testILOUser, "password": testILOPass},
	})
	for _, tc := range []struct {
		typ, token string
		host       string
		port       int
		stats      *devicesim.Stats
		live       func(token string) bool
	}{
		{"infrabackup_aruba_session", "uidaruba", mc.Host, mc.Port, &mc.Conductor.Stats,
			func(uid string) bool { _, ok := mc.Conductor.Sessions.Get(uid); return ok }},
		{"infrabackup_ilo_session", "x_auth_token", ilo.Host, ilo.Port, &ilo.ILO.Stats,
			func(tok string) bool { _, ok := ilo.ILO.Sessions.GetByToken(tok); return ok }},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			typ := p.objectType(p.schemas.EphemeralResourceSchemas[tc.typ], tc.typ)
			open := func() (token string, private []byte) {
				t.Helper()
				config := p.object(typ, map[string]any{"host": tc.host, "port": tc.port, "keepalive_interval": "8m"})
				before := time.Now()
				resp, err := p.srv.OpenEphemeralResource(t.Context(), &tfprotov6.OpenEphemeralResourceRequest{TypeName: tc.typ, Config: p.dynamic(typ, config)})
				if err != nil {
					t.Fatal(err)
				}
				noErrors(t, "open", resp.Diagnostics)
				if resp.RenewAt.Before(before.Add(8*time.Minute)) || resp.RenewAt.After(time.Now().Add(8*time.Minute)) {
					t.Fatalf("RenewAt = %v, want 8 minutes after the open", resp.RenewAt)
				}
				result, err := resp.Result.Unmarshal(typ)
				if err != nil {
					t.Fatal(err)
				}
				var attrs map[string]tftypes.Value
				if err := result.As(&attrs); err != nil {
					t.Fatal(err)
				}
				if err := attrs[tc.token].As(&token); err != nil || token == "" {
					t.Fatalf("%s: %q (%v)", tc.token, token, err)
				}
				return token, resp.Private
			}
			renew := func(private []byte) []*tfprotov6.Diagnostic {
				resp, err := p.srv.RenewEphemeralResource(t.Context(), &tfprotov6.RenewEphemeralResourceRequest{TypeName: tc.typ, Private: private})
				if err != nil {
					t.Fatal(err)
				}
				return resp.Diagnostics
			}
			kept, keptPrivate := open()
			left, leftPrivate := open()
			for range 2 {
				clock.Advance(8 * time.Minute)
				noErrors(t, "renew", renew(keptPrivate))
			}
			clock.Advance(8 * time.Minute) // 24 minutes after the opens
			if !tc.live(kept) {
				t.Fatal("the renewed session expired")
			}
			if tc.live(left) {
				t.Fatal("the session that was not renewed is still open: the clock did not pass its idle timeout")
			}
			logins := tc.stats.Snapshot().Logins
			diags := renew(leftPrivate)
			if len(diags) == 0 || diags[0].Severity != tfprotov6.DiagnosticSeverityError || !strings.Contains(diags[0].Summary, "alive failed") ||
				!strings.Contains(diags[0].Detail, "ended the session") {
				t.Fatalf("renewing an expired session: %+v, want an error saying keeping it alive failed because the device ended the session", diags)
			}
			if got := tc.stats.Snapshot().Logins; got != logins {
				t.Errorf("renewing an expired session logged in again (%d logins, before %d)", got, logins)
			}
			for _, private := range [][]byte{keptPrivate, leftPrivate} {
				resp, err := p.srv.CloseEphemeralResource(t.Context(), &tfprotov6.CloseEphemeralResourceRequest{TypeName: tc.typ, Private: private})
				if err != nil {
					t.Fatal(err)
				}
				noErrors(t, "close", resp.Diagnostics)
			}
			if tc.live(kept) {
				t.Error("closing did not log the renewed session out")
			}
		})
	}
}

// noErrors fails the test on any error among diags.
func noErrors(t *testing.T, what string, diags []*tfprotov6.Diagnostic) {
	t.Helper()
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("%s: %s: %s", what, d.Summary, d.Detail)
		}
	}
}
