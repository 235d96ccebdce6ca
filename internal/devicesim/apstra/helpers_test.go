package apstra

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

var epoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// tc is a test client of one simulated Apstra.
type tc struct {
	t     *testing.T
	srv   *Server
	a     *Apstra
	clock *devicesim.ManualClock
	hc    *http.Client
	token string
}

// start serves an Apstra with cfg on a manual clock (unless cfg has a clock).
func start(t *testing.T, cfg Config) *tc {
	t.Helper()
	clock := devicesim.NewManualClock(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	ca := devicesim.SharedCA(t)
	srv, err := Start(ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}
	t.Cleanup(tr.CloseIdleConnections)
	return &tc{t: t, srv: srv, a: srv.Apstra, clock: clock, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// req sends a request with the client's token (when it has one); hdr adds headers.
func (c *tc) req(method, path string, body any, hdr map[string]string) (*http.Response, error) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		r.Header.Set("AuthToken", c.token)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return c.hc.Do(r)
}

// do is req that fails on transport errors and reads the whole body.
func (c *tc) do(method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.req(method, path, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp, b
}

// getJSON GETs path, wants 200 and decodes the answer into v.
func (c *tc) getJSON(path string, v any) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: HTTP %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		c.t.Fatalf("GET %s: %v in %.200s", path, err, body)
	}
}

// login logs in at path with the server's credentials and keeps the token.
func (c *tc) login(path string) map[string]string {
	c.t.Helper()
	cfg := c.a.Config()
	resp, body := c.do(http.MethodPost, path, map[string]string{"username": cfg.Username, "password": cfg.Password}, nil)
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("login at %s: HTTP %d %s", path, resp.StatusCode, body)
	}
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		c.t.Fatal(err)
	}
	c.token = out["token"]
	return out
}

// wantError checks an answer's status and its {"errors":"<text>"} body.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, text string) {
	t.Helper()
	var e struct {
		Errors string `json:"errors"`
	}
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Errors, text) {
		t.Fatalf("HTTP %d %s; want %d with errors containing %q", resp.StatusCode, body, status, text)
	}
}
