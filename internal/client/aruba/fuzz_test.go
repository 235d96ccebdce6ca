package aruba

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/secrettest"
)

// Secrets the fuzzed conductor knows, each with a core no encoding or normalising
// leaves intact unless the secret leaked.
var fuzzSecrets = []struct{ value, core string }{
	{"Api  Pa55Core-ȺÄ\xff'\"<&>", "Pa55Core"},
	{"scp;&Pw-Core  x%", "Pw-Core"},
	{"6f1e-uid-c0re-77", "uid-c0re"},
	{"b64+/=csrf-c0re", "csrf-c0re"},
}

var fuzzStatuses = []int{200, 400, 401, 403, 404, 500, 503}

// FuzzDeviceTextNeverLeaks feeds hostile device text (invalid UTF-8, case-changing
// runes, secrets echoed in every form) through every parser and every error-building
// path of the client: nothing panics, and no error text holds a secret.
func FuzzDeviceTextNeverLeaks(f *testing.F) {
	h := secrettest.Hostile
	for i := range 60 {
		f.Add(h[i%len(h)], h[(i+4)%len(h)], uint8(i), uint8(i/3), uint16(i/7))
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, form, wrap uint8, status uint16) {
		c, err := New(nil, Config{Host: "mc1", Username: "api", Password: fuzzSecrets[0].value})
		if err != nil {
			t.Fatal(err)
		}
		c.secrets.Add(fuzzSecrets[1].value, fuzzSecrets[2].value, fuzzSecrets[3].value)
		piece, watch := pieceFor(int(form))
		text := clean(prefix, watch) + piece + clean(suffix, watch)
		body := bodyFor(int(wrap), text)
		st := fuzzStatuses[int(status)%len(fuzzStatuses)]

		// Every parser: no panic.
		env, perr := parseEnvelope(body)
		if perr == nil {
			_, _ = env.failure(), env.message()
		}
		_, _ = parseShowText(body)
		_, _ = parseHostname(body)

		// Every error-building path: no secret.
		var texts []string
		add := func(err error) {
			if err != nil {
				texts = append(texts, err.Error())
			}
		}
		texts = append(texts, client.DescribeBody(c.secrets, st, body, perr))
		add(c.loginAnswer(st, body))
		add(c.callAnswer("s", st, body))
		add(c.refusal("s", st, body))
		cerr := c.configureAnswer("s", body)
		add(cerr)
		hn, herr := c.hostnameFrom(body)
		add(herr)
		if herr == nil {
			texts = append(texts, hn) // it names files and reaches the state
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
	n := len(fuzzSecrets) * len(secrettest.Echoes(""))
	if form%(n+len(secrettest.KeyedForms)) < n {
		k := form % (n + len(secrettest.KeyedForms))
		s := fuzzSecrets[k/len(secrettest.Echoes(""))]
		for _, fs := range fuzzSecrets {
			watch = append(watch, fs.core)
		}
		return secrettest.Echoes(s.value)[k%len(secrettest.Echoes(""))], watch
	}
	return secrettest.KeyedForms[form%(n+len(secrettest.KeyedForms))-n], []string{secrettest.Unknown}
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

// bodyFor wraps text the ways a conductor or a proxy answers.
func bodyFor(wrap int, text string) []byte {
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	bodies := [][]byte{
		[]byte(text),
		js(map[string]any{"_global_result": map[string]any{"status": "1", "status_str": text}}),
		js(map[string]any{"_global_result": map[string]any{"status": text}}),
		js(map[string]any{"Error": text}),
		js(map[string]any{"flash_backup": map[string]any{"_result": map[string]any{"status": 2, "status_str": text}}}),
		[]byte("<html><head><title>" + text + "</title></head><body>" + text + "</body></html>"),
		js(map[string]any{"_data": []string{"Hostname is " + text}}),
		js(map[string]any{"Hostname": []map[string]string{{"Host Name": text}}}),
		js(map[string]any{"_global_result": map[string]any{"status": "0", "UIDARUBA": text, "X-CSRF-Token": text}}),
	}
	return bodies[wrap%len(bodies)]
}
