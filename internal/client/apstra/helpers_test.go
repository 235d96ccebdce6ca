package apstra

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

const (
	simUser = "backup-ops"
	simPass = "Apstra Pa55,word&\"x" // a space, a comma, '&' and a quote: all must stay out of errors
)

var epoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// httpClient trusts the simulators' CA and retries fast.
func httpClient(t *testing.T) *client.Client {
	t.Helper()
	hc, err := client.New(client.Config{
		CACertPEM:      string(testkit.CA(t).CertPEM),
		RetryMax:       2,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
		RequestTimeout: 30 * time.Second,
		UserAgent:      "terraform-provider-infrabackup/test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// fixture is a simulated Apstra and a client of it.
type fixture struct {
	srv   *sim.Server
	a     *sim.Apstra
	clock *devicesim.ManualClock
	c     *Client
}

// startSim serves an Apstra on a manual clock and checks, when the test ends, that
// no session was left open on it.
func startSim(t *testing.T, cfg sim.Config) *fixture {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = simUser
	}
	if cfg.Password == "" {
		cfg.Password = simPass
	}
	clock := devicesim.NewManualClock(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	srv, err := sim.Start(testkit.CA(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // runs before srv.Close
		if n := srv.Apstra.OpenSessions(); n != 0 {
			t.Errorf("%d sessions left open on the server", n)
		}
	})
	return &fixture{srv: srv, a: srv.Apstra, clock: clock, c: clientFor(t, srv.Host, srv.Port, cfg.Password)}
}

func clientFor(t *testing.T, host string, port int, password string) *Client {
	t.Helper()
	c, err := New(httpClient(t), Config{Host: host, Port: port, Username: simUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs fn in one session, the way the provider does.
func run(c *Client, fn func(ctx context.Context) error) error {
	return client.With(context.Background(), c.Session(), fn)
}

// interceptor answers a request itself (returning true) or lets the simulator answer.
type interceptor func(w http.ResponseWriter, r *http.Request, body []byte) bool

// startIntercepted serves a simulated Apstra behind intercept.
func startIntercepted(t *testing.T, cfg sim.Config, intercept interceptor) *fixture {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = simUser
	}
	if cfg.Password == "" {
		cfg.Password = simPass
	}
	clock := devicesim.NewManualClock(epoch)
	cfg.Clock = clock
	a := sim.New(cfg)
	h := a.Handler()
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
		if n := a.OpenSessions(); n != 0 {
			t.Errorf("%d sessions left open on the server", n)
		}
	})
	u, _ := url.Parse(ts.URL)
	port, _ := strconv.Atoi(u.Port())
	return &fixture{a: a, clock: clock, c: clientFor(t, u.Hostname(), port, cfg.Password)}
}

// secretsOf are the secrets a test watches for: the password, every token the
// server issued and each token's payload and signature.
func secretsOf(a *sim.Apstra) []string {
	out := []string{simPass, "Pa55,word"}
	for _, tok := range a.IssuedTokens() {
		out = append(out, tok)
		if parts := strings.Split(tok, "."); len(parts) == 3 {
			out = append(out, parts[1], parts[2])
		}
	}
	return out
}

// noSecrets fails when text holds any watched secret.
func noSecrets(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("text holds a secret (%.20q...): %s", s, text)
		}
	}
}

func deviceError(t *testing.T, err error) *client.DeviceError {
	t.Helper()
	var de *client.DeviceError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a DeviceError", err, err)
	}
	return de
}
