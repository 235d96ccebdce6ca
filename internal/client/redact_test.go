package client_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

func TestRedactMasksSecrets(t *testing.T) {
	cases := []struct {
		name, in string
		secrets  []string // must be gone
		keep     []string // must survive
	}{
		{"query string", "GET /v1/configuration/showcommand?command=show+hostname&UIDARUBA=3f2a-uid-9c&json=1",
			[]string{"3f2a-uid-9c"}, []string{"command=show+hostname", "json=1", "UIDARUBA="}},
		{"login form", "username=admin&password=Pa55-word%21%26x",
			[]string{"Pa55-word"}, []string{"username=admin", "password="}},
		{"passwd form", "srcfilename=flash.tar.gz&passwd=scp-Secret-1&scphost=10.0.0.5",
			[]string{"scp-Secret-1"}, []string{"srcfilename=flash.tar.gz", "scphost=10.0.0.5"}},
		{"token query", "https://dev/api?token=tok-123-abc&page=2",
			[]string{"tok-123-abc"}, []string{"page=2"}},
		{"json password", `{"username":"admin","password":"Pa55-word!x"}`,
			[]string{"Pa55-word!x"}, []string{`"username":"admin"`, `"password":`}},
		{"json passwd spaced", `{"srcfilename": "flash.tar.gz", "passwd" : "scp-Secret-2", "scphost": "10.0.0.5"}`,
			[]string{"scp-Secret-2"}, []string{`"srcfilename": "flash.tar.gz"`, `"scphost": "10.0.0.5"`}},
		{"json login answer", `{"_global_result":{"status":"0","status_str":"You've logged in successfully.","UIDARUBA":"6f1e-uid-77","X-CSRF-Token":"b64csrf+/="}}`,
			[]string{"6f1e-uid-77", "b64csrf+/="}, []string{`"status_str":"You've logged in successfully."`, `"status":"0"`}},
		{"json sessionKey", `{"Oem":{"Hpe":{"Sessions":{"sessionKey":"a1b2c3d4e5"}}},"UserName":"admin"}`,
			[]string{"a1b2c3d4e5"}, []string{`"UserName":"admin"`}},
		{"csrf header", "X-CSRF-Token: 0a9b8c7d6e",
			[]string{"0a9b8c7d6e"}, []string{"X-CSRF-Token:"}},
		{"auth token header", "X-Auth-Token: ilo-tok-55",
			[]string{"ilo-tok-55"}, []string{"X-Auth-Token:"}},
		{"cookie header", "Cookie: SESSION=cookie-uid-1; Path=/",
			[]string{"cookie-uid-1"}, []string{"Cookie:"}},
		{"set-cookie header", "Set-Cookie: SESSION=cookie-uid-2; Path=/; Secure; HttpOnly",
			[]string{"cookie-uid-2"}, []string{"Secure", "HttpOnly"}},
		{"session cookie in text", "sent SESSION=cookie-uid-3; to the device",
			[]string{"cookie-uid-3"}, []string{"sent", "; to the device"}},
		{"several in one line", "password=p1-x&UIDARUBA=u1-x&token=t1-x&sessionKey=s1-x&other=keep",
			[]string{"p1-x", "u1-x", "t1-x", "s1-x"}, []string{"other=keep"}},
		{"case-insensitive keys", "PASSWORD=UP-1 uidaruba=lo-2 x-csrf-token: lo-3",
			[]string{"UP-1", "lo-2", "lo-3"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := client.Redact(tc.in)
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q still contains %q", tc.in, got, s)
				}
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("Redact(%q) = %q lost %q", tc.in, got, k)
				}
			}
			if !strings.Contains(got, "***") {
				t.Errorf("Redact(%q) = %q shows no mask", tc.in, got)
			}
			if again := client.Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q then %q", got, again)
			}
		})
	}
}

// Secret values that contain separators (a space, a comma, '&' or ';') inside a JSON
// string must be masked whole, not up to the first separator.
func TestRedactQuotedValuesWhole(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{`{"passwd":"correct horse battery"}`, "horse battery"},
		{`{"password": "a,b;c&d}e"}`, ",b;c&d}e"},
		{`{"password":"with \"escaped\" quote","user":"x"}`, `escaped`},
	} {
		got := client.Redact(tc.in)
		if strings.Contains(got, tc.secret) {
			t.Errorf("Redact(%q) = %q leaks part of the secret (%q)", tc.in, got, tc.secret)
		}
	}
	got := client.Redact(`{"password":"with \"escaped\" quote","user":"x"}`)
	if !strings.Contains(got, `"user":"x"`) {
		t.Errorf("text after the secret was lost: %q", got)
	}
}

