package client_test

import (
	"context"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

func TestSecretsScrubEveryForm(t *testing.T) {
	const pw = `Pa55  word "&" <x> ü`
	long := strings.Repeat("L0ng-secret-", 10) // 120 characters
	s := client.NewSecrets(pw, long, "")
	for name, text := range map[string]string{
		"raw":              "device says: bad value " + pw + " (rejected)",
		"query-escaped":    "login?password=" + url.QueryEscape(pw) + "&x=1",
		"path-escaped":     "/login/" + url.PathEscape(pw) + "/x",
		"lower-case hex":   "body=" + regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(pw), strings.ToLower),
		"json-escaped":     `{"MessageArgs":["Pa55  word \"\u0026\" \u003cx\u003e ü"]}`,
		"json, no escapes": `{"MessageArgs":["Pa55  word \"&\" <x> ü"]}`,
		"html-escaped":     "<td>" + html.EscapeString(pw) + "</td>",
		"long":             "value " + long + " refused",
	} {
		got := s.Scrub(text)
		for _, part := range []string{"Pa55", "L0ng-secret"} {
			if strings.Contains(got, part) {
				t.Errorf("%s: Scrub(%q) = %q still holds %q", name, text, got, part)
			}
		}
		if !strings.Contains(got, client.Mask) {
			t.Errorf("%s: Scrub(%q) = %q shows no mask", name, text, got)
		}
	}
	// Scrub also applies Redact.
	if got := s.Scrub("token=abc-unknown"); strings.Contains(got, "abc-unknown") {
		t.Errorf("Scrub does not redact: %q", got)
	}
	// Other text is left alone.
	if got := s.Scrub("HTTP 400: the value is invalid"); got != "HTTP 400: the value is invalid" {
		t.Errorf("Scrub changed harmless text: %q", got)
	}
}

func TestSecretsAddedLaterAndShared(t *testing.T) {
	s := client.NewSecrets("first-pass")
	ctx := client.WithSecrets(context.Background(), s)
	s.Add("uid-issued-later", "") // as a client does when the device issues a session token
	got := client.SecretsFrom(ctx).Scrub("first-pass uid-issued-later")
	if strings.Contains(got, "first-pass") || strings.Contains(got, "uid-issued-later") {
		t.Fatalf("Scrub = %q", got)
	}
	if !client.SecretsFrom(ctx).Contains("x uid-issued-later y") || client.SecretsFrom(ctx).Contains("nothing here") {
		t.Fatal("Contains is wrong")
	}

	// A nil set (no operation context) still redacts.
	var none *client.Secrets
	if got := none.Scrub("password=x y"); strings.Contains(got, "x y") {
		t.Fatalf("nil Secrets does not redact: %q", got)
	}
	none.Add("ignored")
	if client.SecretsFrom(context.Background()) != nil {
		t.Fatal("SecretsFrom of a bare context must be nil")
	}

	// Binding a second set to a context that holds one keeps both sets' secrets.
	other := client.NewSecrets("client-own")
	ctx2 := client.WithSecrets(ctx, other)
	got = client.SecretsFrom(ctx2).Scrub("first-pass client-own")
	if strings.Contains(got, "first-pass") || strings.Contains(got, "client-own") {
		t.Fatalf("merged Scrub = %q", got)
	}
}

func TestSecretsScrubError(t *testing.T) {
	s := client.NewSecrets("hunter2")
	base := &client.DeviceError{Device: "d", Step: "s", Message: "echo hunter2", Err: context.DeadlineExceeded}
	err := s.ScrubError(base)
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("ScrubError = %q", err)
	}
	var de *client.DeviceError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("ScrubError must keep the error chain")
	}
	if s.ScrubError(nil) != nil {
		t.Fatal("ScrubError(nil) != nil")
	}
}

func FuzzSecretsScrub(f *testing.F) {
	f.Add("Pa55  word", "device echoed Pa55  word twice: Pa55  word")
	f.Add("p\xffw", "\xffp\xffw\xfe")
	f.Add("Ⱥȿ", "ȺȺȿȿ ⱥ")
	f.Fuzz(func(t *testing.T, secret, text string) {
		if secret == "" || strings.Contains(secret, "*") { // "*" could join the mask into a new match
			return
		}
		got := client.NewSecrets(secret).Scrub(text + secret + text)
		if strings.Contains(got, secret) {
			t.Fatalf("Scrub left the secret %q in %q", secret, got)
		}
	})
}
