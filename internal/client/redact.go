package client

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every secret the provider hides, in logs, errors and diagnostics.
const Mask = "***"

// secretKeys is the one list of name fragments that mark a secret: query parameters,
// form fields, JSON and XML keys, headers, cookies, log fields and backup-record
// attributes. Matching is case-insensitive and by substring ("backup_password",
// "X-Auth-Token", "sessionKey"). The spellings are the protocols' own, so the list also
// serves exact-match log field masking. ("credential" is left out on purpose: it names
// no field any device or client uses, and prose such as "missing credentials: ..."
// would be masked.)
var secretKeys = []string{
	"password", "passwd", "secret", "token", "UIDARUBA", "X-CSRF-Token", "X-Auth-Token",
	"sessionKey", "session", "Cookie", "Set-Cookie", "Authorization", "private_key",
}

// SecretKeys returns the list of name fragments that mark a secret.
func SecretKeys() []string { return append([]string(nil), secretKeys...) }

// IsSecretKey reports whether a parameter, field, header or attribute name carries a secret.
func IsSecretKey(name string) bool {
	name = strings.ToLower(name)
	for _, k := range secretKeys {
		if strings.Contains(name, strings.ToLower(k)) {
			return true
		}
	}
	return false
}

func keyAlternation() string {
	parts := make([]string, len(secretKeys))
	for i, k := range secretKeys {
		parts[i] = regexp.QuoteMeta(strings.ToLower(k))
	}
	return strings.Join(parts, "|")
}

var (
	// secretName is a name holding a secret key fragment ("scp_password", "X-CSRF-Token").
	secretName = regexp.MustCompile(`(?i)[a-z0-9_.-]*(?:` + keyAlternation() + `)[a-z0-9_.-]*`)
	// secretElement is an XML/HTML element named like a secret: its text is the value.
	secretElement = regexp.MustCompile(`(?i)<\s*[a-z0-9_.:-]*(?:` + keyAlternation() + `)[a-z0-9_.:-]*(?:\s[^<>]*)?>([^<]+)`)
	// htmlTag is one start tag; secretTagName finds a name/id/type attribute naming a
	// secret in it, and valueAttr its value attribute.
	htmlTag       = regexp.MustCompile(`<[a-zA-Z][^<>]*>`)
	secretTagName = regexp.MustCompile(`(?i)\b(?:name|id|type)\s*=\s*["']?[^"'\s>]*(?:` + keyAlternation() + `)`)
	valueAttr     = regexp.MustCompile(`(?i)(\bvalue\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)`)
)

// Forms of quotes and separators, literal and encoded (JSON-escaped, HTML entities,
// percent-encoding). Longer forms come first so that `\"` is not read as `\`.
var (
	quoteForms     = []string{`\"`, `\'`, "&quot;", "&#34;", "&#39;", "&apos;", "%22", "%27", `"`, `'`}
	separatorForms = []string{"=>", "=", ":", "%3D", "%3A"}
	// Where an unquoted value ends. A value runs over spaces ("correct horse"):
	// only the end of the line or of the field ends it.
	literalEnds = []string{"\r", "\n", "&", ";", `"`, "'", "<", ">", "}"}
	encodedEnds = []string{"%26", "%22", "%27", "%3B", "%3C", "%3E", "%7D", "%0A", "%0D", "\r", "\n", "&", " ", `"`, "'", "<", ">"}
)

// Redact masks the value of every secret-named key in s, in every form devices and
// clients write them: key=value (form, query, cookie, log line; the value runs to the
// end of its field or line, spaces included), key: value (headers, Authorization:
// Basic/Bearer included), quoted values ("JSON", 'Python repr', \"escaped JSON\",
// &quot;HTML-escaped&quot;), percent-encoded pairs (password%3D…, %22password%22%3A%22…),
// XML/HTML elements (<password>…</password>) and HTML inputs (<input name="password"
// value="…">). It is applied to everything this package logs and to all device text
// placed in errors. It is idempotent and never panics, whatever s holds.
func Redact(s string) string {
	s = secretElement.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.LastIndexByte(m, '>')
		if strings.TrimSpace(m[i+1:]) == "" {
			return m
		}
		return m[:i+1] + Mask
	})
	s = htmlTag.ReplaceAllStringFunc(s, func(tag string) string {
		if !secretTagName.MatchString(tag) {
			return tag
		}
		return valueAttr.ReplaceAllStringFunc(tag, func(v string) string {
			sub := valueAttr.FindStringSubmatch(v)
			val := sub[2]
			if q := val[0]; q == '"' || q == '\'' {
				return sub[1] + string(q) + Mask + string(q)
			}
			return sub[1] + Mask
		})
	})
	return redactPairs(s)
}

