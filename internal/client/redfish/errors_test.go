package redfish

import (
	"net/http"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseMessageID(t *testing.T) {
	cases := map[string]MessageID{
		"Base.1.18.PropertyValueTypeError":  {"Base", "PropertyValueTypeError"},
		"iLO.2.27.UnauthorizedLoginAttempt": {"iLO", "UnauthorizedLoginAttempt"},
		"Base.PropertyValueTypeError":       {"Base", "PropertyValueTypeError"},
		"NoValidSession":                    {"", "NoValidSession"},
		" iLO.0.10.ExtendedInfo ":           {"iLO", "ExtendedInfo"},
		"":                                  {"", ""},
	}
	for in, want := range cases {
		if got := ParseMessageID(in); got != want {
			t.Errorf("ParseMessageID(%q) = %+v, want %+v", in, got, want)
		}
	}
	if !ParseMessageID("base.1.0.success").Is("Base", "Success") {
		t.Error("Is is not case-insensitive")
	}
}

// Every known key gets its sentence whatever the registry version.
func TestErrorSentences(t *testing.T) {
	cases := []struct {
		ids       []string
		wantWhat  string
		wantTodo  string
		forbidden string
	}{
		{[]string{"iLO.2.27.UnauthorizedLoginAttempt", "iLO.1.0.UnauthorizedLoginAttempt", "iLO.2.14.UnauthorizedLoginAttempt"},
			"refused the user name or password", "check the ilo username and password", ""},
		{[]string{"iLO.2.27.LoginAttemptDelayed", "iLO.1.1.LoginAttemptDelayed"},
			"delaying logins after too many failed attempts", "wait", ""},
		{[]string{"Base.1.17.SessionLimitExceeded", "Base.1.0.SessionLimitExceeded", "iLO.2.1.SessionLimitExceeded"},
			"all session slots", "close other iLO sessions", ""},
		{[]string{"Base.1.18.NoValidSession", "Base.1.0.NoValidSession"},
			"session is missing, invalid or expired", "log in again", ""},
		{[]string{"iLO.2.18.PropertyNotWritableOrUnknown", "iLO.2.27.PropertyNotWritableOrUnknown"},
			"CustomBackupandRestore", "iLO 5 firmware 2.72", ""},
		{[]string{"Base.1.18.PropertyValueTypeError", "Base.1.4.PropertyValueTypeError"},
			"wrong type", "report it", ""},
		{[]string{"iLO.2.18.UnsupportedSecurityState", "iLO.2.14.FIPSModeRestriction", "iLO.2.1.InvalidSecurityStateForOperation"},
			"security state", "Production or High Security", ""},
		{[]string{"iLO.2.8.ResetInProgress", "iLO.2.14.iLOResetInProgress"},
			"resetting", "wait until the iLO is back", ""},
		{[]string{"Base.1.18.PreconditionFailed", "Base.1.8.PreconditionFailed"},
			"ETag mismatch", "retry", ""},
	}
	for _, tc := range cases {
		for _, id := range tc.ids {
			e := parseError(400, []byte(errBody(id)), nil)
			what, todo := e.describe()
			if !strings.Contains(what, tc.wantWhat) || !strings.Contains(what, id) || !strings.Contains(todo, tc.wantTodo) {
				t.Errorf("%s: what %q todo %q; want %q / %q", id, what, todo, tc.wantWhat, tc.wantTodo)
			}
		}
	}
}

func TestSuccessIsNotAnError(t *testing.T) {
	for _, id := range []string{"Base.1.4.Success", "Base.1.0.Success", "Base.1.18.Success"} {
		e := parseError(200, []byte(errBody(id)), nil)
		if !e.onlySuccess() {
			t.Errorf("%s not recognised as success", id)
		}
	}
	if parseError(200, []byte(errBody("Base.1.4.Success", "iLO.2.8.ResetRequired")), nil).onlySuccess() {
		t.Error("mixed messages taken as success only")
	}
	if parseError(200, []byte(`{}`), nil).onlySuccess() {
		t.Error("no messages taken as success")
	}
}

func TestUnknownIDsKeepIDAndText(t *testing.T) {
	body := `{"error":{"code":"iLO.0.10.ExtendedInfo","message":"See @Message.ExtendedInfo for more information.",
	"@Message.ExtendedInfo":[{"MessageId":"iLO.2.99.SomethingNew","Message":"The thing\nfailed.","MessageArgs":["a",1,true,{"x":1}]},
	{"MessageId":"Base.1.0.Other","MessageArgs":["arg1"]}]}}`
	what, todo := parseError(500, []byte(body), nil).describe()
	for _, want := range []string{"iLO.2.99.SomethingNew: The thing failed.", "Base.1.0.Other [arg1]"} {
		if !strings.Contains(what, want) {
			t.Errorf("what %q lacks %q", what, want)
		}
	}
	if !strings.Contains(todo, "retry") {
		t.Errorf("todo for 500 = %q", todo)
	}
	// A top-level @Message.ExtendedInfo and a plain error message.
	what, _ = parseError(400, []byte(`{"@Message.ExtendedInfo":[{"MessageId":"Base.1.2.SessionLimitExceeded"}]}`), nil).describe()
	if !strings.Contains(what, "all session slots") {
		t.Errorf("top-level ExtendedInfo: %q", what)
	}
	what, _ = parseError(400, []byte(`{"error":{"code":"Base.1.0.GeneralError","message":"Bad things"}}`), nil).describe()
	if what != "Base.1.0.GeneralError Bad things" {
		t.Errorf("plain error: %q", what)
	}
}

func TestErrorBodiesAreSanitised(t *testing.T) {
	body := `{"error":{"@Message.ExtendedInfo":[{"MessageId":"iLO.1.0.X","Message":"password=hunter2 token: abc \u0007bell"}]}}`
	what, _ := parseError(400, []byte(body), nil).describe()
	if strings.Contains(what, "hunter2") || strings.Contains(what, "abc") || strings.ContainsRune(what, '\a') {
		t.Errorf("not sanitised: %q", what)
	}
	what, _ = parseError(502, []byte("<html><body><h1>Proxy\terror</h1> "+strings.Repeat("x", 500)+"</body></html>"), nil).describe()
	if !strings.Contains(what, "Proxy error") || utf8.RuneCountInString(what) > 250 {
		t.Errorf("snippet: %q", what)
	}
	what, _ = parseError(http.StatusServiceUnavailable, nil, nil).describe()
	if !strings.Contains(what, `"Service Unavailable" with no details`) {
		t.Errorf("empty body: %q", what)
	}
}

func TestResolveBackupLocation(t *testing.T) {
	ok := map[string]string{
		"/bkupdata/HPE_TWA22525A7_20221208_1512.bak": "/bkupdata/HPE_TWA22525A7_20221208_1512.bak",
		"/bkupdata/HPE%20X.bak":                      "/bkupdata/HPE X.bak",
		"/x.bak":                                     "/x.bak",
		"/bkupdata/a..b.bak":                         "/bkupdata/a..b.bak",
	}
	for in, want := range ok {
		got, err := ResolveBackupLocation(in)
		if err != nil || got != want {
			t.Errorf("ResolveBackupLocation(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "/", "bkupdata/x.bak", "x.bak",
		"/bkupdata/../../x", "/bkupdata/./x", "/../x", "/bkupdata/..",
		"//other-host/x", "///x", "/bkupdata//x", "/bkupdata/x/",
		"https://evil/x", "http://127.0.0.1/bkupdata/x", "file:///etc/passwd", "javascript:alert(1)",
		`\\x`, `/bkupdata\..\x`, `/bkupdata/x\y`,
		"%2e%2e", "/bkupdata/%2e%2e/x", "/bkupdata/%2E%2E/%2e%2e/x", "/%2f%2fevil/x", "/bkupdata%2f..%2fx", "/bkupdata/%5c",
		"/bkupdata/%252e%252e/x", "/bkupdata/%zz",
		"/bkupdata/x\x00.bak", "/bkupdata/x\n.bak", "/bkupdata/x\r\nSet-Cookie: a", "/bkupdata/\u202ex.bak",
		"/bkupdata/x.bak?y=1", "/bkupdata/x.bak#f", "/bkupdata/\xff.bak",
		"/" + strings.Repeat("a", 2000),
	}
	for _, in := range bad {
		got, err := ResolveBackupLocation(in)
		if err == nil {
			t.Errorf("ResolveBackupLocation(%q) = %q, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), "unsafe backup location") {
			t.Errorf("error %q does not say the location is unsafe", err)
		}
		for _, r := range err.Error() {
			if unicode.IsControl(r) {
				t.Errorf("error for %q has control characters: %q", in, err)
				break
			}
		}
	}
}

// checkResolved asserts the invariants of an accepted location.
func checkResolved(t *testing.T, in, got string) {
	t.Helper()
	if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
		t.Fatalf("%q resolved to %q: not a same-origin absolute path", in, got)
	}
	if path.Clean(got) != got {
		t.Fatalf("%q resolved to %q: not clean", in, got)
	}
	for _, seg := range strings.Split(got, "/") {
		if seg == ".." || seg == "." {
			t.Fatalf("%q resolved to %q: has a %q segment", in, got, seg)
		}
	}
	if strings.ContainsAny(got, "\\?#%") || !utf8.ValidString(got) {
		t.Fatalf("%q resolved to %q: unsafe characters", in, got)
	}
	for _, r := range got {
		if unicode.IsControl(r) {
			t.Fatalf("%q resolved to %q: control characters", in, got)
		}
	}
	c := &Client{hostPort: "ilo.example:443"}
	if u := c.url(got); !strings.HasPrefix(u, "https://ilo.example:443/") {
		t.Fatalf("%q resolved to %q, URL %q leaves the origin", in, got, u)
	}
}

func FuzzResolveBackupLocation(f *testing.F) {
	for _, s := range []string{
		"/bkupdata/HPE_TWA22525A7_20221208_1512.bak", "/bkupdata/../../x", "//other-host/x", "https://evil/x",
		`\\x`, "%2e%2e", "/bkupdata/%2e%2e/x", "/a/./b", "/a//b", "/a/b/", "/%2F%2Fx", "/a%00b", "/\u00e9t\u00e9.bak",
		"/bkupdata/x.bak?x", "/%25", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ResolveBackupLocation(in)
		if err != nil {
			if !strings.Contains(err.Error(), "unsafe backup location") {
				t.Fatalf("error %q does not name the problem", err)
			}
			return
		}
		checkResolved(t, in, got)
		// Resolving a resolved path is stable.
		if again, err := ResolveBackupLocation(got); err != nil || again != got {
			// A decoded path may now hold characters that read as escapes ("%"
			// is refused above), so it must resolve to itself.
			t.Fatalf("re-resolving %q: %q, %v", got, again, err)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(errBody("Base.1.18.PropertyValueTypeError")))
	f.Add(401, []byte(errBody("iLO.2.27.UnauthorizedLoginAttempt", "Base.1.18.NoValidSession")))
	f.Add(200, []byte(errBody("Base.1.4.Success")))
	f.Add(500, []byte("<html><title>500 Internal Server Error</title></html>"))
	f.Add(503, []byte(""))
	f.Add(400, []byte(`{"error":{"@Message.ExtendedInfo":[{"MessageId":null,"MessageArgs":"x"},1,"s"]}}`))
	f.Add(400, []byte(`{"error":"string","@Message.ExtendedInfo":{}}`))
	f.Add(400, []byte(`{"error":{"code":"\u0000\u202e","message":"password=x"}}`))
	f.Add(0, []byte(`{"@Message.ExtendedInfo":[{"MessageId":"....","Message":"`+strings.Repeat("é", 300)+`"}]}`))
	f.Add(999, []byte(`{"error":{"code":"iLO.0.10.ExtendedInfo"`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body, nil)
		what, todo := e.describe()
		if what == "" {
			t.Fatal("empty description")
		}
		for _, s := range []string{what, todo} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
			for _, r := range s {
				if unicode.IsControl(r) {
					t.Fatalf("control character in %q", s)
				}
			}
		}
		if len(what) > 16*(maxTextLen*4+2*maxTextLen+64)+maxSnippetLen*4+64 {
			t.Fatalf("description too long: %d bytes", len(what))
		}
		_ = e.onlySuccess()
		_ = e.has("NoValidSession")
	})
}
