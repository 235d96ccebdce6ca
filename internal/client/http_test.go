package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// fastConfig retries quickly, so the tests measure behaviour, not backoff.
func fastConfig() client.Config {
	return client.Config{
		RetryMax:       3,
		RetryWaitMin:   time.Millisecond,
		RetryWaitMax:   5 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
		UserAgent:      "terraform-provider-infrabackup/test",
	}
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// trusting returns cfg trusting srv's self-signed certificate.
func trusting(srv *httptest.Server, cfg client.Config) client.Config {
	cfg.CACertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return cfg
}

// recorder is a handler that counts requests and answers with the next scripted step.
type recorder struct {
	mu     sync.Mutex
	times  []time.Time
	bodies []string
	agents []string
	steps  []func(w http.ResponseWriter, r *http.Request) // the last one repeats
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := len(rec.times)
	rec.times = append(rec.times, time.Now())
	rec.bodies = append(rec.bodies, string(body))
	rec.agents = append(rec.agents, r.Header.Get("User-Agent"))
	step := rec.steps[min(n, len(rec.steps)-1)]
	rec.mu.Unlock()
	step(w, r)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.times)
}

func status(code int, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

// drop closes the connection without answering.
func drop(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func startTLS(t *testing.T, h http.Handler, configure ...func(*httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point of some tests
	for _, f := range configure {
		f(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, c *client.Client, ctx context.Context, method, url string, body string) (*http.Response, error) {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rdr)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGETRetriedOn503(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		status(http.StatusServiceUnavailable), status(http.StatusServiceUnavailable), status(http.StatusOK),
	}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	start := time.Now()
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || readAll(t, resp) != "OK" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("server saw %d requests, want 3 (two 503s retried)", n)
	}
	// Without Retry-After the configured (tiny) backoff applies.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("retries took %s with a 1-5 ms backoff", d)
	}
}

func TestGETHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		status(http.StatusServiceUnavailable, "Retry-After", "1"), status(http.StatusOK),
	}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rec.count() != 2 {
		t.Fatalf("status %d after %d requests", resp.StatusCode, rec.count())
	}
	rec.mu.Lock()
	gap := rec.times[1].Sub(rec.times[0])
	rec.mu.Unlock()
	if gap < 900*time.Millisecond {
		t.Fatalf("retried after %s; the device asked for Retry-After: 1 (the configured wait is 1-5 ms)", gap)
	}
}

func TestRetryAfterWaitEndsWithContext(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){status(http.StatusServiceUnavailable, "Retry-After", "60")}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := do(t, c, ctx, http.MethodGet, srv.URL+"/x", "")
	if err == nil {
		resp.Body.Close()
		t.Fatal("expected the context's deadline to end the wait")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waited %s; the context allowed 200 ms", d)
	}
	if n := rec.count(); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
}

// A Retry-After longer than MaxRetryAfter (an address banned for minutes) is not
// waited for: the answer goes back to the caller at once, which can say when to try
// again. Shorter ones are honoured (TestGETHonoursRetryAfter).
func TestRetryAfterBeyondMaxIsNotWaitedFor(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"180", time.Now().Add(3 * time.Minute).UTC().Format(http.TimeFormat)} {
		rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
			status(http.StatusTooManyRequests, "Retry-After", retryAfter), status(http.StatusOK),
		}}
		srv := startTLS(t, rec)
		cfg := fastConfig()
		cfg.MaxRetryAfter = time.Minute
		c := newClient(t, trusting(srv, cfg))
		start := time.Now()
		resp, err := do(t, c, client.Repeatable(context.Background()), http.MethodPost, srv.URL+"/login", "{}")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || rec.count() != 1 || time.Since(start) > 5*time.Second {
			t.Fatalf("Retry-After %s: status %d after %d requests and %s", retryAfter, resp.StatusCode, rec.count(), time.Since(start))
		}
	}
}

func TestGETRetriedOnDroppedConnection(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){drop, status(http.StatusOK)}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rec.count() != 2 {
		t.Fatalf("status %d after %d requests, want 200 after 2", resp.StatusCode, rec.count())
	}
}

// When the retries are used up, the device's last answer is returned (its status and
// body are what the caller reports), not an error that drops the response.
func TestGETGivesUpWithTheLastAnswer(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<html><title>500 Internal Server Error</title></html>")
		},
	}}
	srv := startTLS(t, rec)
	cfg := fastConfig()
	cfg.RetryMax = 2
	c := newClient(t, trusting(srv, cfg))
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err != nil {
		t.Fatalf("after the retries the last answer must be returned, got error %v", err)
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(readAll(t, resp), "<title>500") {
		t.Fatalf("last answer: HTTP %d", resp.StatusCode)
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("server saw %d requests, want 1 + RetryMax(2)", n)
	}
}

func TestGETGivesUpOnPersistentDrops(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){drop}}
	srv := startTLS(t, rec)
	cfg := fastConfig()
	cfg.RetryMax = 2
	c := newClient(t, trusting(srv, cfg))
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err == nil {
		resp.Body.Close()
		t.Fatal("expected an error")
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("server saw %d requests, want 3", n)
	}
}

