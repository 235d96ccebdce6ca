package ilo

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// tc is a test client of one simulated iLO.
type tc struct {
	t     *testing.T
	srv   *Server
	d     *ILO
	hc    *http.Client
	token string
}

func start(t *testing.T, cfg Config) *tc {
	t.Helper()
	ca := devicesim.SharedCA(t)
	srv, err := Start(ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}
	t.Cleanup(tr.CloseIdleConnections)
	return &tc{t: t, srv: srv, d: srv.ILO, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// req sends a request; hdr holds extra headers. Transport errors are returned.
func (c *tc) req(method, path string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	c.t.Helper()
	u := c.srv.URL + path
	if strings.HasPrefix(path, "https://") {
		// An absolute URL the simulator handed out (a session Location): iLO names
		// itself without the port, so it is sent to the simulator by its path.
		abs, err := url.Parse(path)
		if err != nil {
			c.t.Fatal(err)
		}
		u = c.srv.URL + abs.RequestURI()
	}
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		r.Header.Set("X-Auth-Token", c.token)
	}
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	return c.hc.Do(r)
}

// do is req that fails the test on transport errors and reads the whole body.
func (c *tc) do(method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	resp, err := c.req(method, path, rd, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, data
}

func (c *tc) getJSON(path string) map[string]any {
	c.t.Helper()
	resp, body := c.do("GET", path, nil, nil)
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return decode(c.t, body)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return m
}

// loginAs posts credentials and returns the response (token not stored).
func (c *tc) loginAs(user, pass string) (*http.Response, []byte) {
	c.t.Helper()
	return c.do("POST", "/redfish/v1/SessionService/Sessions/", map[string]string{"UserName": user, "Password": pass}, map[string]string{"X-Auth-Token": "", "Content-Type": "application/json"})
}

// login logs in with the configured credentials and keeps the token.
func (c *tc) login() (token, location string) {
	c.t.Helper()
	resp, body := c.loginAs(c.d.Username(), c.d.Password())
	if resp.StatusCode != 201 {
		c.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	c.token = resp.Header.Get("X-Auth-Token")
	return c.token, resp.Header.Get("Location")
}

// messageIDs extracts the MessageIds of an iLO error body.
func messageIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var e struct {
		Error struct {
			Code  string `json:"code"`
			Infos []struct {
				MessageID string `json:"MessageId"`
			} `json:"@Message.ExtendedInfo"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error body: %v: %s", err, body)
	}
	if e.Error.Code != "iLO.0.10.ExtendedInfo" {
		t.Fatalf("error code %q in %s", e.Error.Code, body)
	}
	var ids []string
	for _, i := range e.Error.Infos {
		ids = append(ids, i.MessageID)
	}
	return ids
}

func wantMessage(t *testing.T, resp *http.Response, body []byte, status int, id string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	ids := messageIDs(t, body)
	if len(ids) == 0 || ids[0] != id {
		t.Fatalf("MessageIds %v, want %s", ids, id)
	}
}

// backupLocation triggers a backup and returns the BackupFileLocation.
func (c *tc) backupLocation() string {
	c.t.Helper()
	m := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/?$select=BackupFileLocation")
	loc, _ := m["BackupFileLocation"].(string)
	if loc == "" {
		c.t.Fatalf("no BackupFileLocation: %v", m)
	}
	return loc
}

type field struct{ name, value string }

// multipartBody builds a multipart body: fields, then (if file != nil) the file part.
func multipartBody(t *testing.T, fields []field, file []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "backup.bak")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// downloadPost downloads loc by POST with sessionKey and password ("" = none).
func (c *tc) downloadPost(loc, password string) (*http.Response, []byte) {
	c.t.Helper()
	fields := []field{{"sessionKey", c.token}}
	if password != "" {
		fields = append(fields, field{"password", password})
	}
	ct, body := multipartBody(c.t, fields, nil)
	return c.do("POST", loc, body, map[string]string{"Content-Type": ct, "X-Auth-Token": ""})
}

// restore uploads image to HttpPushUri the way HPE's examples do.
func (c *tc) restore(image []byte, password string) (*http.Response, []byte) {
	c.t.Helper()
	fields := []field{{"sessionKey", c.token}}
	if password != "" {
		fields = append(fields, field{"password", password})
	}
	ct, body := multipartBody(c.t, fields, image)
	return c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct, "Cookie": "sessionKey=" + c.token})
}

func pathOf(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

func devicesimFault(kind, prefix string, times int) devicesim.Fault {
	return devicesim.Fault{Kind: devicesim.FaultKind(kind), PathPrefix: prefix, Times: times}
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
