package redfish

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

func deviceErr(t *testing.T, err error) *client.DeviceError {
	t.Helper()
	var de *client.DeviceError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *client.DeviceError", err, err)
	}
	return de
}

func assertNoSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range append(secrets, fakePassword) {
		if sec != "" && strings.Contains(s, sec) {
			t.Fatalf("text leaks a secret %q: %s", sec, s)
		}
	}
}

func TestNewValidatesHostAndPort(t *testing.T) {
	hc := httpClient(t, nil)
	cases := []struct {
		host       string
		port       int
		wantDevice string
		wantURL    string
		wantErr    string
	}{
		{host: "ilo1.example.com", wantDevice: "ilo1.example.com", wantURL: "https://ilo1.example.com:443/redfish/v1/"},
		{host: "10.0.0.5", port: 8443, wantDevice: "10.0.0.5:8443", wantURL: "https://10.0.0.5:8443/redfish/v1/"},
		{host: "::1", wantDevice: "[::1]", wantURL: "https://[::1]:443/redfish/v1/"},
		{host: "[fe80::1]", port: 1443, wantDevice: "[fe80::1]:1443", wantURL: "https://[fe80::1]:1443/redfish/v1/"},
		// client.Target checks every form of host and port (TestTargetCheck).
		{host: "ilo1:443", wantErr: "ilo host \"ilo1:443\" must not include a port"},
		{host: "ilo1", port: 70000, wantErr: "ilo port 70000 is out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			c, err := New(hc, Config{Host: tc.host, Port: tc.port, Username: "u", Password: "p"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New(%q, %d) error = %v, want it to contain %q", tc.host, tc.port, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Device() != tc.wantDevice {
				t.Errorf("Device() = %q, want %q", c.Device(), tc.wantDevice)
			}
			if got := c.url(serviceRootPath); got != tc.wantURL {
				t.Errorf("url = %q, want %q", got, tc.wantURL)
			}
		})
	}
	if _, err := New(hc, Config{Host: "ilo1", Password: "p"}); err == nil || !strings.Contains(err.Error(), "username") {
		t.Errorf("empty username: %v", err)
	}
	if _, err := New(hc, Config{Host: "ilo1", Username: "u"}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("empty password: %v", err)
	}
	if _, err := New(nil, Config{Host: "ilo1", Username: "u", Password: "p"}); err == nil {
		t.Error("nil HTTP client accepted")
	}
}

func TestSessionLocationVariants(t *testing.T) {
	cases := []struct {
		name     string
		location func(r *http.Request, id string) string
		wantPath string // "" = login must fail
		wantErr  string
	}{
		{"absolute on iLO", func(r *http.Request, id string) string {
			return "https://" + r.Host + "/redfish/v1/SessionService/Sessions/" + id + "/"
		}, "/redfish/v1/SessionService/Sessions/%s/", ""},
		{"absolute, host name case and no port", func(_ *http.Request, id string) string {
			return "HTTPS://127.0.0.1/redfish/v1/SessionService/Sessions/" + id
		}, "/redfish/v1/SessionService/Sessions/%s", ""},
		{"relative path (other BMCs)", func(_ *http.Request, id string) string {
			return "/redfish/v1/SessionService/Sessions/" + id
		}, "/redfish/v1/SessionService/Sessions/%s", ""},
		{"relative reference", func(_ *http.Request, id string) string { return id + "/" },
			"/redfish/v1/SessionService/Sessions/%s/", ""},
		{"missing: taken from @odata.id", func(*http.Request, string) string { return "" },
			"/redfish/v1/SessionService/Sessions/%s/", ""},
		{"another host", func(_ *http.Request, id string) string {
			return "https://evil.example.com/redfish/v1/SessionService/Sessions/" + id + "/"
		}, "", "on another host"},
		{"scheme-relative another host", func(_ *http.Request, id string) string {
			return "//evil.example.com/redfish/v1/SessionService/Sessions/" + id + "/"
		}, "", "on another host"},
		{"traversal", func(_ *http.Request, id string) string {
			return "/redfish/v1/SessionService/Sessions/../../../" + id
		}, "", "unsafe session Location"},
		{"other scheme", func(r *http.Request, id string) string {
			return "ftp://" + r.Host + "/redfish/v1/SessionService/Sessions/" + id
		}, "", "scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeILO(t)
			f.location = tc.location
			c := f.client(t)
			ctx := testCtx(t)
			err := c.Session().Open(ctx)
			if tc.wantErr != "" {
				de := deviceErr(t, err)
				if de.Step != "log in" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want step log in and %q", err, tc.wantErr)
				}
				assertNoSecrets(t, err.Error(), "tok")
				// The session was created on this iLO whatever its Location says: it
				// is freed there, and the token never goes to another host (the fake
				// is the only server).
				if _, logouts, open := f.stats(); logouts != 1 || open != 0 {
					t.Fatalf("session not freed on the iLO: logouts=%d open=%d", logouts, open)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			got := c.sessionPath
			c.mu.Unlock()
			want := strings.Replace(tc.wantPath, "%s", "administrator0000000000000001", 1)
			if got != want {
				t.Fatalf("session path = %q, want %q", got, want)
			}
			if err := c.Session().Close(ctx); err != nil {
				t.Fatal(err)
			}
			if logins, logouts, open := f.stats(); logins != 1 || logouts != 1 || open != 0 {
				t.Fatalf("logins=%d logouts=%d open=%d", logins, logouts, open)
			}
		})
	}
}

