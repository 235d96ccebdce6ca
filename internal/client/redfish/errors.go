package redfish

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// MessageID is a Redfish MessageId split into its registry and key, the version
// dropped: "Base.1.18.PropertyValueTypeError" is {Base, PropertyValueTypeError} and
// "iLO.2.27.UnauthorizedLoginAttempt" is {iLO, UnauthorizedLoginAttempt}. Firmware
// releases bump registry versions, so ids are only ever compared this way.
type MessageID struct {
	Registry string
	Key      string
}

// ParseMessageID splits id into registry and key. The registry is the first
// dot-separated part, the key the last; anything between is the version. An id
// without a dot is a key with no registry.
func ParseMessageID(id string) MessageID {
	id = strings.TrimSpace(id)
	first := strings.IndexByte(id, '.')
	if first < 0 {
		return MessageID{Key: id}
	}
	last := strings.LastIndexByte(id, '.')
	return MessageID{Registry: id[:first], Key: id[last+1:]}
}

// Is reports whether m names key in registry, ignoring case.
func (m MessageID) Is(registry, key string) bool {
	return strings.EqualFold(m.Registry, registry) && strings.EqualFold(m.Key, key)
}

// message is one @Message.ExtendedInfo entry.
type message struct {
	ID   string    // the MessageId as the device sent it
	MID  MessageID // parsed
	Text string    // the device's Message, sanitised (often empty on iLO)
	Args []string  // MessageArgs, sanitised
}

// apiError is a parsed Redfish error answer.
type apiError struct {
	Status   int
	Code     string // error.code
	Text     string // error.message, sanitised
	Messages []message
	// Snippet is a short sanitised excerpt of a body that is not a Redfish error
	// document (HTML, plain text); empty for an empty body.
	Snippet string
	JSON    bool // the body was a JSON object
}

const (
	maxArgs       = 8
	maxTextLen    = 200
	maxSnippetLen = 160
	maxMessages   = 16
)

var htmlTag = regexp.MustCompile(`(?s)<[^>]*>`)

// parseError reads a Redfish error answer. It never fails: a body that is not a
// Redfish error document (HTML, text, truncated JSON, nothing) leaves a snippet.
// Both {"error":{...,"@Message.ExtendedInfo":[...]}} and a top-level
// "@Message.ExtendedInfo" (seen on some success answers) are read. Every piece of
// device text is scrubbed with secrets as it comes out of the body (the raw body for
// a snippet, each decoded string otherwise), before it is normalised or shortened.
func parseError(status int, body []byte, secrets *client.Secrets) apiError {
	e := apiError{Status: status}
	trimmed := bytes.TrimSpace(body)
	var doc map[string]any
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &doc) == nil {
		e.JSON = true
		text := func(s string, max int) string { return client.OneLine(secrets.Scrub(s), max) }
		if obj, ok := doc["error"].(map[string]any); ok {
			e.Code = text(stringField(obj, "code"), maxTextLen)
			e.Text = text(stringField(obj, "message"), maxTextLen)
			e.Messages = append(e.Messages, extendedInfo(obj, text)...)
		}
		e.Messages = append(e.Messages, extendedInfo(doc, text)...)
		if len(e.Messages) > maxMessages {
			e.Messages = e.Messages[:maxMessages]
		}
		return e
	}
	if len(trimmed) > 0 {
		e.Snippet = snippet(secrets.Scrub(string(trimmed)))
	}
	return e
}

func extendedInfo(obj map[string]any, text func(s string, max int) string) []message {
	list, _ := obj["@Message.ExtendedInfo"].([]any)
	var out []message
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		id := text(stringField(m, "MessageId"), maxTextLen)
		msg := message{ID: id, MID: ParseMessageID(id), Text: text(stringField(m, "Message"), maxTextLen)}
		if args, ok := m["MessageArgs"].([]any); ok {
			for i, a := range args {
				if i == maxArgs {
					break
				}
				switch v := a.(type) {
				case string:
					msg.Args = append(msg.Args, text(v, 80))
				case float64, bool:
					msg.Args = append(msg.Args, fmt.Sprint(v))
				}
			}
		}
		if msg.ID == "" && msg.Text == "" {
			continue
		}
		out = append(out, msg)
	}
	return out
}

