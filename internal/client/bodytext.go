package client

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a device said is hostile text: it may echo secrets, hold control characters,
// invalid UTF-8 or runes whose case changes their length, and run to megabytes. The
// helpers below turn it into short single-line text fit for an error message. Known
// secrets are scrubbed (Secrets.Scrub) before anything is cut out of the text.

// bodyHead bounds how much of an answer is scrubbed and read: what is shown always
// ends well before it.
const bodyHead = 64 << 10

// DescribeBody turns an answer the client did not expect into a short sentence free
// of secrets: that the body was empty, the title of an HTML page, or the start of the
// text (with parseErr, why it could not be read). The raw body is scrubbed with
// secrets before anything is cut out of it or shortened.
func DescribeBody(secrets *Secrets, status int, body []byte, parseErr error) string {
	text := ScrubbedHead(secrets, body)
	switch {
	case text == "":
		return fmt.Sprintf("HTTP %d with an empty body", status)
	case strings.HasPrefix(text, "<"):
		page := HTMLTitle(text)
		if page == "" {
			page = text
		}
		return fmt.Sprintf("HTTP %d with an HTML page instead of JSON (%s)", status, OneLine(page, 160))
	case parseErr != nil:
		return fmt.Sprintf("%s (answer starts %q)", OneLine(secrets.Scrub(parseErr.Error()), 160), OneLine(text, 120))
	default:
		return fmt.Sprintf("HTTP %d: %s", status, OneLine(text, 160))
	}
}

// ScrubbedHead is the start of body, scrubbed with secrets and trimmed of blanks.
func ScrubbedHead(secrets *Secrets, body []byte) string {
	if len(body) > bodyHead {
		body = body[:bodyHead]
	}
	return strings.TrimSpace(secrets.Scrub(string(body)))
}

// HTMLTitle is the text of the first <title> element of a page (attributes allowed,
// any case), or "" when it has none or a blank one.
func HTMLTitle(s string) string {
	i := IndexFold(s, "<title")
	if i < 0 {
		return ""
	}
	rest := s[i+len("<title"):]
	j := strings.IndexByte(rest, '>')
	if j < 0 {
		return ""
	}
	rest = rest[j+1:]
	k := IndexFold(rest, "</title>")
	if k < 0 || strings.TrimSpace(rest[:k]) == "" {
		return ""
	}
	return rest[:k]
}

// IndexFold is strings.Index ignoring ASCII case, for an ASCII needle. The index is
// into s itself: lower-casing s first would move it (Ⱥ is 2 bytes, its lower case 3;
// invalid UTF-8 becomes 3-byte U+FFFD), and slicing s with it could panic.
func IndexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if asciiEqualFold(s[i:i+n], needle) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// OneLine makes device text, already scrubbed of known secrets, safe to show on one
// line: invalid UTF-8 becomes U+FFFD, control, blank and unprintable characters (bidi
// overrides among them) become one space a run, the text is cut to max bytes on a
// character boundary ("..." marks the cut), and Redact masks secret-named values last.
func OneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r) {
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
	return Redact(out)
}