// redactPairs masks the value of each key=value / key: value pair whose key is secret.
func redactPairs(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is written to b
	pos := 0
	for pos < len(s) {
		loc := secretName.FindStringIndex(s[pos:])
		if loc == nil {
			break
		}
		end := pos + loc[1]
		vStart, vEnd, ok := pairValue(s, end)
		if ok && pluralName(s[pos+loc[0]:end]) && strings.HasPrefix(strings.TrimLeft(s[end:], " \t"), ": ") {
			ok = false // prose ("too many sessions: close some"), not a key: value pair
		}
		if !ok {
			pos = end
			continue
		}
		b.WriteString(s[done:vStart])
		b.WriteString(Mask)
		done, pos = vEnd, vEnd
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// pluralName reports whether name ends in a plural of a secret key ("sessions",
// "passwords"): followed by ": ", that is a sentence, not a field.
func pluralName(name string) bool {
	name = strings.ToLower(name)
	for _, k := range secretKeys {
		if strings.HasSuffix(name, strings.ToLower(k)+"s") {
			return true
		}
	}
	return false
}

// pairValue looks at what follows a secret name ending at i: an optional closing
// quote, a separator, then a quoted or bare value. It returns the value's bounds;
// ok is false when no separator follows or the value is empty.
func pairValue(s string, i int) (vStart, vEnd int, ok bool) {
	if q := prefixOf(s[i:], quoteForms); q != "" {
		i += len(q)
	}
	i = skipBlanks(s, i, false)
	sep := prefixOf(s[i:], separatorForms)
	if sep == "" {
		return 0, 0, false
	}
	encoded := sep[0] == '%'
	i = skipBlanks(s, i+len(sep), encoded)
	if q := prefixOf(s[i:], quoteForms); q != "" {
		vStart = i + len(q)
		vEnd = closingQuote(s, vStart, q)
	} else {
		vStart = i
		ends := literalEnds
		if encoded {
			ends = encodedEnds
		}
		vEnd = len(s)
		for j := vStart; j < len(s); j++ {
			if prefixOf(s[j:], ends) != "" {
				vEnd = j
				break
			}
		}
		for vEnd > vStart && (s[vEnd-1] == ' ' || s[vEnd-1] == '\t') {
			vEnd--
		}
	}
	return vStart, vEnd, vEnd > vStart
}

// closingQuote returns where a value opened by quote q at i ends: at the matching
// quote (a backslash escapes the next byte inside plain quotes), or at the end of the
// line when it is never closed.
func closingQuote(s string, i int, q string) int {
	for j := i; j < len(s); j++ {
		switch {
		case (q == `"` || q == `'`) && s[j] == '\\':
			j++
		case strings.HasPrefix(s[j:], q):
			return j
		case len(q) > 1 && q[0] == '\\' && s[j] == '\\' && j+1 < len(s) && s[j+1] == '\\':
			j++ // an escaped backslash inside an escaped string
		case s[j] == '\n' || s[j] == '\r':
			return j
		}
	}
	return len(s)
}

func skipBlanks(s string, i int, encoded bool) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t':
			i++
		case encoded && s[i] == '+':
			i++
		case encoded && strings.HasPrefix(s[i:], "%20"):
			i += 3
		default:
			return i
		}
	}
	return i
}

// prefixOf returns the first of forms that s starts with (case-insensitively, for the
// percent-encoded ones), or "".
func prefixOf(s string, forms []string) string {
	for _, f := range forms {
		if len(s) >= len(f) && strings.EqualFold(s[:len(f)], f) {
			return s[:len(f)]
		}
	}
	return ""
}

// RedactURL returns u as a string with user info and secret query parameters masked.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User(Mask)
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if IsSecretKey(k) {
				q[k] = []string{Mask}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