func TestPOSTSentOnceOn503(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){status(http.StatusServiceUnavailable), status(http.StatusOK)}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	resp, err := do(t, c, context.Background(), http.MethodPost, srv.URL+"/v1/configuration/object/flash_backup", `{"backup_flash":"flash"}`)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want the 503 itself", resp.StatusCode)
	}
	if n := rec.count(); n != 1 {
		t.Fatalf("a POST that starts a device job was sent %d times", n)
	}
}

func TestPOSTSentOnceOnDroppedConnection(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){drop, status(http.StatusOK)}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	resp, err := do(t, c, context.Background(), http.MethodPost, srv.URL+"/job", `{"a":1}`)
	if err == nil {
		resp.Body.Close()
		t.Fatal("expected the dropped connection to be an error")
	}
	if n := rec.count(); n != 1 {
		t.Fatalf("a POST whose outcome is unknown was sent %d times", n)
	}
}

func TestRepeatablePOSTRetried(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){status(http.StatusServiceUnavailable), drop, status(http.StatusOK)}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	const form = "username=admin&password=x"
	resp, err := do(t, c, client.Repeatable(context.Background()), http.MethodPost, srv.URL+"/v1/api/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rec.count() != 3 {
		t.Fatalf("status %d after %d requests, want 200 after 3", resp.StatusCode, rec.count())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, b := range rec.bodies {
		if b != form {
			t.Errorf("attempt %d sent body %q, want %q", i+1, b, form)
		}
	}
}

func TestUserAgentSent(t *testing.T) {
	rec := &recorder{steps: []func(http.ResponseWriter, *http.Request){status(http.StatusServiceUnavailable), status(http.StatusOK)}}
	srv := startTLS(t, rec)
	c := newClient(t, trusting(srv, fastConfig()))
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL+"/x", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = do(t, c, context.Background(), http.MethodPost, srv.URL+"/x", "{}")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.agents) != 3 {
		t.Fatalf("%d requests", len(rec.agents))
	}
	for i, ua := range rec.agents {
		if ua != "terraform-provider-infrabackup/test" {
			t.Errorf("request %d: User-Agent %q", i+1, ua)
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var targetHits atomic.Int64
	var leaked atomic.Value
	target := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		leaked.Store(r.Header.Get("X-CSRF-Token") + r.Header.Get("X-Auth-Token") + r.Header.Get("Cookie"))
	}))
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			device := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/steal", code)
			}))
			cfg := trusting(device, fastConfig())
			// Trust the target too, so only the redirect policy can stop the request.
			cfg.CACertPEM += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: target.Certificate().Raw}))
			c := newClient(t, cfg)
			req, _ := http.NewRequest(method, device.URL+"/v1/configuration/showcommand?UIDARUBA=uid-secret", strings.NewReader("{}"))
			req.Header.Set("X-CSRF-Token", "csrf-secret")
			req.Header.Set("X-Auth-Token", "auth-secret")
			req.AddCookie(&http.Cookie{Name: "SESSION", Value: "uid-secret"})
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %d: %v", method, code, err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("%s %d: got HTTP %d, want the redirect itself", method, code, resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, target.URL) {
				t.Errorf("%s %d: Location %q", method, code, loc)
			}
		}
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("the redirect target was contacted %d times (headers %v)", n, leaked.Load())
	}
}

func TestUntrustedCertificate(t *testing.T) {
	var hits, conns atomic.Int64
	srv := startTLS(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	c := newClient(t, fastConfig())
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, err := do(t, c, context.Background(), method, srv.URL+"/x?UIDARUBA=uid-secret-1", "{}")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: an untrusted certificate was accepted", method)
		}
		var te *client.TLSError
		if !errors.As(err, &te) {
			t.Fatalf("%s: error %T %v is not a *client.TLSError", method, err, err)
		}
		msg := err.Error()
		for _, want := range []string{"ca_cert_pem", "insecure", "not trusted"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not mention %q", method, msg, want)
			}
		}
		if strings.Contains(msg, "uid-secret-1") {
			t.Errorf("%s: error leaks the session id: %s", method, msg)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("a request reached a server whose certificate is not trusted")
	}
	// A certificate problem is not retried: one connection per request.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d TLS connections for 2 requests: certificate errors must not be retried", n)
	}
}

func TestHostnameMismatchHint(t *testing.T) {
	srv := startTLS(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c := newClient(t, trusting(srv, fastConfig()))
	// httptest's certificate names example.com, 127.0.0.1 and ::1, not localhost.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resp, err := do(t, c, context.Background(), http.MethodGet, "https://localhost:"+port+"/x", "")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a certificate for another name was accepted")
	}
	var te *client.TLSError
	if !errors.As(err, &te) {
		t.Fatalf("error %T %v is not a *client.TLSError", err, err)
	}
	if !strings.Contains(te.Hint, "does not name the address") {
		t.Fatalf("hint %q: a trusted certificate for another name needs the name hint, not the ca_cert_pem one", te.Hint)
	}
}

