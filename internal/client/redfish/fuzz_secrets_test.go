package redfish

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/secrettest"
)

// Secrets the fuzzed iLO client knows, each with a core no encoding or normalising
// leaves intact unless the secret leaked.
var fuzzSecrets = []struct{ value, core string }{
	{"iLO  Pa55Core-ȺÄ\xff'\"<&>", "Pa55Core"},
	{"Bk;&Pw-Core  x%", "Pw-Core"},
	{"0123abcdTok-c0re-89abcdef", "Tok-c0re"},
}

var fuzzStatuses = []int{200, 201, 400, 401, 403, 404, 412, 500, 503}

// FuzzDeviceTextNeverLeaks feeds hostile device text (invalid UTF-8, case-changing
// runes, secrets echoed in every form) through every parser and every error-building
// path of the client: nothing panics, and no error text holds a secret.
func FuzzDeviceTextNeverLeaks(f *testing.F) {
	h := secrettest.Hostile
	for i := range 60 {
		f.Add(h[i%len(h)], h[(i+4)%len(h)], uint8(i), uint8(i/3), uint16(i/7))
	}
	hc, err := client.New(client.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, form, wrap uint8, status uint16) {
		c, err := New(hc, Config{Host: "ilo1", Username: "u", Password: fuzzSecrets[0].value})
		if err != nil {
			t.Fatal(err)
		}
		c.secrets.Add(fuzzSecrets[1].value, fuzzSecrets[2].value)
		piece, watch := pieceFor(int(form))
		text := clean(prefix, watch) + piece + clean(suffix, watch)
		body := bodyFor(int(wrap), text)
		st := fuzzStatuses[int(status)%len(fuzzStatuses)]

		var texts []string
		add := func(err error) {
			if err != nil {
				texts = append(texts, err.Error())
			}
		}
		ae := parseError(st, body, c.secrets)
		msg, hint := ae.describe()
		texts = append(texts, msg, hint, strings.Join(ae.ids(), " "))
		_, _ = ae.onlySuccess(), ae.has("NoValidSession")
		add(c.errorFrom("s", st, body, true))
		add(c.errorFrom("s", st, body, false))
		var v map[string]any
		if derr := json.Unmarshal(body, &v); derr != nil {
			add(c.malformed("s", st, "x", derr))
		}
		for _, loc := range []string{text, string(body)} {
			_, perr := c.sessionPathFrom(loc)
			add(perr)
			_, lerr := c.backupLocation("s", loc)
			add(lerr)
			add(c.refuseSecrets("s", map[string]string{"serial number": loc}))
			texts = append(texts, quoteSanitized(loc, c.secrets))
		}
		for _, out := range texts {
			if leaked := secrettest.Leaked(out, watch...); leaked != "" {
				t.Fatalf("%q leaked into %q (device text %q)", leaked, out, body)
			}
		}
	})
}

// pieceFor is the echo to embed: a known secret in one of its echo forms, or an
// unknown value in one of the key/value forms.
func pieceFor(form int) (piece string, watch []string) {
	forms := len(secrettest.Echoes(""))
	n := len(fuzzSecrets) * forms
	k := form % (n + len(secrettest.KeyedForms))
	if k < n {
		for _, s := range fuzzSecrets {
			watch = append(watch, s.core)
		}
		return secrettest.Echoes(fuzzSecrets[k/forms].value)[k%forms], watch
	}
	return secrettest.KeyedForms[k-n], []string{secrettest.Unknown}
}

// clean removes the watched cores from fuzzed context text, so that only the piece
// can hold a secret.
func clean(s string, watch []string) string {
	for changed := true; changed; {
		changed = false
		for _, w := range watch {
			if strings.Contains(s, w) {
				s, changed = strings.ReplaceAll(s, w, ""), true
			}
		}
	}
	return s
}

// bodyFor wraps text the ways an iLO or a proxy answers.
func bodyFor(wrap int, text string) []byte {
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	info := func(m map[string]any) []byte {
		return js(map[string]any{"error": map[string]any{"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo for more information.",
			"@Message.ExtendedInfo": []any{m}}})
	}
	bodies := [][]byte{
		[]byte(text),
		[]byte("<html><head><title>" + text + "</title></head><body><h1>" + text + "</h1></body></html>"),
		[]byte("<html><body>" + text + "</body></html>"),
		info(map[string]any{"MessageId": "Base.1.18.PropertyValueFormatError", "MessageArgs": []string{text, "Password"}}),
		info(map[string]any{"MessageId": "Base.1.18.PropertyValueTypeError", "MessageArgs": []any{text, 5, true}}),
		info(map[string]any{"MessageId": "iLO.2.1.Unknown", "Message": text}),
		info(map[string]any{"MessageId": text}),
		js(map[string]any{"error": map[string]any{"code": text, "message": text}}),
		js(map[string]any{"@Message.ExtendedInfo": []any{map[string]any{"MessageId": "Base.1.4.Success", "MessageArgs": []string{text}}}}),
		[]byte(`{"error":{"message":"` + text),
	}
	return bodies[wrap%len(bodies)]
}
