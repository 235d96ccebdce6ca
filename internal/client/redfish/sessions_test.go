package redfish

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// startWrappedSim serves a simulated iLO behind wrap and returns it with a Client.
// Unlike startSim it does not check for open sessions at the end: the tests check
// the counters themselves.
func startWrappedSim(t *testing.T, cfg ilo.Config, wrap func(next http.Handler) http.Handler) (*ilo.ILO, *Client) {
	t.Helper()
	d := ilo.New(cfg)
	l, err := testkit.CA(t).Listen("")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: wrap(d.Handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	host, portText, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(portText)
	c, err := New(httpClient(t, testkit.CA(t).CertPEM), Config{Host: host, Port: port, Username: d.Username(), Password: d.Password()})
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// rewriteLogin lets the simulator answer a login, then rewrites the answer's
// Location header and, with dropBodyID, removes the session's @odata.id from the body.
func rewriteLogin(location func(orig string) string, dropBodyID bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.EqualFold(strings.TrimRight(r.URL.Path, "/"), "/redfish/v1/SessionService/Sessions") {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			if loc := location(rec.Header().Get("Location")); loc == "" {
				w.Header().Del("Location")
			} else {
				w.Header().Set("Location", loc)
			}
			body := rec.Body.Bytes()
			if dropBodyID {
				var doc map[string]any
				if json.Unmarshal(body, &doc) == nil {
					delete(doc, "@odata.id")
					body, _ = json.Marshal(doc)
				}
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}
}

// A login answer without a usable Location still issued a session (the token came
// with it): it is found another way (the body's @odata.id, else the Sessions
// collection entry marked MySession) and either used or logged out, never left open.
func TestLoginWithoutUsableLocationLeavesNoSession(t *testing.T) {
	traversal := func(orig string) string {
		i := strings.Index(orig, "/redfish/")
		return orig[:i] + "/redfish/v1/SessionService/Sessions/../../../x/"
	}
	none := func(string) string { return "" }
	for _, tc := range []struct {
		name       string
		location   func(string) string
		dropBodyID bool
		wantErr    string // "" = the login works
	}{
		{"no Location, @odata.id in the body", none, false, ""},
		{"no Location and no @odata.id", none, true, ""},
		{"unsafe Location, @odata.id in the body", traversal, false, "unsafe session Location"},
		{"unsafe Location and no @odata.id", traversal, true, "unsafe session Location"},
		{"Location not a URL", func(string) string { return "%zz" }, true, "not a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, c := startWrappedSim(t, ilo.Config{Name: "loc"}, rewriteLogin(tc.location, tc.dropBodyID))
			ctx := testCtx(t)
			err := client.With(ctx, c.Session(), func(ctx context.Context) error {
				_, err := c.Discover(ctx)
				return err
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			st := d.Stats.Snapshot()
			if st.Logins != 1 || st.Logouts != 1 || d.OpenSessions() != 0 {
				t.Fatalf("logins=%d logouts=%d open=%d, want 1 1 0", st.Logins, st.Logouts, d.OpenSessions())
			}
		})
	}
}

// dropFirstLoginAnswer lets the simulator create the first session, then closes the
// connection instead of answering: the answer (and its token) is lost.
func dropFirstLoginAnswer(next http.Handler) http.Handler {
	var dropped atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(strings.ToLower(r.URL.Path), "/sessions") && !dropped.Swap(true) {
			next.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The transport sends a login again when its answer was lost; the device may then
// hold a session nobody can log out. It is counted and logged as a warning that says
// the session stays open until the device's idle timeout.
func TestLostLoginAnswerIsReported(t *testing.T) {
	d, c := startWrappedSim(t, ilo.Config{Name: "lost"}, dropFirstLoginAnswer)
	var logs bytes.Buffer
	ctx := tflog.NewSubsystem(tflogtest.RootLogger(testCtx(t), &logs), client.Subsystem)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		_, err := c.Discover(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st := d.Stats.Snapshot()
	if st.Logins != 2 || st.Logouts != 1 || d.OpenSessions() != 1 {
		t.Fatalf("logins=%d logouts=%d open=%d, want 2 1 1 (one orphaned by the lost answer)", st.Logins, st.Logouts, d.OpenSessions())
	}
	entries, err := tflogtest.MultilineJSONDecode(&logs)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		msg, _ := e["@message"].(string)
		if e["@level"] == "warn" && strings.Contains(msg, "idle timeout") && e["lost_answers"] == float64(1) && e["device"] == c.Device() {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning about the session left open; log:\n%s", logs.String())
	}
	d.ExpireAllSessions()
}
