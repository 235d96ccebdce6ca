package aruba

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

// A 401/403 is a session expiry only when the device says so. A conductor that
// refuses a command for the user's role answers 403 with its own words: that is what
// the user must see, with one login and one logout, and nothing repeated.
func TestPermissionRefusalIsNotAnExpiry(t *testing.T) {
	const refusal = "the role of user api-admin does not allow this command"
	for _, status := range []int{http.StatusForbidden, http.StatusUnauthorized} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var refused atomic.Int32
			cond, c := startIntercepted(t, sim.Config{}, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if !strings.HasSuffix(r.URL.Path, "/copy_running_flash") {
					return false
				}
				refused.Add(1)
				writeBody(w, status, "application/json", globalResult(1, refusal))
				return true
			})
			err := run(c, func(ctx context.Context) error { return c.CopyRunningToFlash(ctx, "/md", "x.cfg") })
			de := deviceError(t, err)
			if !strings.Contains(de.Message, refusal) || strings.Contains(err.Error(), "no longer valid") {
				t.Fatalf("error %q does not carry the device's refusal", err)
			}
			if errors.Is(err, client.ErrSessionExpired) || de.HTTPStatus != status {
				t.Fatalf("error %v (HTTP %d) is taken for an expired session", err, de.HTTPStatus)
			}
			if status == http.StatusForbidden && !strings.Contains(de.Hint, "role") {
				t.Errorf("hint %q does not point at the user's role", de.Hint)
			}
			st := cond.Stats.Snapshot()
			if st.Logins != 1 || st.Logouts != 1 || refused.Load() != 1 {
				t.Fatalf("logins=%d logouts=%d refused calls=%d, want 1 1 1", st.Logins, st.Logouts, refused.Load())
			}
		})
	}
}

// A device (or a proxy in front of it) can say a session expired while the conductor
// still holds it: the old session is logged out before the new login, so none is
// left behind.
func TestExpiredSessionIsLoggedOutBeforeReLogin(t *testing.T) {
	for name, answer := range map[string]func(w http.ResponseWriter){
		"401 with the expiry text": func(w http.ResponseWriter) {
			writeBody(w, http.StatusUnauthorized, "application/json", globalResult(1, "Invalid authentication token(UIDARUBA) in request URL"))
		},
		"403 with no text": func(w http.ResponseWriter) { writeBody(w, http.StatusForbidden, "application/json", "") },
		"200 with the expiry text": func(w http.ResponseWriter) {
			writeBody(w, http.StatusOK, "application/json", globalResult(1, "You must authenticate yourself"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			var once atomic.Bool
			cond, c := startIntercepted(t, sim.Config{Name: "mc-x"}, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if r.URL.Path != "/v1/configuration/showcommand" || once.Swap(true) {
					return false
				}
				answer(w)
				return true
			})
			var host string
			err := run(c, func(ctx context.Context) (err error) { host, err = c.Hostname(ctx); return err })
			if err != nil || host != "mc-x" {
				t.Fatalf("%q %v", host, err)
			}
			st := cond.Stats.Snapshot()
			if st.Logins != 2 || st.Logouts != 2 || st.OpenSessions != 0 {
				t.Fatalf("logins=%d logouts=%d open=%d, want 2 2 0", st.Logins, st.Logouts, st.OpenSessions)
			}
		})
	}
}

// A login whose answer is lost is sent again by the transport; the session the first
// one opened cannot be logged out (its UIDARUBA never arrived): it is reported.
func TestLostLoginAnswerIsReported(t *testing.T) {
	var dropped atomic.Bool
	var cond *sim.Conductor
	cond, c := startIntercepted(t, sim.Config{}, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if r.URL.Path != "/v1/api/login" || dropped.Swap(true) {
			return false
		}
		cond.Handler().ServeHTTP(httptest.NewRecorder(), r) // the conductor logs in...
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close() // ...and the answer is lost
		}
		return true
	})
	var logs bytes.Buffer
	ctx := tflog.NewSubsystem(tflogtest.RootLogger(context.Background(), &logs), client.Subsystem)
	if err := client.With(ctx, c.Session(), func(ctx context.Context) error { _, err := c.Hostname(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	st := cond.Stats.Snapshot()
	if st.Logins != 2 || st.Logouts != 1 || cond.OpenSessions() != 1 {
		t.Fatalf("logins=%d logouts=%d open=%d, want 2 1 1", st.Logins, st.Logouts, cond.OpenSessions())
	}
	if !strings.Contains(logs.String(), "idle timeout") || !strings.Contains(logs.String(), `"lost_answers":1`) {
		t.Fatalf("no warning about the orphaned session; log:\n%s", logs.String())
	}
	cond.ExpireAllSessions() // the idle timeout, for the end-of-test check
}
