package apstra

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// apiMessage is the text of an Apstra error body: {"errors":"<text>"}, or for a
// 422 {"error_code":422,"errors":{<field>:<text or list>}}; "" when the body is
// neither.
func apiMessage(body []byte) string {
	var doc struct {
		Errors json.RawMessage `json:"errors"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	raw := doc.Errors
	if len(raw) == 0 {
		raw = doc.Error
	}
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var fields map[string]any
	if json.Unmarshal(raw, &fields) == nil {
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %s", k, flatten(fields[k])))
		}
		return strings.Join(parts, "; ")
	}
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		return flatten(list)
	}
	return string(raw)
}

// flatten writes a decoded JSON value as short text.
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			parts = append(parts, flatten(e))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		b, _ := json.Marshal(v)
		return string(b)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// describeBody turns an answer into a short, secret-free sentence: the server's own
// error text when it has one. The raw body is scrubbed before anything is cut out of
// it; fallback is used for an empty body when given.
func (c *Client) describeBody(status int, body []byte, parseErr error, fallback string) string {
	const head = 64 << 10 // what is shown always ends well before this
	if len(body) > head {
		body = body[:head]
	}
	scrubbed := []byte(c.secrets.Scrub(string(body)))
	text := strings.TrimSpace(string(scrubbed))
	if msg := apiMessage(scrubbed); msg != "" && parseErr == nil {
		return sanitize(c.secrets.Scrub(msg), 300)
	}
	switch {
	case text == "" && fallback != "":
		return fallback
	case text == "":
		return fmt.Sprintf("HTTP %d with an empty body", status)
	case strings.HasPrefix(text, "<"):
		return fmt.Sprintf("HTTP %d with an HTML page instead of JSON (%s)", status, sanitize(htmlTitle(text), 160))
	case parseErr != nil:
		return fmt.Sprintf("the answer is not the JSON expected (%s; it starts %q)", sanitize(c.secrets.Scrub(parseErr.Error()), 120), sanitize(text, 120))
	default:
		return fmt.Sprintf("HTTP %d: %s", status, sanitize(text, 160))
	}
}

// htmlTitle is the text of a page's <title>, or the page when it has none.
func htmlTitle(s string) string {
	if i := indexFold(s, "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := indexFold(rest, "</title>"); j >= 0 && strings.TrimSpace(rest[:j]) != "" {
			return rest[:j]
		}
	}
	return s
}

// indexFold is strings.Index ignoring ASCII case, for an ASCII needle; the index is
// into s itself (lower-casing s first could move it).
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], needle) {
			return i
		}
	}
	return -1
}

// sanitize makes device text safe to show: invalid UTF-8 and control characters
// become spaces or U+FFFD, runs of blanks one space, and the text is cut to max
// bytes on a character boundary; Redact runs last.
func sanitize(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	out := strings.TrimSpace(b.String())
	if len(out) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "..."
	}
	return client.Redact(out)
}
