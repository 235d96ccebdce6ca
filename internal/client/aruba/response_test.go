package aruba

import (
	"strings"
	"testing"
)

func TestParseEnvelopeVariants(t *testing.T) {
	cases := []struct {
		name, body, failure, message string
	}{
		{"string status ok", `{"copy_running_flash":{"filename":"a","_result":{"status":"0","status_str":"Success"}},"_global_result":{"status":"0","status_str":"Success","_pending":false}}`, "", "Success"},
		{"number status ok", `{"_global_result":{"status":0,"status_str":"Success"}}`, "", "Success"},
		{"empty body is success", ``, "", ""},
		{"global failure", `{"_global_result":{"status":"1","status_str":"Invalid filename"}}`, "Invalid filename", ""},
		{"nested failure", `{"flash_backup":{"_result":{"status":2,"status_str":"Flash backup failed"}},"_global_result":{"status":0}}`, "Flash backup failed", ""},
		{"Error key", `{"Error":"copy_flash_scp: wrong syntax: srcfilename missing"}`, "copy_flash_scp: wrong syntax: srcfilename missing", ""},
		{"failure without text", `{"_global_result":{"status":"2"}}`, "status 2", ""},
		{"scp success text nested", `{"copy_flash_scp":{"_result":{"status":"0","status_str":"File uploaded successfully"}},"_global_result":{"status":"0","status_str":"Success"}}`, "", "File uploaded successfully"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := parseEnvelope([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := env.failure(); got != tc.failure {
				t.Errorf("failure() = %q, want %q", got, tc.failure)
			}
			if tc.message != "" && env.message() != tc.message {
				t.Errorf("message() = %q, want %q", env.message(), tc.message)
			}
		})
	}
	if _, err := parseEnvelope([]byte(`<html>`)); err == nil {
		t.Error("HTML must not parse as an envelope")
	}
	if _, err := parseEnvelope([]byte(`{"_global_result":{"status":"OK"}}`)); err == nil {
		t.Error("a non-numeric status must be an error")
	}
}

func TestParseShowAndHostname(t *testing.T) {
	text, err := parseShowText([]byte(`{"_data":["hostname mc1","!","vlan 10"]}`))
	if err != nil || text != "hostname mc1\n!\nvlan 10" {
		t.Errorf("per-line _data: %q %v", text, err)
	}
	text, err = parseShowText([]byte(`{"_data":["hostname mc1\n!\nvlan 10"]}`))
	if err != nil || text != "hostname mc1\n!\nvlan 10" {
		t.Errorf("single-element _data: %q %v", text, err)
	}
	if _, err := parseShowText([]byte(`{"Table":[]}`)); err == nil {
		t.Error("a table is not show text")
	}
	for body, want := range map[string]string{
		`{"_data":["Hostname is mc-dc1"]}`:                "mc-dc1",
		`{"Hostname":[{"Hostname":"mc-tab"}],"_meta":[]}`: "mc-tab",
	} {
		if got, err := parseHostname([]byte(body)); err != nil || got != want {
			t.Errorf("parseHostname(%s) = %q, %v; want %q", body, got, err, want)
		}
	}
	if _, err := parseHostname([]byte(`{"_data":[]}`)); err == nil {
		t.Error("no hostname must be an error")
	}
}

func TestSessionTexts(t *testing.T) {
	if !sessionExpiredText("Invalid authentication token(UIDARUBA) in request URL") || !sessionExpiredText("You must authenticate yourself") {
		t.Error("expiry texts not recognised")
	}
	if sessionExpiredText("Success") {
		t.Error("success taken for expiry")
	}
	if !sessionLimitText("Maximum number of sessions reached (64)") || sessionLimitText("Unauthorized request, authentication failed") {
		t.Error("session-limit detection is wrong")
	}
}

// FuzzParseEnvelope: any answer parses or fails cleanly, never panics, and a reported
// failure is never empty text.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"_global_result":{"status":"0"}}`, `{"_global_result":{"status":1,"status_str":"x"}}`,
		`{"Error":"wrong syntax"}`, `{"a":{"_result":{"status":"2"}}}`, `{"_global_result":{"status":"x"}}`,
		`{"_global_result":null}`, `[1,2]`, `{"Error":{"nested":true}}`, `{"_global_result":{"status":99999999999999999999}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		if env.Global.failed() && strings.TrimSpace(env.failure()) == "" {
			t.Errorf("a failed status gives no failure text for %q", body)
		}
		_ = env.message()
	})
}

// FuzzParseShow: show-command parsers never panic and a hostname is never blank.
func FuzzParseShow(f *testing.F) {
	for _, s := range []string{`{"_data":["Hostname is a"]}`, `{"_data":["x\ny"]}`, `{"T":[{"Hostname":"h"}]}`, `{"_data":null}`, `{"T":[{"Hostname":5}]}`, ``,
		`{"_data":["ȺȺȺȺ Hostname is mc-1"]}`, "{\"_data\":[\"\xe9\xe9 HOSTNAME IS \xe8\"]}", `{"_data":["ȺȺȺȺȺȺȺȺȺȺȺhostname is"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = parseShowText(body)
		if h, err := parseHostname(body); err == nil && strings.TrimSpace(h) == "" {
			t.Errorf("blank hostname from %q", body)
		}
	})
}

// Case-changing runes (whose lower case has another length in bytes, like Ⱥ) must
// neither panic nor shift where the hostname is cut out of the text.
func TestHostnameAfterCaseChangingRunes(t *testing.T) {
	for body, want := range map[string]string{
		`{"_data":["ȺȺȺȺ Hostname is mc-1"]}`:         "mc-1",
		`{"_data":["ȺȺȺȺȺȺȺȺȺȺȺȺHOSTNAME IS mc-2"]}`:  "mc-2",
		`{"_data":["\u023a\u023a hostname is Ⱥ-mc"]}`: "Ⱥ-mc",
	} {
		if got, err := parseHostname([]byte(body)); err != nil || got != want {
			t.Errorf("parseHostname(%s) = %q, %v; want %q", body, got, err, want)
		}
	}
}
