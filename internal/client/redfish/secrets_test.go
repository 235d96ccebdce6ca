package redfish

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// echoILO is an iLO that logs in anyone and answers every other request with
// answer, which may echo what it was sent.
type echoILO struct {
	mu      sync.Mutex
	tokens  []string
	logins  int
	logouts int
	answer  func(w http.ResponseWriter, r *http.Request, form map[string]string, token string)
}

func (e *echoILO) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.ToLower(strings.TrimRight(r.URL.Path, "/"))
	switch {
	case r.Method == http.MethodPost && p == "/redfish/v1/sessionservice/sessions":
		var creds struct{ UserName, Password string }
		_ = json.NewDecoder(r.Body).Decode(&creds)
		if e.answer != nil && creds.Password != fakePassword {
			e.answer(w, r, map[string]string{"Password": creds.Password}, "")
			return
		}
		e.mu.Lock()
		e.logins++
		tok := "tok-" + strconv.Itoa(e.logins) + "-ab12cd34ef56ab78cd90"
		e.tokens = append(e.tokens, tok)
		e.mu.Unlock()
		w.Header().Set("X-Auth-Token", tok)
		w.Header().Set("Location", "/redfish/v1/SessionService/Sessions/s"+strconv.Itoa(e.logins)+"/")
		writeFakeJSON(w, 201, `{}`)
	case r.Method == http.MethodGet && p == "/redfish/v1":
		writeFakeJSON(w, 200, `{"Oem":{"Hpe":{"Manager":[{"ManagerType":"iLO 6","ManagerFirmwareVersion":"1.70"}]}}}`)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/redfish/v1/sessionservice/sessions/"):
		e.mu.Lock()
		e.logouts++
		e.mu.Unlock()
		writeFakeJSON(w, 200, errBody("Base.1.4.Success"))
	default:
		form := map[string]string{}
		if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(part)
				form[part.FormName()] = string(b)
			}
		}
		e.answer(w, r, form, r.Header.Get("X-Auth-Token"))
	}
}

func (e *echoILO) issued() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.tokens...)
}

func startEchoILO(t *testing.T, password string, answer func(w http.ResponseWriter, r *http.Request, form map[string]string, token string)) (*echoILO, *Client) {
	t.Helper()
	e := &echoILO{answer: answer}
	srv := httptest.NewTLSServer(http.HandlerFunc(e.serve))
	t.Cleanup(srv.Close)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	host, portText, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	port, _ := strconv.Atoi(portText)
	c, err := New(httpClient(t, certPEM), Config{Host: host, Port: port, Username: fakeUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// extendedError is iLO's error document with one message whose MessageArgs are args.
func extendedError(id, text string, args ...string) string {
	info := map[string]any{"MessageId": id, "MessageArgs": args}
	if text != "" {
		info["Message"] = text
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo for more information.",
		"@Message.ExtendedInfo": []any{info},
	}})
	return string(b)
}

// assertNoFragment fails when text holds any fragment of a secret: a secret echoed
// and then normalised (spaces collapsed) or truncated must not survive in any part.
func assertNoFragment(t *testing.T, text string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if strings.Contains(text, f) {
			t.Errorf("text holds %q: %s", f, text)
		}
	}
	if !strings.Contains(text, client.Mask) {
		t.Errorf("text shows no mask where the device echoed a secret: %s", text)
	}
}

