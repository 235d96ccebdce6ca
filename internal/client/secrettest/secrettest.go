// Package secrettest builds hostile device text for the device clients' fuzz tests:
// secrets echoed in every form a device, a proxy or a web server may write them.
package secrettest

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
)

// Echoes are the forms a device may echo a secret it was sent in: as is,
// percent-encoded (query and path style), JSON-escaped, HTML-escaped and with single
// quotes backslash-escaped.
func Echoes(secret string) []string {
	b, _ := json.Marshal(secret)
	return []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		strings.Trim(string(b), `"`),
		html.EscapeString(secret),
		strings.ReplaceAll(secret, `'`, `\'`),
	}
}

// Unknown is a value the clients do not know as a secret: only its key marks it.
const Unknown = "Unkn0wn-Val"

// KeyedForms are the key/value forms client.Redact masks, each holding Unknown.
var KeyedForms = []string{
	"password=" + Unknown + " and more",
	"username%3Dbob%26password%3D" + Unknown + "%26x%3D1",
	"%22password%22%3A%22" + Unknown + "%22",
	"<password>" + Unknown + "</password>",
	`<input type="password" name="pw" value="` + Unknown + `">`,
	`{'user': 'bob', 'passwd': '` + Unknown + `'}`,
	"Authorization: Basic " + Unknown,
	"Authorization: Bearer " + Unknown,
	`{"X-Auth-Token": "` + Unknown + `"}`,
	"Set-Cookie: SESSION=" + Unknown + "; Secure",
	`{\"sessionKey\":\"` + Unknown + `\"}`,
}

// Hostile is text parsers meet from broken devices and proxies: invalid UTF-8
// (Latin-1 pages), runes whose lower case is longer in bytes (Ⱥ), control characters.
var Hostile = []string{"", "\xe9\xe8\xff", "ȺȺȺȺ", "ȿ\u023aK", "\x00\x1b[31m", "<TITLE>", "</tItLe>", "Hostname is ", "\n"}

// Leaked returns the first of secrets that text holds, or "".
func Leaked(text string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			return s
		}
	}
	return ""
}