// Every form a device or a proxy may echo a secret in: the value must be gone, the
// text around it kept where the form says where the value ends.
func TestRedactForms(t *testing.T) {
	cases := []struct {
		name, in string
		secrets  []string // must be gone
		keep     []string // must survive
	}{
		{"basic auth header", "Authorization: Basic YWRtaW46c2VjcmV0\nAccept: */*",
			[]string{"YWRtaW46c2VjcmV0"}, []string{"Authorization:", "Accept: */*"}},
		{"bearer auth header", "authorization: Bearer eyJhbGciOi.payload.sig",
			[]string{"eyJhbGciOi", "payload.sig"}, []string{"authorization:"}},
		{"quoted auth header", `{"Authorization": "Bearer abc.def", "Accept": "json"}`,
			[]string{"abc.def"}, []string{`"Accept": "json"`}},
		{"url-encoded pair", "body=username%3Dadmin%26password%3Dp%40ss%20word%26x%3D1",
			[]string{"p%40ss", "%20word"}, []string{"username%3Dadmin", "%26x%3D1"}},
		{"url-encoded json", "q=%7B%22user%22%3A%22bob%22%2C%22password%22%3A%22se%20cret%22%7D",
			[]string{"se%20cret", "cret"}, []string{"%22user%22%3A%22bob%22"}},
		{"lower-case percent-encoding", "password%3dhunter2%26a%3d1",
			[]string{"hunter2"}, []string{"%26a%3d1"}},
		{"xml element", "<login><user>bob</user><password>tr0ub4dor &amp; 3</password></login>",
			[]string{"tr0ub4dor", "3</password>"}, []string{"<user>bob</user>", "<password>", "</password></login>"}},
		{"xml element with attributes", `<sessionKey type="x">abc-123</sessionKey>`,
			[]string{"abc-123"}, []string{"</sessionKey>"}},
		{"html input", `<form><input name="user" value="bob"><input type="text" name="password" value="hunter 2"></form>`,
			[]string{"hunter 2", "hunter"}, []string{`value="bob"`, `name="password"`}},
		{"html input, value first", `<input value='s3cr3t' id="login-password">`,
			[]string{"s3cr3t"}, []string{`id="login-password"`}},
		{"python repr", `{'username': 'bob', 'passwd': 'it\'s me', 'port': 22}`,
			[]string{"it\\'s me", "s me"}, []string{"'username': 'bob'", "'port': 22"}},
		{"value with spaces", "password=correct horse battery staple",
			[]string{"correct", "horse", "staple"}, []string{"password="}},
		{"value with spaces then next field", "password=correct horse&user=bob",
			[]string{"correct", "horse"}, []string{"&user=bob"}},
		{"colon form with spaces", "token: abc def ghi\nnext line",
			[]string{"abc", "def", "ghi"}, []string{"next line"}},
		{"escaped json inside json", `{"body":"{\"password\":\"p w\",\"user\":\"bob\"}"}`,
			[]string{"p w"}, []string{`\"user\":\"bob\"`}},
		{"html-escaped json", `{&quot;password&quot;:&quot;pa ss&quot;,&quot;user&quot;:&quot;bob&quot;}`,
			[]string{"pa ss"}, []string{"&quot;user&quot;:&quot;bob&quot;"}},
		{"secret key", "client_secret=abc123", []string{"abc123"}, []string{"client_secret="}},
		{"json-escaped xml element", `{"msg":"bad \u003cpassword\u003ehunter 2\u003c/password\u003e here"}`,
			[]string{"hunter"}, []string{`\u003c/password\u003e here`}},
		{"html-escaped xml element", "<pre>&lt;password&gt;hunter 2&lt;/password&gt;</pre>",
			[]string{"hunter"}, []string{"&lt;/password&gt;</pre>"}},
		{"json-escaped html input", `{"page":"\u003cinput name=\"password\" value=\"hunter 2\"\u003e"}`,
			[]string{"hunter"}, []string{`name=\"password\"`}},
		{"element without a closing tag", "<password>hunter 2", []string{"hunter"}, []string{"<password>"}},
		{"ruby hash", `{:password=>"x y z"}`, []string{"x y z"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := client.Redact(tc.in)
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q still contains %q", tc.in, got, s)
				}
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("Redact(%q) = %q lost %q", tc.in, got, k)
				}
			}
			if !strings.Contains(got, client.Mask) {
				t.Errorf("Redact(%q) = %q shows no mask", tc.in, got)
			}
			if again := client.Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestRedactLeavesOtherTextAlone(t *testing.T) {
	for _, s := range []string{
		"",
		"You've logged in successfully.",
		"Invalid authentication token(UIDARUBA) in request URL",
		"Maximum number of sessions reached (64)",
		"show running-config",
		`{"_global_result":{"status":"0","status_str":"Success","_pending":false}}`,
		"https://10.0.0.5:4343/v1/configuration/object/flash_backup?config_path=%2Fmd",
		"web-server profile\n   session-timeout 900\n",
		"copy_flash_scp: wrong syntax: missing mandatory parameter 'passwd'",
		"Error copying file flash.tar.gz to 10.0.0.5: authentication failed (permission denied)",
		"check the aruba username and password of the provider (or ARUBA_USERNAME / ARUBA_PASSWORD)",
		"missing iLO credentials: set ilo.username",
		"the iLO refused the backup password (invalid_restore_password)",
		"<html><head><title>401 Unauthorized</title></head><body>Enter your password</body></html>",
		`<input type="submit" value="Log in">`,
		"Base.1.18.PropertyValueTypeError [Password]",
		"the conductor refuses new sessions: at most 64 may be open",
		"Too many sessions: close some and retry",
	} {
		if got := client.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q; non-secret text must be untouched", s, got)
		}
	}
}