func TestLoginWithoutToken(t *testing.T) {
	f := newFakeILO(t)
	f.noToken = true
	err := f.client(t).Session().Open(testCtx(t))
	if de := deviceErr(t, err); de.HTTPStatus != 201 || !strings.Contains(err.Error(), "no X-Auth-Token") {
		t.Fatalf("error = %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	f := newFakeILO(t)
	c := f.clientWith(t, fakeUser, "wrong-password-xyz")
	err := c.Session().Open(testCtx(t))
	de := deviceErr(t, err)
	if de.Step != "log in" || de.HTTPStatus != 401 || !errors.Is(err, ErrBadCredentials) || errors.Is(err, client.ErrSessionExpired) {
		t.Fatalf("error = %v (%+v)", err, de)
	}
	for _, want := range []string{"refused the user name or password", "iLO.2.27.UnauthorizedLoginAttempt", "check the ilo username and password", "127.0.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	assertNoSecrets(t, err.Error(), "wrong-password-xyz")
}

func TestReloginOnceOnNoValidSession(t *testing.T) {
	f := newFakeILO(t)
	f.serviceHandlers(`W/"1"`, nil)
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		if _, err := c.Discover(ctx); err != nil {
			return err
		}
		f.expireAll() // idle timeout
		_, err := c.ReadBackupService(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	logins, logouts, open := f.stats()
	if logins != 2 || logouts != 1 || open != 0 {
		t.Fatalf("logins=%d logouts=%d open=%d, want 2/1/0", logins, logouts, open)
	}
}

func TestReloginOnlyOnce(t *testing.T) {
	f := newFakeILO(t)
	var n atomic.Int32
	f.route("GET", "/redfish/v1/Managers/1", func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		writeFakeJSON(w, 401, errBody("Base.1.17.NoValidSession"))
	})
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		_, err := c.Discover(ctx)
		return err
	})
	de := deviceErr(t, err)
	if !errors.Is(err, client.ErrSessionExpired) || de.Step != "discover" || de.HTTPStatus != 401 {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "session is missing, invalid or expired") {
		t.Errorf("no sentence in %q", err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("manager read %d times, want 2 (one re-login)", got)
	}
	if logins, _, _ := f.stats(); logins != 2 {
		t.Fatalf("logins = %d, want 2", logins)
	}
}

func TestCallWithoutOpenSessionLogsIn(t *testing.T) {
	f := newFakeILO(t)
	f.serviceHandlers(`W/"1"`, nil)
	c := f.client(t)
	ctx := testCtx(t)
	if _, err := c.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Session().Close(ctx); err != nil {
		t.Fatal(err)
	}
	if logins, logouts, open := f.stats(); logins != 1 || logouts != 1 || open != 0 {
		t.Fatalf("logins=%d logouts=%d open=%d", logins, logouts, open)
	}
}

func TestDiscoverFallbackAndUnsafeLink(t *testing.T) {
	f := newFakeILO(t)
	f.serviceHandlers(`W/"1"`, nil)
	f.route("GET", "/redfish/v1/Managers/1", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"Model":"iLO 5","FirmwareVersion":"iLO 5 v2.72"}`)
	})
	f.route("GET", "/redfish/v1", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"Oem":{"Hpe":{}}}`)
	})
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()
	m, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Manager{Generation: "iLO 5", Firmware: "2.72", Serial: "TWA22525A7", Model: "ProLiant DL360 Gen11",
		BackupRestoreServicePath: DocumentedBackupRestoreServicePath}
	if m != want {
		t.Fatalf("Discover = %+v, want %+v", m, want)
	}

	f.route("GET", "/redfish/v1/Managers/1", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"Oem":{"Hpe":{"Links":{"BackupRestoreService":{"@odata.id":"https://evil/x"}}}}}`)
	})
	_, err = c.Discover(ctx)
	if de := deviceErr(t, err); de.Step != "discover" || !strings.Contains(err.Error(), "unsafe path") {
		t.Fatalf("error = %v", err)
	}
}

func TestNonJSONAndMalformedAnswers(t *testing.T) {
	f := newFakeILO(t)
	f.serviceHandlers(`W/"1"`, nil)
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()

	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<html><head><title>502 Bad\x00 Gateway</title></head><body>password=hunter2</body></html>")
	})
	_, err := c.ReadBackupService(ctx)
	de := deviceErr(t, err)
	if de.Step != "read backup service" || de.HTTPStatus != 502 || !strings.Contains(err.Error(), `"502 Bad Gateway"`) {
		t.Fatalf("HTML answer: %v", err)
	}

	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
	})
	_, err = c.ReadBackupService(ctx)
	if de := deviceErr(t, err); de.HTTPStatus != 503 || !strings.Contains(err.Error(), "no details") || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("empty answer: %v", err)
	}

	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"BackupFileLocation": "/bkupdata/x.bak", "HttpPushUri": tru`)
	})
	_, err = c.ReadBackupService(ctx)
	if de := deviceErr(t, err); de.Step != "read backup service" || de.HTTPStatus != 200 || !strings.Contains(err.Error(), "malformed JSON for the backup service") {
		t.Fatalf("malformed answer: %v", err)
	}
}