func stringField(m map[string]any, key string) string {
	if v, ok := m[key].(string); ok {
		return v
	}
	for k, v := range m { // Redfish names are case-sensitive, firmware is not always
		if strings.EqualFold(k, key) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// has reports whether any message carries key (any registry, any version).
func (e apiError) has(key string) bool {
	for _, m := range e.Messages {
		if strings.EqualFold(m.MID.Key, key) {
			return true
		}
	}
	return false
}

// onlySuccess reports whether the answer holds messages and all of them are
// Base.x.Success: iLO wraps the success of a PATCH in an error object.
func (e apiError) onlySuccess() bool {
	if len(e.Messages) == 0 {
		return false
	}
	for _, m := range e.Messages {
		if explainID(m.MID).kind != kindSuccess {
			return false
		}
	}
	return true
}

// ids lists the MessageIds, for log lines.
func (e apiError) ids() []string {
	out := make([]string, 0, len(e.Messages))
	for _, m := range e.Messages {
		out = append(out, m.ID)
	}
	return out
}

type kind int

const (
	kindUnknown kind = iota
	kindSuccess
	kindNoValidSession
	kindBadCredentials
	kindLoginDelayed
	kindSessionLimit
	kindNotWritable
	kindValueType
	kindSecurityState
	kindResetting
	kindPrecondition
)

// explanation is what went wrong and what to do, for one known MessageId key.
type explanation struct {
	kind kind
	what string
	todo string
}

// known holds the documented keys, by key in lower case. The registry each key is
// documented in is noted; firmware has moved ids between the Base and iLO
// registries, so a known key is explained whatever registry it arrives in.
var known = map[string]explanation{
	// Base
	"success": {kindSuccess, "the iLO reported success", ""},
	// Base
	"novalidsession": {kindNoValidSession,
		"the iLO session is missing, invalid or expired",
		"log in again; if this repeats, check that nothing else ends iLO sessions (session timeout, other tools logging all sessions out)"},
	// Base (status code varies by firmware)
	"sessionlimitexceeded": {kindSessionLimit,
		"all session slots of the iLO are in use",
		"close other iLO sessions (web interface, iLOrest, other automation) or wait for them to time out, then retry"},
	// iLO
	"unauthorizedloginattempt": {kindBadCredentials,
		"the iLO refused the user name or password",
		"check the ilo username and password"},
	// iLO
	"loginattemptdelayed": {kindLoginDelayed,
		"the iLO is delaying logins after too many failed attempts",
		"wait a minute before trying again, and check the ilo username and password so the delay does not grow"},
	// iLO
	"propertynotwritableorunknown": {kindNotWritable,
		"the iLO firmware does not know or cannot change CustomBackupandRestore",
		"the flag needs iLO 5 firmware 2.72 or later (or iLO 6/7): update the iLO firmware"},
	// Base
	"propertyvaluetypeerror": {kindValueType,
		"the iLO refused a property value of the wrong type",
		"this is a bug in the provider: please report it with the iLO generation and firmware version"},
	// Base
	"preconditionfailed": {kindPrecondition,
		"the backup service changed on the iLO between reading and writing it (ETag mismatch)",
		"retry; if it keeps happening, something else is changing the iLO at the same time"},
}

var (
	securityState = explanation{kindSecurityState,
		"the iLO's security state does not allow this (custom backup and restore is not supported in FIPS and higher security states)",
		"use it only on an iLO in the Production or High Security state, or leave CustomBackupandRestore unmanaged on this iLO"}
	resetting = explanation{kindResetting,
		"the iLO is resetting",
		"wait until the iLO is back (this can take a few minutes) and retry"}
)

func explainID(id MessageID) explanation {
	if ex, ok := known[strings.ToLower(id.Key)]; ok {
		return ex
	}
	k := strings.ToLower(id.Key)
	switch {
	case strings.Contains(k, "fips"), strings.Contains(k, "securitystate"):
		return securityState
	case strings.Contains(k, "resetinprogress"):
		return resetting
	}
	return explanation{}
}

// describe turns the answer into DeviceError text: what went wrong (the sentence for
// each known id, then the id and the device's own words) and what to do.
func (e apiError) describe() (msg, hint string) {
	var whats, todos []string
	seenTodo := map[string]bool{}
	addTodo := func(t string) {
		if t != "" && !seenTodo[t] {
			seenTodo[t] = true
			todos = append(todos, t)
		}
	}
	for _, m := range e.Messages {
		ex := explainID(m.MID)
		detail := m.ID
		if m.Text != "" {
			if detail != "" {
				detail += ": "
			}
			detail += m.Text
		} else if len(m.Args) > 0 {
			detail += " [" + strings.Join(m.Args, ", ") + "]"
		}
		switch {
		case ex.kind == kindSuccess:
			continue
		case ex.kind != kindUnknown:
			whats = append(whats, fmt.Sprintf("%s (%s)", ex.what, detail))
			addTodo(ex.todo)
		default:
			whats = append(whats, detail)
		}
	}
	if len(whats) == 0 {
		switch {
		case e.Text != "" && !strings.HasPrefix(strings.ToLower(e.Text), "see @message.extendedinfo"):
			whats = append(whats, strings.TrimSpace(e.Code+" "+e.Text))
		case e.Code != "":
			whats = append(whats, e.Code)
		case e.Status == http.StatusPreconditionFailed:
			whats = append(whats, known["preconditionfailed"].what)
		case e.Snippet != "":
			whats = append(whats, "the iLO answered with a body that is not a Redfish error: "+strconv.Quote(e.Snippet))
		default:
			whats = append(whats, "the iLO answered "+statusText(e.Status)+" with no details")
		}
	}
	if len(todos) == 0 {
		addTodo(statusHint(e.Status))
	}
	return strings.Join(whats, "; "), strings.Join(todos, "; ")
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return strconv.Quote(t)
	}
	return "HTTP " + strconv.Itoa(status)
}

func statusHint(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "check the ilo username and password"
	case status == http.StatusForbidden:
		return "the ilo user lacks a privilege this needs (iLO backup and restore need the Configure iLO Settings privilege)"
	case status == http.StatusPreconditionFailed:
		return known["preconditionfailed"].todo
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return "the iLO does not offer this: check that the device is an HPE iLO 5 (firmware 2.72 or later), iLO 6 or iLO 7"
	case status == http.StatusServiceUnavailable:
		return "the iLO is busy or resetting: wait a few minutes and retry"
	case status >= 500:
		return "the iLO failed internally: retry; if it persists, reset the iLO"
	}
	return ""
}

// snippet is a short, single-line excerpt of a non-JSON body, already scrubbed. For
// an HTML page it prefers the title, else the text without tags.
func snippet(s string) string {
	if len(s) > 4096 {
		s = s[:4096]
	}
	if title := client.HTMLTitle(s); title != "" {
		s = title
	} else if strings.Contains(s, "<") {
		s = htmlTag.ReplaceAllString(s, " ")
	}
	return client.OneLine(s, maxSnippetLen)
}
