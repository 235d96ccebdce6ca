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

// Angle brackets as written in markup, JSON-escaped (Go's encoder escapes them) and
// HTML-escaped (a page showing the XML it refused).
const (
	openBracket  = `(?:<|\\u003[cC]|&lt;)`
	closeBracket = `(?:>|\\u003[eE]|&gt;)`
)

var (
	// secretName is a name holding a secret key fragment ("scp_password", "X-CSRF-Token").
	secretName = regexp.MustCompile(`(?i)[a-z0-9_.-]*(?:` + keyAlternation() + `)[a-z0-9_.-]*`)
	// secretElement is an XML/HTML element named like a secret; its text (group 1,
	// up to the next tag or the end of the line) is the value.
	secretElement = regexp.MustCompile(`(?i)` + openBracket + `\s*[a-z0-9_.:-]*(?:` + keyAlternation() + `)[a-z0-9_.:-]*(?:\s[^\n]*?)?` +
		closeBracket + `([^\n]*?)(?:` + openBracket + `|\n|\z)`)
	// markupTag is one tag; secretTagName finds a name/id/type attribute naming a
	// secret in it, and valueAttr the start of its value attribute.
	markupTag     = regexp.MustCompile(`(?i)` + openBracket + `[a-z][^\n]*?` + closeBracket)
	secretTagName = regexp.MustCompile(`(?i)\b(?:name|id|type)\s*=\s*(?:\\*["']|&quot;|&#3[49];)?[^"'\s>&\\]*(?:` + keyAlternation() + `)`)
	valueAttr     = regexp.MustCompile(`(?i)\bvalue\s*=\s*`)
)

// Forms of quotes and separators, literal and encoded (JSON-escaped, HTML entities,
// percent-encoding). Longer forms come first so that `\"` is not read as `\`. A
// quote escaped more than once (`\\\"`, JSON in JSON) is read by quoteAt.
var (
	quoteForms = []string{`\u0026quot;`, `\u0026#34;`, `\u0026#39;`, `\u0022`, `\u0027`,
		"&quot;", "&#34;", "&#39;", "&apos;", "%22", "%27", `"`, `'`}
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
	s = replaceGroup(s, secretElement)
	s = markupTag.ReplaceAllStringFunc(s, func(tag string) string {
		if !secretTagName.MatchString(tag) {
			return tag
		}
		return maskValueAttrs(tag)
	})
	return redactPairs(s)
}

// replaceGroup masks group 1 of every match of re in s, unless it is blank.
func replaceGroup(s string, re *regexp.Regexp) string {
	var b strings.Builder
	done := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if m[2] < 0 || strings.TrimSpace(s[m[2]:m[3]]) == "" {
			continue
		}
		b.WriteString(s[done:m[2]])
		b.WriteString(Mask)
		done = m[3]
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// maskValueAttrs masks every value attribute of a tag, quoted (in any form) or bare.
func maskValueAttrs(tag string) string {
	var b strings.Builder
	done := 0
	for _, m := range valueAttr.FindAllStringIndex(tag, -1) {
		i := m[1]
		if i < done {
			continue
		}
		var vEnd int
		if q := quoteAt(tag, i); q != "" {
			i += len(q)
			vEnd = closingQuote(tag, i, q)
		} else {
			vEnd = i
			for vEnd < len(tag) && tag[vEnd] != ' ' && tag[vEnd] != '\t' && prefixOf(tag[vEnd:], []string{">", `\u003e`, `\u003E`, "&gt;"}) == "" {
				vEnd++
			}
		}
		if vEnd <= i {
			continue
		}
		b.WriteString(tag[done:i])
		b.WriteString(Mask)
		done = vEnd
	}
	if done == 0 {
		return tag
	}
	b.WriteString(tag[done:])
	return b.String()
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
	if q := quoteAt(s, i); q != "" {
		i += len(q)
	}
	i = skipBlanks(s, i, false)
	sep := prefixOf(s[i:], separatorForms)
	if sep == "" {
		return 0, 0, false
	}
	encoded := sep[0] == '%'
	i = skipBlanks(s, i+len(sep), encoded)
	if q := quoteAt(s, i); q != "" {
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

// quoteAt returns the quote that starts at s[i] ("" when none): one of quoteForms,
// possibly behind a run of backslashes (a quote escaped once per level of nesting).
func quoteAt(s string, i int) string {
	j := i
	for j < len(s) && s[j] == '\\' {
		j++
	}
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		return s[i : j+1]
	}
	return prefixOf(s[i:], quoteForms)
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