func TestReadBackupService(t *testing.T) {
	f := newFakeILO(t)
	flag := true
	f.serviceHandlers(`W/"9FD2104B"`, &flag)
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()
	svc, err := c.ReadBackupService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if svc.BackupFileLocation != "/bkupdata/HPE_TWA22525A7_20221208_1512.bak" || svc.HttpPushUri != "/cgi-bin/uploadRestoreFile" ||
		svc.CustomBackupAndRestore == nil || !*svc.CustomBackupAndRestore || svc.ETag != `W/"9FD2104B"` {
		t.Fatalf("service = %+v", svc)
	}
	if n, err := c.CountBackupFiles(ctx, svc); n != 1 || err != nil {
		t.Fatalf("CountBackupFiles = %d, %v", n, err)
	}
	// Old firmware: the property is absent.
	f2 := newFakeILO(t)
	f2.serviceHandlers(`W/"1"`, nil)
	c2 := f2.client(t)
	defer func() { _ = c2.Session().Close(ctx) }()
	svc, err = c2.ReadBackupService(ctx)
	if err != nil || svc.CustomBackupAndRestore != nil {
		t.Fatalf("old firmware: %+v, %v", svc, err)
	}
}

func TestSetCustomBackupAndRestore(t *testing.T) {
	type patchAnswer struct {
		status int
		body   string
	}
	cases := []struct {
		name        string
		answers     []patchAnswer
		wantPatches int
		wantErr     []string
	}{
		{"success inside an error object", []patchAnswer{{200, errBody("Base.1.4.Success")}}, 1, nil},
		{"success, no body", []patchAnswer{{204, ""}}, 1, nil},
		{"412 then success", []patchAnswer{{412, errBody("Base.1.18.PreconditionFailed")}, {200, errBody("Base.1.0.Success")}}, 2, nil},
		{"412 twice", []patchAnswer{{412, errBody("Base.1.18.PreconditionFailed")}, {412, ""}}, 2,
			[]string{"HTTP 412", "ETag mismatch"}},
		{"too old", []patchAnswer{{400, errBody("iLO.2.18.PropertyNotWritableOrUnknown")}}, 1,
			[]string{"HTTP 400", "iLO 5 firmware 2.72", "iLO.2.18.PropertyNotWritableOrUnknown"}},
		{"FIPS", []patchAnswer{{400, errBody("iLO.2.18.UnsupportedSecurityState")}}, 1,
			[]string{"security state", "FIPS"}},
		{"type error", []patchAnswer{{400, errBody("Base.1.18.PropertyValueTypeError")}}, 1,
			[]string{"wrong type", "bug in the provider"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeILO(t)
			flag := false
			f.serviceHandlers(`W/"E1"`, &flag)
			var mu sync.Mutex
			var ifMatch []string
			var bodies []string
			f.route("PATCH", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				i := len(ifMatch)
				ifMatch = append(ifMatch, r.Header.Get("If-Match"))
				bodies = append(bodies, string(b))
				mu.Unlock()
				a := tc.answers[min(i, len(tc.answers)-1)]
				writeFakeJSON(w, a.status, a.body)
			})
			c := f.client(t)
			ctx := testCtx(t)
			err := client.With(ctx, c.Session(), func(ctx context.Context) error {
				return c.SetCustomBackupAndRestore(ctx, true)
			})
			if n := f.count("PATCH", "/redfish/v1/Managers/1/BackupRestoreService"); n != tc.wantPatches {
				t.Fatalf("PATCHes = %d, want %d", n, tc.wantPatches)
			}
			if gets := f.count("GET", "/redfish/v1/Managers/1/BackupRestoreService"); gets != tc.wantPatches {
				t.Fatalf("GETs = %d, want one per PATCH (%d)", gets, tc.wantPatches)
			}
			for i := range ifMatch {
				if ifMatch[i] != `W/"E1"` || bodies[i] != `{"CustomBackupandRestore":true}` {
					t.Fatalf("PATCH %d: If-Match %q body %q", i, ifMatch[i], bodies[i])
				}
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if de := deviceErr(t, err); de.Step != "set CustomBackupandRestore" {
				t.Fatalf("step = %q", de.Step)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestSetCustomBackupAndRestoreSkipsAndRefuses(t *testing.T) {
	f := newFakeILO(t)
	flag := true
	f.serviceHandlers(`W/"E1"`, &flag)
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()
	if err := c.SetCustomBackupAndRestore(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n := f.count("PATCH", "/redfish/v1/Managers/1/BackupRestoreService"); n != 0 {
		t.Fatalf("PATCHed a flag that already had the value (%d)", n)
	}

	f2 := newFakeILO(t)
	f2.serviceHandlers(`W/"E1"`, nil) // firmware without the property
	c2 := f2.client(t)
	defer func() { _ = c2.Session().Close(ctx) }()
	err := c2.SetCustomBackupAndRestore(ctx, true)
	if de := deviceErr(t, err); de.Step != "set CustomBackupandRestore" || !strings.Contains(err.Error(), "2.72") {
		t.Fatalf("error = %v", err)
	}
}

func TestOpenBackup(t *testing.T) {
	f := newFakeILO(t)
	payload := strings.Repeat("backup-bytes.", 1000)
	var gotForm map[string]string
	var mu sync.Mutex
	serve := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "multipart/form-data" {
				http.Error(w, "bad type", 400)
				return
			}
			mr := multipart.NewReader(r.Body, params["boundary"])
			form := map[string]string{}
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				form[p.FormName()] = string(b)
			}
			mu.Lock()
			gotForm = form
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		_, _ = io.WriteString(w, payload)
	}
	f.route("GET", "/bkupdata/HPE_X_20221208_1512.bak", serve)
	f.route("POST", "/bkupdata/HPE_X_20221208_1512.bak", serve)
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()

	for _, pw := range []string{"", "backup-pass"} {
		body, size, err := c.OpenBackup(ctx, "/bkupdata/HPE_X_20221208_1512.bak", pw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		_ = body.Close()
		if err != nil || string(got) != payload || size != int64(len(payload)) {
			t.Fatalf("download (password %v): size %d, %d bytes, %v", pw != "", size, len(got), err)
		}
	}
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	mu.Lock()
	if gotForm["sessionKey"] != token || gotForm["password"] != "backup-pass" {
		t.Fatalf("form = %v", gotForm)
	}
	mu.Unlock()

	// Refused before any request: unsafe location, password too long.
	before := f.count("GET", "/bkupdata/HPE_X_20221208_1512.bak")
	_, _, err := c.OpenBackup(ctx, "/bkupdata/../../etc/shadow", "")
	if de := deviceErr(t, err); de.Step != "download backup" || !strings.Contains(err.Error(), "unsafe backup location") {
		t.Fatalf("unsafe location: %v", err)
	}
	long := strings.Repeat("p", 33)
	_, _, err = c.OpenBackup(ctx, "/bkupdata/HPE_X_20221208_1512.bak", long)
	if de := deviceErr(t, err); de.Step != "download backup" || !strings.Contains(err.Error(), "at most 32") {
		t.Fatalf("long password: %v", err)
	}
	assertNoSecrets(t, err.Error(), long)
	if _, _, err := c.OpenBackup(ctx, "/bkupdata/HPE_X_20221208_1512.bak", strings.Repeat("é", 32)); err != nil {
		t.Fatalf("32-character password refused: %v", err)
	}
	if after := f.count("GET", "/bkupdata/HPE_X_20221208_1512.bak"); after != before {
		t.Fatalf("refused downloads reached the iLO")
	}

	// A missing file is a DeviceError with the status.
	_, _, err = c.OpenBackup(ctx, "/bkupdata/gone.bak", "")
	if de := deviceErr(t, err); de.HTTPStatus != 404 || de.Step != "download backup" {
		t.Fatalf("missing file: %v", err)
	}
	// An HTML page with 200 is not a backup.
	f.route("GET", "/bkupdata/page.bak", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><title>Login</title></html>")
	})
	_, _, err = c.OpenBackup(ctx, "/bkupdata/page.bak", "")
	if err == nil || !strings.Contains(err.Error(), "instead of a backup file") {
		t.Fatalf("HTML page: %v", err)
	}
}

// patternReader yields size bytes of a repeating pattern without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > r.left {
		n = r.left
	}
	for i := range p[:n] {
		p[i] = byte((r.left - int64(i)) % 251)
	}
	r.left -= n
	return int(n), nil
}

func patternSHA(size int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{left: size})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// restoreReceiver checks a restore upload like the iLO CGI and records what it got.
type restoreReceiver struct {
	mu            sync.Mutex
	fields        []string
	fileName      string
	fileType      string
	sum           [32]byte
	n             int64
	contentLength int64
	cookie        string
	authToken     string
	sessionKey    string
	password      string
	wantPassword  string
}

func (rr *restoreReceiver) handle(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		http.Error(w, "invalid_restore_request", 400)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.contentLength = r.ContentLength
	rr.authToken = r.Header.Get("X-Auth-Token")
	if ck, err := r.Cookie("sessionKey"); err == nil {
		rr.cookie = ck.Value
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, "invalid_restore_request", 400)
			return
		}
		rr.fields = append(rr.fields, p.FormName())
		switch p.FormName() {
		case "file":
			rr.fileName = p.FileName()
			rr.fileType = p.Header.Get("Content-Type")
			h := sha256.New()
			rr.n, _ = io.Copy(h, p)
			copy(rr.sum[:], h.Sum(nil))
		case "sessionKey":
			b, _ := io.ReadAll(p)
			rr.sessionKey = string(b)
		case "password":
			b, _ := io.ReadAll(p)
			rr.password = string(b)
		}
	}
	if rr.password != rr.wantPassword {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, "invalid_restore_password")
		return
	}
	writeFakeJSON(w, 200, errBody("Base.1.4.Success"))
}

