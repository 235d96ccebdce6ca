package provider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// TestAccArubaBackup_secretsNeverLeak runs a full backup with SCP under TF_LOG=trace
// and checks that neither the state nor the log holds a password or a session token.
func TestAccArubaBackup_secretsNeverLeak(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)

	// Secrets come from the environment, as in a CI pipeline: the Aruba credentials
	// through the provider's env fallbacks, the SCP password through an ephemeral
	// variable. (A literal in the test's HCL would be logged by the test harness
	// itself, which says nothing about the provider.)
	t.Setenv(EnvArubaUsername, testArubaUser)
	t.Setenv(EnvArubaPassword, testArubaPass)
	t.Setenv("TF_VAR_scp_password", testSCPPass)

	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-secrets", nil)
	config := hclConfig(
		e.provider(unset("aruba")),
		ephemeralVariable("scp_password"),
		arubaBackup(c, e.scp(set("password_wo", expr("var.scp_password")))),
	)
	if strings.Contains(config, testArubaPass) || strings.Contains(config, testSCPPass) {
		t.Fatalf("the test configuration must not hold the secrets literally:\n%s", config)
	}
	var stateDump string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check:  captureState(&stateDump, "files.2.sha256"),
		}},
	})
	// The log must really hold the provider's own device traffic before its absence
	// of secrets means anything.
	log := readTraceLog(t, logFile, "infrabackup.client: request done", "/v1/api/login", "copy_flash_scp")
	secrets := map[string]string{"aruba password": testArubaPass, "scp password": testSCPPass}
	for i, tok := range c.Conductor.IssuedTokens() {
		secrets[fmt.Sprintf("session token %d", i)] = tok
	}
	if len(secrets) < 4 {
		t.Fatalf("expected the conductor to have issued a session id and a CSRF token, got %d secrets", len(secrets))
	}
	assertNamedAbsent(t, log, stateDump, secrets)
	if m := regexp.MustCompile(`UIDARUBA=[0-9a-f]`).FindString(log); m != "" {
		t.Errorf("the trace log contains an unmasked UIDARUBA parameter")
	}
}

