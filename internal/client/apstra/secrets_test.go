package apstra

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

// claimsOf decodes a simulator token's claims.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A server (or a proxy in front of it) that echoes what it was sent must not get the
// password, the token, the token's parts or its session claim into an error or a log
// line, in any form.
func TestEchoedSecretsNeverInErrorsOrLogs(t *testing.T) {
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	echoToken := func(path string, status int, page func(tok string, claims map[string]any) (string, string)) func(*testing.T) interceptor {
		return func(t *testing.T) interceptor {
			return func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				tok := r.Header.Get("AuthToken")
				if tok == "" || !strings.HasSuffix(r.URL.Path, path) {
					return false
				}
				ctype, body := page(tok, claimsOf(t, tok))
				w.Header().Set("Content-Type", ctype)
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
				return true
			}
		}
	}
	blueprints := func(ctx context.Context, c *Client) error { _, err := c.Blueprints(ctx); return err }
	cases := []struct {
		name      string
		intercept func(*testing.T) interceptor
		op        func(ctx context.Context, c *Client) error
	}{
		{"refused login echoes the password", func(*testing.T) interceptor {
			return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if r.URL.Path != "/api/aaa/login" {
					return false
				}
				var creds map[string]string
				_ = json.Unmarshal(body, &creds)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"errors": "Invalid credentials: " + creds["password"]})
				return true
			}
		}, blueprints},
		{"login answer with a bad body echoes the request", func(*testing.T) interceptor {
			return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if r.URL.Path != "/api/aaa/login" {
					return false
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write(append([]byte("<not json> you sent "), body...))
				return true
			}
		}, blueprints},
		{"call error echoes the token", echoToken("/api/blueprints", http.StatusBadRequest, func(tok string, _ map[string]any) (string, string) {
			b, _ := json.Marshal(map[string]string{"errors": "bad request with AuthToken " + tok})
			return "application/json", string(b)
		}), blueprints},
		{"HTML page echoes the token's payload in its title", echoToken("/api/blueprints", http.StatusBadGateway, func(tok string, _ map[string]any) (string, string) {
			return "text/html", "<html><head><title>proxy refused " + strings.Split(tok, ".")[1] + "</title></head></html>"
		}), blueprints},
		{"422 object errors echo the session claim and signature", echoToken("/api/blueprints", http.StatusUnprocessableEntity, func(tok string, claims map[string]any) (string, string) {
			b, _ := json.Marshal(map[string]any{"error_code": 422, "errors": map[string]any{
				"session": []string{"session " + claims["user_session"].(string) + " unknown"}, "sig": strings.Split(tok, ".")[2],
			}})
			return "application/json", string(b)
		}), blueprints},
		{"401 on every call echoes the token", echoToken("/api/blueprints", http.StatusUnauthorized, func(tok string, _ map[string]any) (string, string) {
			b, _ := json.Marshal(map[string]string{"errors": "token " + tok + " expired"})
			return "application/json", string(b)
		}), blueprints},
		{"a failed logout echoes the token", echoToken("/api/aaa/logout", http.StatusInternalServerError, func(tok string, _ map[string]any) (string, string) {
			return "text/plain", "logout of " + tok + " failed"
		}), func(context.Context, *Client) error { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f *fixture
			intercept := tc.intercept(t)
			var loggedOut atomic.Bool
			f = startIntercepted(t, sim.Config{}, func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				if intercept(w, r, body) {
					if r.URL.Path == "/api/aaa/logout" && loggedOut.CompareAndSwap(false, true) {
						// Free the slot behind the broken logout, for the end-of-test check.
						f.a.ExpireAllSessions()
					}
					return true
				}
				return false
			})
			var logs bytes.Buffer
			ctx := tflog.NewSubsystem(tflogtest.RootLogger(context.Background(), &logs), client.Subsystem)
			err := client.With(ctx, f.c.Session(), func(ctx context.Context) error { return tc.op(ctx, f.c) })
			if err == nil {
				t.Fatal("the operation succeeded")
			}
			watched := secretsOf(f.a)
			for _, tok := range f.a.IssuedTokens() {
				watched = append(watched, claimsOf(t, tok)["user_session"].(string))
			}
			noSecrets(t, err.Error(), watched)
			noSecrets(t, logs.String(), watched)
			if !strings.Contains(err.Error(), client.Mask) && !strings.Contains(err.Error(), "HTML") {
				t.Errorf("no mask where the server echoed a secret: %s", err)
			}
			f.a.ExpireAllSessions() // sessions behind a failing logout
		})
	}
}
