package aruba

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// interceptor answers a request itself (returning true) or lets the simulator answer.
// body is the request body, already read.
type interceptor func(w http.ResponseWriter, r *http.Request, body []byte) bool

// startIntercepted serves a simulated conductor behind intercept and returns the
// simulator and a client logging in with password.
func startIntercepted(t *testing.T, cfg sim.Config, intercept interceptor) (*sim.Conductor, *Conductor) {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = simUser
	}
	if cfg.Password == "" {
		cfg.Password = simPass
	}
	cond := sim.New(cfg)
	h := cond.Handler()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if intercept != nil && intercept(w, r, body) {
			return
		}
		h.ServeHTTP(w, r)
	}))
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
	return cond, conductorFor(t, u.Hostname(), port, cfg.Password)
}

func writeBody(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func globalResult(status int, msg string) string {
	b, _ := json.Marshal(map[string]any{"_global_result": map[string]any{"status": strconv.Itoa(status), "status_str": msg}})
	return string(b)
}

// assertScrubbed fails when text holds any of secrets, or shows no mask.
func assertScrubbed(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("text holds a secret (%q): %s", s, text)
		}
		// A secret cut short by truncation must not survive either.
		if len(s) > 12 && strings.Contains(text, s[:12]) {
			t.Errorf("text holds the start of a secret (%q): %s", s[:12], text)
		}
	}
	if !strings.Contains(text, client.Mask) {
		t.Errorf("text shows no mask where the device echoed a secret: %s", text)
	}
}

// A conductor (or a proxy in front of it) that echoes what it was sent must not get
// any secret into an error: the API password (with two spaces in a row, longer than
// any snippet), the SCP password, the session id and the CSRF token.
func TestEchoedSecretsNeverInErrors(t *testing.T) {
	apiPass := "correct  horse " + strings.Repeat("Xy7", 40) // two spaces, 135 characters
	const scpPassword = "scp  Pa55 &; word"
	scp := startSFTP(t, scpPassword)

	type echoCase struct {
		name      string
		intercept func(cond *sim.Conductor) interceptor
		op        func(ctx context.Context, c *Conductor) error
	}
	loginEcho := func(status int, contentType string, page func(pw string) string) func(*sim.Conductor) interceptor {
		return func(*sim.Conductor) interceptor {
			return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if r.URL.Path != "/v1/api/login" {
					return false
				}
				form, _ := url.ParseQuery(string(body))
				writeBody(w, status, contentType, page(form.Get("password")))
				return true
			}
		}
	}
	sessionEcho := func(path string, status int, contentType string, page func(uid, csrf string) string) func(*sim.Conductor) interceptor {
		return func(*sim.Conductor) interceptor {
			return func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if r.URL.Path != path {
					return false
				}
				writeBody(w, status, contentType, page(r.URL.Query().Get("UIDARUBA"), r.Header.Get("X-CSRF-Token")))
				return true
			}
		}
	}
	hostname := func(ctx context.Context, c *Conductor) error { _, err := c.Hostname(ctx); return err }
	cases := []echoCase{
		{"login status_str echoes the password", loginEcho(200, "application/json", func(pw string) string {
			return globalResult(1, "Authentication failed for password "+pw)
		}), hostname},
		{"login HTML page echoes the password in its title", loginEcho(401, "text/html", func(pw string) string {
			return "<html><head><title>Access denied for admin with " + pw + "</title></head></html>"
		}), hostname},
		{"login plain text echoes the URL-encoded form", loginEcho(400, "text/plain", func(pw string) string {
			return "bad request body: username=" + simUser + "&password=" + url.QueryEscape(pw) + " refused"
		}), hostname},
		{"show answer echoes UIDARUBA and CSRF token", sessionEcho("/v1/configuration/showcommand", 400, "text/plain", func(uid, csrf string) string {
			return "request with session " + uid + " and csrf " + csrf + " is malformed"
		}), hostname},
		{"configuration error echoes UIDARUBA and CSRF token as JSON", sessionEcho("/v1/configuration/object/copy_running_flash", 200, "application/json", func(uid, csrf string) string {
			b, _ := json.Marshal(map[string]string{"Error": "copy_running_flash: session " + uid + " (" + csrf + ") is read-only"})
			return string(b)
		}), func(ctx context.Context, c *Conductor) error { return c.CopyRunningToFlash(ctx, "/md", "x.cfg") }},
		{"hostname echoes the session id", sessionEcho("/v1/configuration/showcommand", 200, "application/json", func(uid, _ string) string {
			return `{"_data":["Hostname is mc-` + uid + `"]}`
		}), hostname},
		{"copy_flash_scp failure echoes the SCP password", func(*sim.Conductor) interceptor {
			return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if !strings.HasSuffix(r.URL.Path, "/copy_flash_scp") {
					return false
				}
				var f map[string]string
				_ = json.Unmarshal(body, &f)
				writeBody(w, 200, "application/json", globalResult(2, fmt.Sprintf("Error copying file: scp %s@%s password %s: permission denied", f["username"], f["scphost"], f["passwd"])))
				return true
			}
		}, func(ctx context.Context, c *Conductor) error {
			return c.CopyFlashToSCP(ctx, "/md", SCPCopy{SourceFile: sim.FlashStartupConfig, Host: "127.0.0.1", Username: scpUser, Password: scpPassword, DestFile: "x.cfg"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cond *sim.Conductor
			var c *Conductor
			cond, c = startIntercepted(t, sim.Config{Password: apiPass, SCPPort: scp.Port()}, func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				return tc.intercept(cond)(w, r, body)
			})
			err := run(c, func(ctx context.Context) error { return tc.op(ctx, c) })
			if err == nil {
				t.Fatal("the operation succeeded")
			}
			assertScrubbed(t, err.Error(), append([]string{apiPass, scpPassword}, cond.IssuedTokens()...)...)
		})
	}
}