func TestRestoreStreamsLargeBody(t *testing.T) {
	const size = 96 << 20
	f := newFakeILO(t)
	rr := &restoreReceiver{wantPassword: "bk-pass"}
	f.route("POST", "/cgi-bin/uploadRestoreFile", rr.handle)
	c := f.client(t)
	ctx := testCtx(t)
	if err := c.Session().Open(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	opens := 0
	err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(&patternReader{left: size}), nil
	}, size, `C:\backups\HPE_TWA22525A7_20221208_1512.bak`, "bk-pass")
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if grown := int64(peak.Load()) - int64(base.HeapInuse); grown > 24<<20 {
		t.Fatalf("heap grew by %d MiB while uploading %d MiB: the upload is buffered", grown>>20, size>>20)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if strings.Join(rr.fields, ",") != "sessionKey,password,file" {
		t.Fatalf("field order = %v", rr.fields)
	}
	if rr.n != size || rr.sum != patternSHA(size) {
		t.Fatalf("received %d bytes (sha mismatch: %v)", rr.n, rr.sum != patternSHA(size))
	}
	if rr.fileName != "HPE_TWA22525A7_20221208_1512.bak" || rr.fileType != "application/octet-stream" {
		t.Fatalf("file part: name %q type %q", rr.fileName, rr.fileType)
	}
	if rr.authToken != token || rr.cookie != token || rr.sessionKey != token {
		t.Fatalf("token not sent as X-Auth-Token, Cookie and sessionKey")
	}
	if rr.contentLength <= size {
		t.Fatalf("Content-Length = %d, want the exact form size", rr.contentLength)
	}
	if opens != 1 {
		t.Fatalf("backup opened %d times", opens)
	}
	// The iLO resets and drops sessions: closing must not DELETE.
	if err := c.Session().Close(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	deletes := len(f.deletes)
	f.mu.Unlock()
	if deletes != 0 {
		t.Fatalf("logged out %d times after an accepted restore", deletes)
	}
}

func TestRestoreUnknownSizeIsChunked(t *testing.T) {
	f := newFakeILO(t)
	rr := &restoreReceiver{}
	f.route("POST", "/cgi-bin/uploadRestoreFile", rr.handle)
	c := f.client(t)
	ctx := testCtx(t)
	err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
		return io.NopCloser(&patternReader{left: 1 << 20}), nil
	}, -1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.contentLength != -1 || rr.n != 1<<20 || rr.fileName != "backup.bak" || strings.Join(rr.fields, ",") != "sessionKey,file" {
		t.Fatalf("content length %d, %d bytes, name %q, fields %v", rr.contentLength, rr.n, rr.fileName, rr.fields)
	}
}

