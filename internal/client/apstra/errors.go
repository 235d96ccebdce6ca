package apstra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

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
// error text when it has one; fallback is used for an empty body when given.
func (c *Client) describeBody(status int, body []byte, parseErr error, fallback string) string {
	if parseErr == nil {
		if msg := apiMessage([]byte(client.ScrubbedHead(c.secrets, body))); msg != "" {
			return client.OneLine(c.secrets.Scrub(msg), 300)
		}
	}
	if fallback != "" && len(bytes.TrimSpace(body)) == 0 {
		return fallback
	}
	if parseErr != nil {
		parseErr = fmt.Errorf("the answer is not the JSON expected: %w", parseErr)
	}
	return client.DescribeBody(c.secrets, status, body, parseErr)
}