func TestCACertPEMAndInsecure(t *testing.T) {
	srv := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Run("ca_cert_pem", func(t *testing.T) {
		c := newClient(t, trusting(srv, fastConfig()))
		resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); body != "ok" {
			t.Fatalf("body %q", body)
		}
	})
	t.Run("insecure", func(t *testing.T) {
		cfg := fastConfig()
		cfg.Insecure = true
		c := newClient(t, cfg)
		resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); body != "ok" {
			t.Fatalf("body %q", body)
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, pemText := range map[string]string{
		"not PEM":     "this is not a certificate",
		"empty block": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"private key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
	} {
		cfg := fastConfig()
		cfg.CACertPEM = pemText
		c, err := client.New(cfg)
		if err == nil || c != nil {
			t.Errorf("%s: New accepted an invalid ca_cert_pem", name)
			continue
		}
		if !strings.Contains(err.Error(), "ca_cert_pem") {
			t.Errorf("%s: error %q does not name ca_cert_pem", name, err)
		}
	}
	cfg := fastConfig()
	cfg.RetryWaitMin, cfg.RetryWaitMax = time.Second, time.Millisecond
	if _, err := client.New(cfg); err == nil {
		t.Error("New accepted a maximum retry wait shorter than the minimum")
	}
}

func TestTLS11OnlyServerRefused(t *testing.T) {
	var hits atomic.Int64
	srv := startTLS(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), func(s *httptest.Server) {
		s.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // the point of the test
	})
	cfg := trusting(srv, fastConfig())
	cfg.Insecure = true // even without verification, TLS 1.1 is refused
	c := newClient(t, cfg)
	resp, err := do(t, c, context.Background(), http.MethodGet, srv.URL, "")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1-only server was accepted")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "version") {
		t.Errorf("error %q does not say the protocol version is the problem", err)
	}
	if hits.Load() != 0 {
		t.Fatal("a request was served over TLS 1.1")
	}
}

// The error of a failed request, and what is logged about it, never carries a secret
// query parameter (net/http puts the whole URL into *url.Error).
func TestFailedRequestErrorHasNoSecrets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	_ = l.Close()
	untrusted := startTLS(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	dropping := startTLS(t, http.HandlerFunc(drop))

	secrets := []string{"abc-uid-secret", "hunter2-pass", "csrf-tok-secret", "user-secret"}
	for _, tc := range []struct{ name, base, method string }{
		{"refused GET", closed, http.MethodGet},
		{"refused POST", closed, http.MethodPost},
		{"untrusted GET", untrusted.URL, http.MethodGet},
		{"dropped GET", dropping.URL, http.MethodGet},
		{"dropped POST", dropping.URL, http.MethodPost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			ctx := tflogtest.RootLogger(context.Background(), &logs)
			ctx = tflog.NewSubsystem(ctx, client.Subsystem)
			cfg := fastConfig()
			cfg.RetryMax = 1
			c := newClient(t, cfg)
			base := strings.Replace(tc.base, "https://", "https://user-secret:hunter2-pass@", 1)
			u := base + "/v1/configuration/showcommand?command=show+hostname&UIDARUBA=abc-uid-secret&password=hunter2-pass&X-CSRF-Token=csrf-tok-secret"
			resp, err := do(t, c, ctx, tc.method, u, "")
			if err == nil {
				resp.Body.Close()
				t.Fatal("expected an error")
			}
			msg := err.Error()
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("error text contains %q: %s", s, msg)
				}
				if strings.Contains(logs.String(), s) {
					t.Errorf("log contains %q: %s", s, logs.String())
				}
			}
			if !strings.Contains(msg, "show+hostname") && !strings.Contains(msg, "show%20hostname") {
				t.Errorf("error text lost the non-secret query: %s", msg)
			}
			if !strings.Contains(logs.String(), "request failed") {
				t.Errorf("the failure was not logged: %q", logs.String())
			}
		})
	}
}

func TestDeviceErrorText(t *testing.T) {
	cause := errors.New("connection reset by peer")
	for _, tc := range []struct {
		err  *client.DeviceError
		want string
	}{
		{&client.DeviceError{Device: "conductor mc1:4343", Step: "log in", HTTPStatus: 401, Message: "authentication failed", Hint: "check the password"},
			"conductor mc1:4343: log in failed (HTTP 401): authentication failed. check the password"},
		{&client.DeviceError{Device: "ilo-1", Step: "download backup", Err: cause},
			"ilo-1: download backup failed: connection reset by peer"},
		{&client.DeviceError{Device: "d", Step: "s", HTTPStatus: 500, Message: "m", Err: cause},
			"d: s failed (HTTP 500): m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	wrapped := &client.DeviceError{Device: "d", Step: "s", Err: client.ErrSessionExpired}
	if !errors.Is(wrapped, client.ErrSessionExpired) {
		t.Error("DeviceError does not unwrap to its cause")
	}
}
