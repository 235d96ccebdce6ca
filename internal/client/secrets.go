package client

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Secrets is every secret value one operation knows: the passwords it was given and
// the session tokens devices issue to it, added as soon as they are issued. It is the
// one place device text is scrubbed: Scrub masks each value, in every form a device
// may echo it (as sent, percent-encoded, JSON- or HTML-escaped), in raw device text
// before anything normalises or truncates it, and then applies Redact. Device clients
// scrub all device text that goes into an error or a log line with it; the provider
// scrubs every operation error with it before the error becomes a diagnostic.
//
// A nil *Secrets is valid: it knows no value and Scrub only redacts. Safe for
// concurrent use.
type Secrets struct {
	mu     sync.RWMutex
	values []string
	forms  []string          // every form of every value, longest first
	match  *strings.Replacer // masks every form; nil when there is none
}

// NewSecrets returns a set holding values (empty ones are ignored).
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{}
	s.Add(values...)
	return s
}

// Add records more secret values (empty ones are ignored).
func (s *Secrets) Add(values ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range values {
		if v != "" && !slices.Contains(s.values, v) {
			s.values = append(s.values, v)
			changed = true
		}
	}
	if changed {
		s.forms = formsOf(s.values)
		pairs := make([]string, 0, 2*len(s.forms))
		for _, f := range s.forms {
			pairs = append(pairs, f, Mask)
		}
		s.match = strings.NewReplacer(pairs...)
	}
}

// Values returns the set's values, to mask them in the logs of a later step that
// works with what the set's operation opened (logging out a session).
func (s *Secrets) Values() []string { return s.all() }

func (s *Secrets) all() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.values...)
}

func (s *Secrets) state() (*strings.Replacer, []string) {
	if s == nil {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.match, s.forms
}

// Scrub masks every known secret in text, in every form, then applies Redact.
func (s *Secrets) Scrub(text string) string {
	if r, _ := s.state(); r != nil {
		// Masking can, in theory, join a mask and its neighbours into a new match
		// (a secret made of '*'): repeat while that changes anything.
		for range 4 {
			next := r.Replace(text)
			if next == text {
				break
			}
			text = next
		}
	}
	return Redact(text)
}

// Contains reports whether text holds a known secret in any form.
func (s *Secrets) Contains(text string) bool {
	_, forms := s.state()
	for _, f := range forms {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// ScrubError returns err with its text scrubbed; errors.Is and errors.As still see
// the original chain. nil stays nil.
func (s *Secrets) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := s.Scrub(msg); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

type secretsKey struct{}

// WithSecrets returns ctx carrying s, so the HTTP layer and session handling scrub
// what they log and return with it. When ctx already carries another set, s learns
// that set's values too.
func WithSecrets(ctx context.Context, s *Secrets) context.Context {
	if s == nil {
		return ctx
	}
	prev := SecretsFrom(ctx)
	if prev == s {
		return ctx
	}
	s.Add(prev.all()...)
	return context.WithValue(ctx, secretsKey{}, s)
}

// SecretsFrom returns the set ctx carries, or nil (which only redacts).
func SecretsFrom(ctx context.Context) *Secrets {
	s, _ := ctx.Value(secretsKey{}).(*Secrets)
	return s
}

// formsOf lists every form of every value, longest first: strings.Replacer tries
// its patterns in order at each position, so a longer form wins over its prefix.
// Forms are taken two levels deep: a device's JSON answer quoting the form-encoded
// request it refused holds the secret percent-encoded, then JSON-escaped. (Matching
// is on bytes: a secret need not be valid UTF-8.)
func formsOf(values []string) []string {
	seen := map[string]bool{}
	var forms []string
	for _, v := range values {
		for _, f := range secretForms(v) {
			for _, ff := range secretForms(f) {
				if ff != "" && !seen[ff] {
					seen[ff] = true
					forms = append(forms, ff)
				}
			}
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

// secretForms are the ways a device may write v back: as sent, percent-encoded
// (query and path style), JSON-escaped (with and without HTML escaping),
// HTML-escaped, with single quotes backslash-escaped (Python, shell), and with each
// invalid UTF-8 byte replaced by U+FFFD (as JSON encoders and decoders do).
func secretForms(v string) []string {
	return []string{
		v,
		string([]rune(v)),
		url.QueryEscape(v),
		url.PathEscape(v),
		lowerHex(url.QueryEscape(v)),
		lowerHex(url.PathEscape(v)),
		jsonEscaped(v, false),
		jsonEscaped(v, true),
		html.EscapeString(v),
		strings.ReplaceAll(v, `'`, `\'`),
	}
}

func jsonEscaped(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

var percentHex = regexp.MustCompile(`%[0-9A-F]{2}`)

// lowerHex writes the percent-escapes of an escaped value in lower case, as some
// servers do.
func lowerHex(escaped string) string {
	return percentHex.ReplaceAllStringFunc(escaped, strings.ToLower)
}
