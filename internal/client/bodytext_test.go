package client_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/secrettest"
)

// Case-changing runes (whose lower case has another length in bytes, like Ⱥ) and
// Latin-1 pages from a proxy must neither panic nor shift what is cut out of the text.
func TestHTMLTitle(t *testing.T) {
	for in, want := range map[string]string{
		"ȺȺȺȺ<title>Service Unavailable</title>":                     "Service Unavailable",
		"<html>\xe9\xe9\xe9<TITLE>Acc\xe8s refus\xe9</TITLE></html>": "Acc\xe8s refus\xe9",
		"<TiTlE>x</tItLe>ȺȺȺȺȺȺȺȺ":                                   "x",
		`<title lang="en">Bad Gateway</title>`:                       "Bad Gateway",
		"ȺȺȺ <title>unterminated":                                    "",
		"<title>  </title><title>second</title>":                     "",
		"<title":                                                     "",
		"no markup at all":                                           "",
	} {
		if got := client.HTMLTitle(in); got != want {
			t.Errorf("HTMLTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexFold(t *testing.T) {
	for _, c := range []struct {
		s, needle string
		want      int
	}{
		{"ȺȺ HOSTNAME is", "hostname is", 5},
		{"\xff\xfe<TiTle>", "<title>", 2},
		{"short", "longer needle", -1},
		{"abc", "", 0},
	} {
		if got := client.IndexFold(c.s, c.needle); got != c.want {
			t.Errorf("IndexFold(%q, %q) = %d, want %d", c.s, c.needle, got, c.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"  Proxy\terror\r\n\x07bell  ", 40, "Proxy error bell"},
		{"bad \xff byte", 40, "bad \uFFFD byte"},
		{"bidi \u202egnp.exe", 40, "bidi gnp.exe"},
		{"login failed: password=hunter2", 40, "login failed: password=" + client.Mask},
		{strings.Repeat("x", 20), 10, strings.Repeat("x", 10) + "..."},
		{strings.Repeat("Ⱥ", 20), 11, strings.Repeat("Ⱥ", 5) + "..."}, // 2-byte runes: cut at 10 bytes, not 11
	} {
		if got := client.OneLine(c.in, c.max); got != c.want {
			t.Errorf("OneLine(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestDescribeBody(t *testing.T) {
	secrets := client.NewSecrets("Sw0rdfish")
	long := strings.Repeat("y", 300)
	for _, c := range []struct {
		name     string
		status   int
		body     string
		parseErr error
		want     string
	}{
		{"empty", 502, " \n", nil, "HTTP 502 with an empty body"},
		{"html title", 503, "<html><title>Service Unavailable</title><body>x</body></html>", nil, "HTTP 503 with an HTML page instead of JSON (Service Unavailable)"},
		{"html without title", 500, "<p>oops</p>", nil, "HTTP 500 with an HTML page instead of JSON (<p>oops</p>)"},
		{"text", 400, "bad request\nfor Sw0rdfish", nil, "HTTP 400: bad request for ***"},
		{"parse error", 200, "{oops Sw0rdfish", errors.New("not JSON near Sw0rdfish"), `not JSON near *** (answer starts "{oops ***")`},
		{"long text", 400, long, nil, "HTTP 400: " + long[:160] + "..."},
	} {
		if got := client.DescribeBody(secrets, c.status, []byte(c.body), c.parseErr); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// A secret echoed across the end of the part of the body that is read is still not
// shown: only text well before that end ever is.
func TestDescribeBodyHugeBody(t *testing.T) {
	secrets := client.NewSecrets("Sw0rdfish")
	body := []byte("Sw0rdfish " + strings.Repeat("z", 64<<10-4) + "Sw0rdfish")
	got := client.DescribeBody(secrets, 500, body, nil)
	if strings.Contains(got, "Sw0r") || !strings.HasPrefix(got, "HTTP 500: *** zzz") || len(got) > 200 {
		t.Errorf("got %q", got)
	}
}

// FuzzBodyText: hostile device text never panics, and what is shown is valid UTF-8 on
// one line, bounded, and holds no known secret in any form it may be echoed in.
func FuzzBodyText(f *testing.F) {
	for i, h := range secrettest.Hostile {
		f.Add(h, uint8(i), uint16(400+i))
	}
	f.Add("<title>\xff</title>", uint8(3), uint16(500))
	f.Fuzz(func(t *testing.T, text string, form uint8, status uint16) {
		const secret = "Pa55Core-Ⱥ\xff'\"<&>"
		echoes := secrettest.Echoes(secret)
		for strings.Contains(text, "Pa55Core") { // only the echo may hold the secret
			text = strings.ReplaceAll(text, "Pa55Core", "")
		}
		body := []byte(text + echoes[int(form)%len(echoes)] + text)
		secrets := client.NewSecrets(secret)
		_ = client.IndexFold(text, "<title>")
		_ = client.HTMLTitle(text)
		for _, out := range []string{
			client.DescribeBody(secrets, int(status), body, nil),
			client.DescribeBody(secrets, int(status), body, errors.New(text)),
			client.OneLine(secrets.Scrub(string(body)), 80),
		} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8: %q", out)
			}
			for _, r := range out {
				if unicode.IsControl(r) {
					t.Fatalf("control character in %q", out)
				}
			}
			if len(out) > 600 {
				t.Fatalf("%d bytes: %q", len(out), out)
			}
			if leaked := secrettest.Leaked(out, "Pa55Core"); leaked != "" {
				t.Fatalf("%q leaked into %q (body %q)", leaked, out, body)
			}
		}
	})
}
