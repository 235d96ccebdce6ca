package aruba

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// status is the AOS8 "status" field: the string "0" on some builds, the number 0 on others.
type status int

func (s *status) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		str = strings.TrimSpace(str)
		if str == "" {
			*s = 0
			return nil
		}
		n, err := strconv.Atoi(str)
		if err != nil {
			return errors.New("the status is not a number") // the answer is quoted, scrubbed, by the caller
		}
		*s = status(n)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	i, err := n.Int64()
	if err != nil {
		return fmt.Errorf("status %s is not an integer", n)
	}
	*s = status(i)
	return nil
}

// result is a `_global_result` or nested `_result` object.
type result struct {
	Status    *status `json:"status"`
	StatusStr string  `json:"status_str"`
	UID       string  `json:"UIDARUBA"`
	CSRFToken string  `json:"X-CSRF-Token"`
}

func (r *result) failed() bool { return r != nil && r.Status != nil && *r.Status != 0 }

// envelope is what configuration and login calls answer.
type envelope struct {
	Global *result
	Error  string
	// Nested holds the `_result` of each echoed object.
	Nested map[string]*result
}

// parseEnvelope decodes an AOS8 response. An empty body is valid (some builds answer
// successful configuration calls with nothing).
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	if len(bytes.TrimSpace(body)) == 0 {
		return env, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return env, fmt.Errorf("the device's answer is not valid JSON: %w", err)
	}
	for key, val := range raw {
		switch key {
		case "_global_result":
			var g result
			if err := json.Unmarshal(val, &g); err != nil {
				return env, fmt.Errorf("malformed _global_result: %w", err)
			}
			env.Global = &g
		case "Error", "error":
			var s string
			if err := json.Unmarshal(val, &s); err != nil {
				s = string(val)
			}
			env.Error = s
		default:
			var obj struct {
				Result *result `json:"_result"`
			}
			if json.Unmarshal(val, &obj) == nil && obj.Result != nil {
				if env.Nested == nil {
					env.Nested = map[string]*result{}
				}
				env.Nested[key] = obj.Result
			}
		}
	}
	return env, nil
}

// failure returns the device's message when the envelope reports a failure, "" otherwise.
func (e envelope) failure() string {
	if e.Error != "" {
		return e.Error
	}
	if e.Global.failed() {
		return nonEmpty(e.Global.StatusStr, fmt.Sprintf("status %d", *e.Global.Status))
	}
	for _, r := range e.Nested {
		if r.failed() {
			return nonEmpty(r.StatusStr, fmt.Sprintf("status %d", *r.Status))
		}
	}
	return ""
}

// message is the success text of the envelope (nested results first: copy_flash_scp
// puts "File uploaded successfully" there on some builds).
func (e envelope) message() string {
	for _, r := range e.Nested {
		if r.StatusStr != "" {
			return r.StatusStr
		}
	}
	if e.Global != nil {
		return e.Global.StatusStr
	}
	return ""
}

func nonEmpty(s, fallback string) string {
	if strings.TrimSpace(s) == "" {
		return fallback
	}
	return s
}

// sessionExpiredText is what builds answer, with HTTP 200 and status 1, for a session
// that no longer exists.
func sessionExpiredText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "invalid authentication token") || strings.Contains(s, "you must authenticate yourself")
}

// sessionLimitText reports whether a refused login names the concurrent-session limit.
func sessionLimitText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "session") && (strings.Contains(s, "limit") || strings.Contains(s, "maximum") ||
		strings.Contains(s, "exceed") || strings.Contains(s, "too many"))
}

// parseShowText joins the `_data` lines of a show command. The text may come as one
// element with embedded newlines or as one element per line.
func parseShowText(body []byte) (string, error) {
	var doc struct {
		Data []string `json:"_data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("the device's answer is not valid JSON: %w", err)
	}
	if doc.Data == nil {
		return "", fmt.Errorf("the answer has no _data text")
	}
	return strings.Join(doc.Data, "\n"), nil
}

// parseHostname finds the hostname in `show hostname` output: text such as
// "Hostname is mc-01" in _data, or a table row with a hostname column.
func parseHostname(body []byte) (string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return "", fmt.Errorf("the device's answer is not valid JSON: %w", err)
	}
	if data, ok := raw["_data"]; ok {
		var lines []string
		if err := json.Unmarshal(data, &lines); err == nil {
			for _, l := range strings.Split(strings.Join(lines, "\n"), "\n") {
				l = strings.TrimSpace(l)
				if i := client.IndexFold(l, "hostname is"); i >= 0 {
					if h := strings.TrimSpace(l[i+len("hostname is"):]); h != "" {
						return h, nil
					}
				}
			}
		}
	}
	for key, val := range raw {
		if strings.HasPrefix(key, "_") {
			continue
		}
		var rows []map[string]any
		if json.Unmarshal(val, &rows) != nil {
			continue
		}
		for _, row := range rows {
			for col, v := range row {
				if strings.EqualFold(strings.ReplaceAll(col, " ", ""), "hostname") {
					if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
						return strings.TrimSpace(s), nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("no hostname in the answer")
}
