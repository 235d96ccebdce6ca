package redfish

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

const (
	fakeUser     = "Administrator"
	fakePassword = "s3cret-ilo-pass"
)

// fakeILO is a minimal, scriptable iLO for edge cases the simulator does not model.
// Routes are keyed "METHOD /path" (lower-case path, no trailing slash) and run
// after the token was checked; login and logout are built in.
type fakeILO struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]bool
	seq      int
	logins   int
	logouts  int
	calls    map[string]int
	routes   map[string]http.HandlerFunc
	location func(r *http.Request, id string) string // Location header of a login
	noToken  bool                                    // login answers without X-Auth-Token
	deletes  []string                                // paths DELETEd
}

func newFakeILO(t testing.TB) *fakeILO {
	t.Helper()
	f := &fakeILO{t: t, tokens: map[string]bool{}, calls: map[string]int{}, routes: map[string]http.HandlerFunc{}}
	f.location = func(r *http.Request, id string) string {
		return "https://" + r.Host + "/redfish/v1/SessionService/Sessions/" + id + "/"
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func routeKey(method, p string) string {
	return method + " " + strings.ToLower(strings.TrimRight(p, "/"))
}

func (f *fakeILO) route(method, p string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[routeKey(method, p)] = h
}

func (f *fakeILO) count(method, p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[routeKey(method, p)]
}

func (f *fakeILO) stats() (logins, logouts, open int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins, f.logouts, len(f.tokens)
}

// expireAll drops every session, as an idle timeout would.
func (f *fakeILO) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

func (f *fakeILO) serve(w http.ResponseWriter, r *http.Request) {
	key := routeKey(r.Method, r.URL.Path)
	f.mu.Lock()
	f.calls[key]++
	h := f.routes[key]
	f.mu.Unlock()
	switch {
	case key == "GET /redfish/v1" && h == nil:
		writeFakeJSON(w, 200, `{"Oem":{"Hpe":{"Manager":[{"ManagerType":"iLO 6","ManagerFirmwareVersion":"1.70"}]}}}`)
		return
	case key == "POST /redfish/v1/sessionservice/sessions" && h == nil:
		f.login(w, r)
		return
	case r.Method == http.MethodDelete && strings.HasPrefix(key, "DELETE /redfish/v1/sessionservice/sessions/") && h == nil:
		f.mu.Lock()
		f.deletes = append(f.deletes, r.URL.Path)
		tok := r.Header.Get("X-Auth-Token")
		ok := f.tokens[tok]
		if ok {
			delete(f.tokens, tok)
			f.logouts++
		}
		f.mu.Unlock()
		if !ok {
			writeFakeJSON(w, 401, errBody("Base.1.18.NoValidSession"))
			return
		}
		writeFakeJSON(w, 200, errBody("Base.1.4.Success"))
		return
	}
	if r.URL.Path != "/redfish/v1/" && !f.valid(r.Header.Get("X-Auth-Token")) {
		writeFakeJSON(w, 401, errBody("Base.1.18.NoValidSession"))
		return
	}
	if h == nil {
		writeFakeJSON(w, 404, errBody("Base.1.18.ResourceMissingAtURI"))
		return
	}
	h(w, r)
}

func (f *fakeILO) valid(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return tok != "" && f.tokens[tok]
}

func (f *fakeILO) login(w http.ResponseWriter, r *http.Request) {
	var creds struct{ UserName, Password string }
	if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
		writeFakeJSON(w, 400, errBody("Base.1.18.MalformedJSON"))
		return
	}
	if creds.UserName != fakeUser || creds.Password != fakePassword {
		writeFakeJSON(w, 401, errBody("iLO.2.27.UnauthorizedLoginAttempt"))
		return
	}
	f.mu.Lock()
	f.seq++
	f.logins++
	tok := fmt.Sprintf("tok%032d", f.seq)
	id := fmt.Sprintf("administrator%016x", f.seq)
	f.tokens[tok] = true
	loc := f.location(r, id)
	noToken := f.noToken
	f.mu.Unlock()
	if !noToken {
		w.Header().Set("X-Auth-Token", tok)
	}
	if loc != "" {
		w.Header().Set("Location", loc)
	}
	writeFakeJSON(w, 201, `{"@odata.id":"/redfish/v1/SessionService/Sessions/`+id+`/"}`)
}

func writeFakeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// errBody is iLO's error document holding the given MessageIds.
func errBody(ids ...string) string {
	infos := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		infos = append(infos, map[string]any{"MessageId": id})
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo for more information.",
		"@Message.ExtendedInfo": infos,
	}})
	return string(b)
}

// httpClient is a shared HTTP layer trusting certPEM, with quick retries.
func httpClient(t testing.TB, certPEM []byte) *client.Client {
	t.Helper()
	hc, err := client.New(client.Config{
		CACertPEM: string(certPEM), RetryMax: 1,
		RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
		RequestTimeout: 20 * time.Second, UserAgent: "redfish-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// client returns a Client for the fake with the right credentials.
func (f *fakeILO) client(t testing.TB) *Client {
	t.Helper()
	return f.clientWith(t, fakeUser, fakePassword)
}

func (f *fakeILO) clientWith(t testing.TB, user, pass string) *Client {
	t.Helper()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	host, portStr, err := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	c, err := New(httpClient(t, certPEM), Config{Host: host, Port: port, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serviceHandlers installs a manager, a system and a backup service.
func (f *fakeILO) serviceHandlers(etag string, flag *bool) {
	f.route("GET", "/redfish/v1/Managers/1/", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"FirmwareVersion":"iLO 6 v1.70","Oem":{"Hpe":{"Links":{"BackupRestoreService":{"@odata.id":"/redfish/v1/Managers/1/BackupRestoreService"}}}}}`)
	})
	f.route("GET", "/redfish/v1/Systems/1/", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"SerialNumber":"TWA22525A7","Model":"ProLiant DL360 Gen11"}`)
	})
	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, _ *http.Request) {
		doc := map[string]any{
			"@odata.etag":        etag,
			"BackupFileLocation": "/bkupdata/HPE_TWA22525A7_20221208_1512.bak",
			"HttpPushUri":        "/cgi-bin/uploadRestoreFile",
			"BackupFiles":        map[string]string{"@odata.id": "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles"},
		}
		if flag != nil {
			doc["CustomBackupandRestore"] = *flag
		}
		b, _ := json.Marshal(doc)
		w.Header().Set("ETag", etag)
		writeFakeJSON(w, 200, string(b))
	})
	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"Members":[{"@odata.id":"/x/1"}],"Oem":{"Hpe":{"BackupFileCount":1,"BackupFilesAllowed":1}}}`)
	})
}
