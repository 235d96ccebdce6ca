package apstra

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/secrettest"
)

// fuzzJWT is a token as Apstra issues them, with cores that survive no encoding
// unless the token leaked.
func fuzzJWT() (token string, cores []string) {
	enc := base64.RawURLEncoding.EncodeToString
	payload := `{"username":"ops","created_at":"2025-03-14T09:26:53.000000Z","user_session":"5e55-c0re-1on-77","exp":1741944413}`
	token = enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + "s1gnatureC0reXyZ-abc_def"
	return token, []string{"5e55-c0re-1on", "s1gnatureC0re", enc([]byte(payload))[20:44]}
}

// Secrets the fuzzed client knows: the password (with characters every encoding
// changes) and the token.
const fuzzPassword = "Api  Pa55Core-ȺÄ\xff'\"<&>"

var fuzzStatuses = []int{200, 201, 400, 401, 403, 404, 422, 429, 500, 503}

// FuzzDeviceTextNeverLeaks feeds hostile server text (invalid UTF-8, case-changing
// runes, the password and the token echoed in every form) through every parser and
// every error-building path of the client: nothing panics, and no error text, and no
// value the client hands on, holds a secret.
func FuzzDeviceTextNeverLeaks(f *testing.F) {
	h := secrettest.Hostile
	for i := range 60 {
		f.Add(h[i%len(h)], h[(i+4)%len(h)], uint8(i), uint8(i/3), uint16(i/7))
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, form, wrap uint8, status uint16) {
		c, err := New(&client.Client{}, Config{Host: "apstra1", Username: "ops", Password: fuzzPassword})
		if err != nil {
			t.Fatal(err)
		}
		token, tokenCores := fuzzJWT()
		claims, _ := parseJWT(token)
		c.secrets.Add(token)
		c.secrets.Add(claims.secrets...)
		piece, watch := pieceFor(int(form), token, tokenCores)
		text := clean(prefix, watch) + piece + clean(suffix, watch)
		body := bodyFor(int(wrap), text)
		st := fuzzStatuses[int(status)%len(fuzzStatuses)]
		c.labels["bp-1"] = text // a hostile label names the blueprint in errors

		var texts []string
		add := func(err error) {
			if err != nil {
				texts = append(texts, err.Error())
			}
		}
		_ = apiMessage(body) // raw device text: describeBody scrubs what it shows
		texts = append(texts, c.describeBody(st, body, nil, ""), c.describeBody(st, body, errBadJSON, "fallback"), c.bpName("bp-1"), c.bpName(text))
		add(c.loginAnswer(t.Context(), loginPathAAA, st, body, http.Header{"Retry-After": {text}}))
		c.gate.refused = false
		add(c.responseError("step", &http.Response{StatusCode: st, Header: http.Header{"Retry-After": {text}}, Body: nopBody(body)}))
		add(c.checkID("step", "blueprint id", text))
		cl, err := parseJWT(text)
		add(err)
		_ = cl.expires
		g, err := ScanGraph(bytes.NewReader(body))
		add(err)
		_ = g
		var j jsonEnd
		j.feed(body)
		_ = j.problem()
		for _, out := range texts {
			if leaked := secrettest.Leaked(out, watch...); leaked != "" {
				t.Fatalf("%q leaked into %q (server text %q)", leaked, out, body)
			}
		}
	})
}

var errBadJSON = json.Unmarshal([]byte("{"), new(any))

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func nopBody(b []byte) bodyReader { return bodyReader{bytes.NewReader(b)} }

// pieceFor is the echo to embed: a known secret in one of its echo forms, or an
// unknown value in one of the key/value forms.
func pieceFor(form int, token string, tokenCores []string) (piece string, watch []string) {
	known := []string{fuzzPassword, token, strings.Split(token, ".")[1], strings.Split(token, ".")[2], "5e55-c0re-1on-77"}
	echoes := len(secrettest.Echoes(""))
	n := len(known) * echoes
	k := form % (n + len(secrettest.KeyedForms))
	if k < n {
		watch = append([]string{"Pa55Core"}, tokenCores...)
		return secrettest.Echoes(known[k/echoes])[k%echoes], watch
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

// bodyFor wraps text the ways an Apstra server or a proxy answers.
func bodyFor(wrap int, text string) []byte {
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	bodies := [][]byte{
		[]byte(text),
		js(map[string]any{"errors": text}),
		js(map[string]any{"error_code": 422, "errors": map[string]any{"field": []string{text}, text: "x"}}),
		js(map[string]any{"errors": []any{text, 3}}),
		js(map[string]any{"token": text, "id": "u1"}),
		[]byte("<html><head><title>" + text + "</title></head><body>" + text + "</body></html>"),
		js(map[string]any{"id": text, "label": text, "version": text, "nodes": map[string]any{text: map[string]any{"type": "system", "label": text, "system_id": text}}}),
		js(map[string]any{"nodes": []any{map[string]any{"id": text}}, "relationships": map[string]any{"r": text}}),
	}
	return bodies[wrap%len(bodies)]
}

// FuzzParsers: the token parser, the graph scanner and the JSON end check never
// panic; a valid JSON object always passes the end check, however it is split; a
// token's parts are always among its secrets; no claim secret is shorter than the
// minimum.
func FuzzParsers(f *testing.F) {
	token, _ := fuzzJWT()
	for _, s := range []string{token, "a.b.c", "..", `{"nodes":{"a":{"type":"system"}},"relationships":[]}`, `{"a":"}\"{"}`, "{}", "[", `"x"`, "{} {}", "\xff"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, split uint8) {
		cl, err := parseJWT(s)
		for _, v := range cl.secrets {
			if len(v) < minSecretLen {
				t.Fatalf("claim secret %q is too short", v)
			}
		}
		if parts := strings.Split(s, "."); err == nil && len(parts[1]) >= minSecretLen && !slices.Contains(cl.secrets, parts[1]) {
			t.Fatalf("payload %q not among the secrets %q", parts[1], cl.secrets)
		}
		if err == nil && cl.expires.After(time.Unix(1e11, 0)) {
			t.Fatalf("implausible expiry %v", cl.expires)
		}
		_, _ = ScanGraph(strings.NewReader(s))
		var j jsonEnd
		cut := int(split) % (len(s) + 1)
		j.feed([]byte(s[:cut]))
		j.feed([]byte(s[cut:]))
		trimmed := strings.TrimSpace(s)
		if json.Valid([]byte(s)) && strings.HasPrefix(trimmed, "{") && j.problem() != "" {
			t.Fatalf("valid document %q refused: %s", s, j.problem())
		}
	})
}