// addConductorWrapped starts a conductor whose handler is wrapped by wrap, to make it
// misbehave (echo secrets, refuse a call).
func (e *simEnv) addConductorWrapped(name string, wrap func(c *arubasim.Conductor, next http.Handler) http.Handler) *arubasim.Server {
	e.t.Helper()
	cfg := arubasim.Config{Name: name, Username: testArubaUser, Password: testArubaPass}
	if e.sftp != nil {
		cfg.SCPPort = e.sftp.Port()
	}
	cond := arubasim.New(cfg)
	l, err := e.ca.Listen("")
	if err != nil {
		e.t.Fatal(err)
	}
	srv, err := devicesim.Serve(l, wrappedDevice{Device: cond, handler: wrap(cond, cond.Handler())}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(srv.Close)
	s := &arubasim.Server{Server: srv, Conductor: cond}
	e.conductors = append(e.conductors, s)
	return s
}

// wrappedDevice serves a simulated device through another handler.
type wrappedDevice struct {
	devicesim.Device
	handler http.Handler
}

func (w wrappedDevice) Handler() http.Handler { return w.handler }

// echoText is what a hostile or broken device answers: every secret it was sent, in
// the forms devices use (as is, in a URL, JSON-escaped, in an HTML input).
func echoText(secrets ...string) string {
	var b strings.Builder
	for _, s := range secrets {
		fmt.Fprintf(&b, "rejected %s; url=/x?v=%s; json={\"v\":%q}; <input name=\"v\" value=\"%s\"> ", s, url.QueryEscape(s), s, s)
	}
	return b.String()
}

// TestAccSecrets_echoedByDevicesReachNoDiagnosticLogOrState: devices that echo every
// secret they were sent (passwords, session ids, CSRF tokens, X-Auth-Tokens) into
// answers that become error and warning diagnostics: terraform-plugin-go logs every
// diagnostic's text, so neither the TF_LOG=trace log nor the state may hold any.
func TestAccSecrets_echoedByDevicesReachNoDiagnosticLogOrState(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TMPDIR", tmp) // the harness's working folders, with their state files
	t.Setenv(EnvArubaUsername, testArubaUser)
	t.Setenv(EnvArubaPassword, testArubaPass)
	t.Setenv(EnvILOUsername, testILOUser)
	t.Setenv(EnvILOPassword, testILOPass)
	t.Setenv("TF_VAR_scp_password", testSCPPass)

	e := newSimEnv(t)
	e.startSFTP()
	// mc-warn backs up fine, then answers the logout with an echo: a warning.
	warn := e.addConductorWrapped("mc-warn", func(c *arubasim.Conductor, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/api/logout" {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, echoText(r.URL.Query().Get("UIDARUBA"), r.Header.Get("X-CSRF-Token"), testArubaPass))
		})
	})
	// mc-fail refuses copy_flash_scp echoing everything it was sent: an error.
	fail := e.addConductorWrapped("mc-fail", func(c *arubasim.Conductor, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/copy_flash_scp") {
				next.ServeHTTP(w, r)
				return
			}
			var f map[string]string
			_ = json.NewDecoder(r.Body).Decode(&f)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"_global_result": map[string]any{"status": "2",
				"status_str": "Error copying file: " + echoText(f["passwd"], r.URL.Query().Get("UIDARUBA"), r.Header.Get("X-CSRF-Token"), testArubaPass)}})
		})
	})
	// The iLO backs up fine, then answers the session DELETE with an echo: a warning.
	tokens := &tokenRecorder{}
	d := e.addILOWrapped("ilo-echo", nil, func(il *ilosim.ILO, next http.Handler) http.Handler {
		next = tokens.wrap(il, next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodDelete {
				next.ServeHTTP(w, r)
				return
			}
			tok := r.Header.Get("X-Auth-Token")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "iLO.0.10.ExtendedInfo",
				"@Message.ExtendedInfo": []any{map[string]any{"MessageId": "Base.1.18.PropertyValueFormatError",
					"MessageArgs": []string{tok, testILOPass}, "Message": echoText(tok, testILOPass)}}}})
		})
	})

	// Credentials come from the environment and a TF_VAR: never in the configuration.
	backups := []*block{
		e.provider(unset("aruba"), unset("ilo")),
		ephemeralVariable("scp_password"),
		arubaBackup(warn, named("warn")),
		iloBackup(d),
	}
	base := hclConfig(backups...)
	failing := hclConfig(append(backups, arubaBackup(fail, named("fail"), e.scp(set("password_wo", expr("var.scp_password")))))...)
	if strings.Contains(failing, testArubaPass) || strings.Contains(failing, testSCPPass) || strings.Contains(failing, testILOPass) {
		t.Fatal("the test configuration must not hold the secrets literally")
	}
	var states []string
	readState := func(*terraform.State) error {
		text, n := readTree(t, tmp, "terraform.tfstate")
		if n == 0 || !strings.Contains(text, "infrabackup_aruba_conductor_backup") {
			return fmt.Errorf("found no state file with the backups under %s", tmp)
		}
		states = append(states, text)
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: base, Check: resource.ComposeTestCheckFunc(
				resource.TestCheckResourceAttrSet("infrabackup_aruba_conductor_backup.warn", "files.0.sha256"),
				resource.TestCheckResourceAttrSet("infrabackup_ilo_backup.ilo", "sha256"),
				readState)},
			{Config: failing, ExpectError: regexp.MustCompile(`copy .* to SCP server failed`)},
			{Config: base, Check: readState}, // the state as the failed apply left it
		},
	})

	warn.Conductor.ExpireAllSessions() // its logouts were refused; the idle timeout ends them
	d.ILO.ExpireAllSessions()
	secrets := append([]string{testArubaPass, testSCPPass, testILOPass}, tokens.all()...)
	secrets = append(secrets, warn.Conductor.IssuedTokens()...)
	secrets = append(secrets, fail.Conductor.IssuedTokens()...)
	if len(secrets) < 3+1+2+2 { // the passwords, an X-Auth-Token, two UIDARUBA and CSRF token pairs
		t.Fatalf("too few secrets issued to mean anything: %d", len(secrets))
	}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, url.QueryEscape(s))
	}
	// The log must hold the diagnostics (with the masked echoes) for their absence of
	// secrets to mean anything.
	text := readTraceLog(t, logFile, "Response contains warning diagnostic", "Response contains error diagnostic", "rejected ***")
	assertNoSecrets(t, "the trace log", text, forms...)
	if len(states) != 2 {
		t.Fatalf("%d state checks ran, want 2", len(states))
	}
	assertNoSecrets(t, "the state file", strings.Join(states, "\n"), forms...)
	// The failure of mc-fail is recorded in the store, with the echo masked.
	records, n := readFailureRecords(t, e.backupDir)
	if n != 1 || !strings.Contains(records, "copy ") || !strings.Contains(records, "***") {
		t.Fatalf("want one failure record with the masked echo, got %d: %s", n, records)
	}
	assertNoSecrets(t, "the failure record", records, forms...)
}

// readFailureRecords concatenates every failure record under root and counts them.
func readFailureRecords(t *testing.T, root string) (string, int) {
	t.Helper()
	var b strings.Builder
	n := 0
	for _, p := range testkit.FilesUnder(t, root) {
		if !strings.HasSuffix(p, ".failed.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		n++
	}
	return b.String(), n
}