func TestRestoreInvalidPassword(t *testing.T) {
	f := newFakeILO(t)
	rr := &restoreReceiver{wantPassword: "right"}
	f.route("POST", "/cgi-bin/uploadRestoreFile", rr.handle)
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		return c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("image")), nil
		}, 5, "x.bak", "wrong-backup-pw")
	})
	de := deviceErr(t, err)
	if de.Step != "restore upload" || de.HTTPStatus != 400 || !strings.Contains(err.Error(), "backup password is wrong or missing") {
		t.Fatalf("error = %v", err)
	}
	assertNoSecrets(t, err.Error(), "wrong-backup-pw")
	// Not accepted: the session is still ours and was logged out.
	if logins, logouts, open := f.stats(); logins != 1 || logouts != 1 || open != 0 {
		t.Fatalf("logins=%d logouts=%d open=%d", logins, logouts, open)
	}
}

func TestRestoreReopensAfterRelogin(t *testing.T) {
	f := newFakeILO(t)
	rr := &restoreReceiver{}
	var first atomic.Bool
	first.Store(true)
	f.route("POST", "/cgi-bin/uploadRestoreFile", func(w http.ResponseWriter, r *http.Request) {
		if first.Swap(false) {
			_, _ = io.Copy(io.Discard, r.Body)
			writeFakeJSON(w, 401, errBody("Base.1.0.NoValidSession"))
			return
		}
		rr.handle(w, r)
	})
	c := f.client(t)
	ctx := testCtx(t)
	opens := 0
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		return c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			opens++
			return io.NopCloser(strings.NewReader("image")), nil
		}, 5, "x.bak", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	if opens != 2 || rr.n != 5 {
		t.Fatalf("opens = %d, received %d bytes", opens, rr.n)
	}
}

