package client

import (
	"net/url"
	"regexp"
	"strings"
)

// secretKeys are the names under which devices and clients carry secrets: query
// parameters, form fields, JSON keys, headers and cookies.
var secretKeys = []string{
	"password", "passwd", "token", "uidaruba", "x-csrf-token", "x-auth-token",
	"sessionkey", "session", "cookie", "set-cookie", "authorization", "authtoken",
}

// secretPattern matches `key=value`, `key: value` and `"key": "value"` pairs whose key
// holds a secret; the value is what gets masked.
var secretPattern = regexp.MustCompile(`(?i)("?(?:` + strings.Join(regexpQuoteAll(secretKeys), "|") + `)"?\s*[:=]\s*"?)([^"&;,\s}]+)`)

// quotedSecretPattern matches a secret whose value is a quoted string, so the whole
// string is masked even when it holds spaces, commas or escaped quotes.
var quotedSecretPattern = regexp.MustCompile(`(?i)("?(?:` + strings.Join(regexpQuoteAll(secretKeys), "|") + `)"?\s*[:=]\s*")(?:[^"\\]|\\.)*("?)`)

const mask = "***"

func regexpQuoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = regexp.QuoteMeta(s)
	}
	return out
}

// IsSecretKey reports whether a parameter, field or header name carries a secret.
func IsSecretKey(name string) bool {
	name = strings.ToLower(name)
	for _, k := range secretKeys {
		if strings.Contains(name, k) {
			return true
		}
	}
	return false
}

// Redact masks the value of every secret-named key in s. It is applied to everything
// this package logs and to device messages placed in errors.
func Redact(s string) string {
	s = quotedSecretPattern.ReplaceAllString(s, "${1}"+mask+"${2}")
	return secretPattern.ReplaceAllString(s, "${1}"+mask)
}

// RedactURL returns u as a string with user info and secret query parameters masked.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User(mask)
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if IsSecretKey(k) {
				q[k] = []string{mask}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