// An iLO that puts a rejected value into MessageArgs (PropertyValueFormatError,
// PropertyValueTypeError) must not get a secret into an error.
func TestEchoedSecretsNeverInErrors(t *testing.T) {
	const backupPassword = "Bk-Pa55  unique!" // two spaces in a row
	twoSpaces := "Login  Pa55-uniqueA"
	long := "LongStart-" + strings.Repeat("abcdefghij", 10) + "-uniqueEnd" // 120 characters
	ctx := testCtx(t)

	t.Run("login password with two spaces", func(t *testing.T) {
		_, c := startEchoILO(t, twoSpaces, func(w http.ResponseWriter, _ *http.Request, form map[string]string, _ string) {
			writeFakeJSON(w, 400, extendedError("Base.1.18.PropertyValueFormatError", "", form["Password"], "Password"))
		})
		err := c.Session().Open(ctx)
		assertNoFragment(t, errText(t, err), "Pa55-uniqueA", "Login Pa55")
	})
	t.Run("login password longer than 80 characters", func(t *testing.T) {
		_, c := startEchoILO(t, long, func(w http.ResponseWriter, _ *http.Request, form map[string]string, _ string) {
			writeFakeJSON(w, 400, extendedError("Base.1.18.PropertyValueTypeError", "", form["Password"], "Password"))
		})
		err := c.Session().Open(ctx)
		assertNoFragment(t, errText(t, err), "LongStart", "abcdefghij", "uniqueEnd")
	})
	t.Run("login password in an HTML page", func(t *testing.T) {
		_, c := startEchoILO(t, long, func(w http.ResponseWriter, _ *http.Request, form map[string]string, _ string) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			_, _ = io.WriteString(w, "<html><body><p>Rejected login for "+form["Password"]+"</p></body></html>")
		})
		err := c.Session().Open(ctx)
		assertNoFragment(t, errText(t, err), "LongStart", "abcdefghij", "uniqueEnd")
	})
	downloadEcho := func(status int) func(http.ResponseWriter, *http.Request, map[string]string, string) {
		return func(w http.ResponseWriter, _ *http.Request, form map[string]string, token string) {
			writeFakeJSON(w, status, extendedError("Base.1.18.PropertyValueFormatError",
				"The value "+form["password"]+" for sessionKey "+token+" is invalid.", form["password"], "password"))
		}
	}
	for _, status := range []int{400, 200} {
		t.Run("backup password on download, HTTP "+strconv.Itoa(status), func(t *testing.T) {
			e, c := startEchoILO(t, fakePassword, downloadEcho(status))
			defer func() { _ = c.Session().Close(ctx) }()
			_, _, err := c.OpenBackup(ctx, "/bkupdata/HPE_X_20240101_0000.bak", backupPassword)
			assertNoFragment(t, errText(t, err), append(e.issued(), "Pa55  unique", "Pa55 unique")...)
		})
	}
	t.Run("backup password on restore", func(t *testing.T) {
		e, c := startEchoILO(t, fakePassword, func(w http.ResponseWriter, _ *http.Request, form map[string]string, token string) {
			writeFakeJSON(w, 400, extendedError("Base.1.18.PropertyValueTypeError", "", form["password"], form["sessionKey"], token))
		})
		defer func() { _ = c.Session().Close(ctx) }()
		open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("backup")), nil }
		err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", open, 6, "b.bak", backupPassword)
		assertNoFragment(t, errText(t, err), append(e.issued(), "Pa55  unique", "Pa55 unique")...)
	})
	t.Run("session token echoed in a message", func(t *testing.T) {
		e, c := startEchoILO(t, fakePassword, func(w http.ResponseWriter, _ *http.Request, _ map[string]string, token string) {
			writeFakeJSON(w, 400, extendedError("iLO.2.1.SomethingNew", "session "+token+" may not do this"))
		})
		defer func() { _ = c.Session().Close(ctx) }()
		_, err := c.Discover(ctx)
		assertNoFragment(t, errText(t, err), e.issued()...)
	})
}

// Values the iLO reports name files and reach the state: one that echoes a secret
// is refused.
func TestReportedValuesHoldingSecretsAreRefused(t *testing.T) {
	ctx := testCtx(t)
	t.Run("serial number echoes the session token", func(t *testing.T) {
		e, c := startEchoILO(t, fakePassword, func(w http.ResponseWriter, r *http.Request, _ map[string]string, token string) {
			switch strings.ToLower(strings.TrimRight(r.URL.Path, "/")) {
			case "/redfish/v1/managers/1":
				writeFakeJSON(w, 200, `{"Oem":{"Hpe":{"Links":{"BackupRestoreService":{"@odata.id":"/redfish/v1/Managers/1/BackupRestoreService"}}}}}`)
			case "/redfish/v1/systems/1":
				writeFakeJSON(w, 200, `{"SerialNumber":"SN-`+token+`","Model":"DL360"}`)
			default:
				writeFakeJSON(w, 404, errBody("Base.1.18.ResourceMissingAtURI"))
			}
		})
		defer func() { _ = c.Session().Close(ctx) }()
		_, err := c.Discover(ctx)
		assertNoFragment(t, errText(t, err), e.issued()...)
	})
	t.Run("backup location echoes the login password", func(t *testing.T) {
		_, c := startEchoILO(t, fakePassword, func(w http.ResponseWriter, r *http.Request, _ map[string]string, _ string) {
			switch strings.ToLower(strings.TrimRight(r.URL.Path, "/")) {
			case "/redfish/v1/managers/1":
				writeFakeJSON(w, 200, `{"Oem":{"Hpe":{"Links":{"BackupRestoreService":{"@odata.id":"/redfish/v1/Managers/1/BackupRestoreService"}}}}}`)
			case "/redfish/v1/managers/1/backuprestoreservice":
				writeFakeJSON(w, 200, `{"BackupFileLocation":"/bkupdata/`+fakePassword+`.bak","HttpPushUri":"/cgi-bin/uploadRestoreFile"}`)
			default:
				writeFakeJSON(w, 404, errBody("Base.1.18.ResourceMissingAtURI"))
			}
		})
		defer func() { _ = c.Session().Close(ctx) }()
		_, err := c.ReadBackupService(ctx)
		assertNoFragment(t, errText(t, err), fakePassword)
	})
}

func errText(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded")
	}
	return err.Error()
}