func TestRestoreSizeMismatch(t *testing.T) {
	f := newFakeILO(t)
	f.route("POST", "/cgi-bin/uploadRestoreFile", (&restoreReceiver{}).handle)
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()
	for _, size := range []int64{4, 9} {
		err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("image")), nil
		}, size, "x.bak", "")
		if de := deviceErr(t, err); de.Step != "restore upload" || !strings.Contains(err.Error(), "upload did not complete") {
			t.Fatalf("size %d: %v", size, err)
		}
	}
	err := c.Restore(ctx, "https://evil/cgi-bin/x", func() (io.ReadCloser, error) { return nil, errors.New("unused") }, 1, "x", "")
	if err == nil || !strings.Contains(err.Error(), "unsafe HttpPushUri") {
		t.Fatalf("unsafe push URI: %v", err)
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	f := newFakeILO(t)
	f.route("GET", "/redfish/v1", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(404)
	})
	c := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.WaitReady(ctx, 20*time.Millisecond)
	de := deviceErr(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || de.Step != "wait for reset" || !strings.Contains(err.Error(), "did not come back") ||
		!strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("error = %v", err)
	}
}

func TestWaitReadyWaitsForReset(t *testing.T) {
	f := newFakeILO(t)
	rr := &restoreReceiver{}
	f.route("POST", "/cgi-bin/uploadRestoreFile", rr.handle)
	var sessionReads atomic.Int32
	f.route("GET", "/redfish/v1/SessionService/Sessions/administrator0000000000000001", func(w http.ResponseWriter, _ *http.Request) {
		if sessionReads.Add(1) == 3 { // the iLO resets a little after accepting
			f.expireAll()
			writeFakeJSON(w, 401, errBody("Base.1.18.NoValidSession"))
			return
		}
		writeFakeJSON(w, 200, `{}`)
	})
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		if err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("image")), nil
		}, 5, "x.bak", ""); err != nil {
			return err
		}
		return c.WaitReady(ctx, 10*time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	// 2 answers "still valid" + 1 "refused"; then one probe login, logged out.
	if n := sessionReads.Load(); n < 3 {
		t.Fatalf("session read %d times", n)
	}
	if logins, logouts, _ := f.stats(); logins != 2 || logouts != 1 {
		t.Fatalf("logins=%d logouts=%d (probe session must be logged out, the restore session not)", logins, logouts)
	}
}

func TestWaitReadyBadCredentialsEndsAtOnce(t *testing.T) {
	f := newFakeILO(t)
	c := f.clientWith(t, fakeUser, "not-the-password")
	start := time.Now()
	err := c.WaitReady(testCtx(t), 10*time.Millisecond)
	if !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "accounts of the backup") || time.Since(start) > 5*time.Second {
		t.Fatalf("error = %v", err)
	}
	assertNoSecrets(t, err.Error(), "not-the-password")
}