func TestRedactURL(t *testing.T) {
	if got := client.RedactURL(nil); got != "" {
		t.Errorf("RedactURL(nil) = %q", got)
	}
	cases := []struct {
		in      string
		secrets []string
		keep    []string
	}{
		{"https://admin:Pa55word@mc1.example:4343/v1/api/login",
			[]string{"Pa55word", "admin"}, []string{"mc1.example:4343", "/v1/api/login"}},
		{"https://mc1:4343/v1/configuration/showcommand?command=show+running-config&UIDARUBA=uid-secret-1",
			[]string{"uid-secret-1"}, []string{"mc1:4343", "command=show+running-config", "UIDARUBA="}},
		{"https://mc1:4343/v1/api/login?username=admin&password=Pa55-w%26rd",
			[]string{"Pa55", "w%26rd"}, []string{"username=admin", "password="}},
		{"https://ilo/redfish/v1/?X-Auth-Token=tok1&sessionKey=sk1&token=tk1&passwd=pw1&a=1",
			[]string{"tok1", "sk1", "tk1", "pw1"}, []string{"a=1", "/redfish/v1/"}},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got := client.RedactURL(u)
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("RedactURL(%s) = %s still contains %q", tc.in, got, s)
			}
		}
		for _, k := range tc.keep {
			if !strings.Contains(got, k) {
				t.Errorf("RedactURL(%s) = %s lost %q", tc.in, got, k)
			}
		}
		if u.String() != tc.in && u.RawQuery != "" {
			// RedactURL works on a copy.
			t.Errorf("RedactURL changed its argument to %s", u)
		}
	}
	// A URL without secrets comes back unchanged.
	plain := "https://10.0.0.5:4343/v1/configuration/object/copy_running_flash?config_path=%2Fmd"
	u, _ := url.Parse(plain)
	if got := client.RedactURL(u); got != plain {
		t.Errorf("RedactURL(%s) = %s", plain, got)
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"password", "Password", "passwd", "token", "UIDARUBA", "X-CSRF-Token", "X-Auth-Token",
		"sessionKey", "SESSION", "Cookie", "Set-Cookie", "Authorization", "new_password", "authToken",
		"backup_password", "client_secret", "private_key"} {
		if !client.IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = false", k)
		}
	}
	for _, k := range []string{"username", "command", "config_path", "filename", "scphost", "Content-Type", "User-Agent", "status_str"} {
		if client.IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = true", k)
		}
	}
}

// FuzzRedact: Redact never panics on any input (invalid UTF-8 included) and masking
// twice changes nothing.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"password=correct horse", "Authorization: Basic abc", "password%3Dx%26y", "%22password%22%3A%22x%22",
		"<password>x</password>", `<input name="password" value="x">`, `{'passwd': 'x'}`, `{"token":"a\"b"}`,
		"\xff\xfepassword=\xc3", "Ⱥpassword: ȺȺ", `{\"password\":\"x\"}`, "&quot;token&quot;:&quot;x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := client.Redact(s)
		if twice := client.Redact(once); twice != once {
			t.Fatalf("Redact is not idempotent on %q: %q then %q", s, once, twice)
		}
	})
}
