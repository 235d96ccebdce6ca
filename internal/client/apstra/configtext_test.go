package apstra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

// readDeployedConfig reads a node's deployed configuration whole (tests only).
func readDeployedConfig(ctx context.Context, c *Client, bpID, nodeID string) (string, error) {
	body, err := c.OpenDeployedConfig(ctx, bpID, nodeID)
	if err != nil {
		return "", err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	return string(data), err
}

// decodeConfig runs configText over answer, read one byte at a time into reads of
// size bytes, so that every boundary falls everywhere once.
func decodeConfig(answer string, size int) (string, error) {
	t := newConfigText(iotest.OneByteReader(strings.NewReader(answer)))
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := t.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return string(out), nil
		}
		if err != nil {
			return string(out), err
		}
	}
}

// configAnswers are config-rendering answers, well-formed or not.
var configAnswers = []string{
	`{"config":"system {\n    host-name leaf1;\n}\n"}`,
	` { "config" : "" } `,
	`{"config":"quote \" backslash \\ slash \/ \b\f\n\r\t"}`,
	`{"config":"\u0041\u00e9\u20ac \ud83d\ude00 lone \ud800 x \udc00 pair-broken \ud83d\u0041"}`,
	`{"config":"\ud83d\ud83d\ude00"}`,
	"{\"config\":\"raw UTF-8 é€😀 and invalid \xff\xfe \xe2\x82 end\"}",
	`{"id":"n1","nested":{"a":[1,-2.5e3,true,false,null,{"config":"not this one"}],"s":"}]\"{"},"config":"the text","after":[[]]}`,
	`{"config":"x","config":"y"}`,
	`{"Config":"x"}`,
	`{"config":null}`,
	`{"config":42}`,
	`{"other":1}`,
	`{}`,
	`[]`,
	`"config"`,
	``,
	`{"config":"x"} trailing`,
	`{"config":"x"}{}`,
	`{"config":"ctl ` + "\x01" + `"}`,
	`{"config":"bad \x"}`,
	`{"config":"bad \u12G4"}`,
	`{"config":"x",}`,
	`{"config":"x" "y":1}`,
	`{"a":01,"config":"x"}`,
	`{"a":1.,"config":"x"}`,
	`{"a":tru,"config":"x"}`,
	`{"a":[1 2],"config":"x"}`,
	`{"config":"x","a":{"b":}}`,
	`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"config":"deep"}`,
	// Numbers of any length, and the edges of JSON's number grammar.
	`{"config":"","a":{"b":1` + strings.Repeat("0", 100) + `}}`,
	`{"a":-0.5e-` + strings.Repeat("9", 80) + `,"config":"long exponent"}`,
	`{"a":[0,-0,1e5,1E+5,2.50,-1.0e-0],"config":"ok"}`,
	`{"a":-,"config":"x"}`,
	`{"a":1e,"config":"x"}`,
	`{"a":1e+,"config":"x"}`,
	`{"a":.5,"config":"x"}`,
	`{"a":+1,"config":"x"}`,
	`{"a":-01,"config":"x"}`,
	`{"a":1.5.5,"config":"x"}`,
	`{"config":"x","a":1`,
}

// wantConfig is what encoding/json makes of answer ({"config": string}, matched
// exactly), and whether configText must agree: it refuses what encoding/json reads
// differently (two "config" members: the last counts; a name differing in case only).
func wantConfig(answer string) (text string, ok, comparable bool) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(answer), &members); err != nil {
		return "", false, true
	}
	configs := 0
	for _, name := range topLevelNames(answer) {
		if strings.EqualFold(name, "config") {
			configs++
			if name != "config" {
				return "", false, false
			}
		}
	}
	if configs > 1 {
		return "", false, false
	}
	var s *string
	if raw, found := members["config"]; !found || json.Unmarshal(raw, &s) != nil || s == nil {
		return "", false, true
	}
	return *s, true, true
}

// topLevelNames lists the member names of a JSON object, duplicates included.
func topLevelNames(answer string) []string {
	dec := json.NewDecoder(strings.NewReader(answer))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return names
		}
		name, _ := tok.(string)
		names = append(names, name)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}

// tooDeep: configText refuses an answer nesting deeper than maxJSONDepth, which
// encoding/json takes.
func tooDeep(err error) bool { return err != nil && strings.Contains(err.Error(), "nests deeper") }

// configText decodes an answer's "config" as encoding/json does, at every read
// boundary, and refuses every answer encoding/json refuses, or that has no text.
func TestConfigTextDecodesAsEncodingJSON(t *testing.T) {
	for _, answer := range configAnswers {
		want, ok, comparable := wantConfig(answer)
		for _, size := range []int{1, 2, 3, 5, 4096} {
			got, err := decodeConfig(answer, size)
			switch {
			case !comparable && err == nil:
				t.Errorf("%q: decoded %q, want it refused", answer, got)
			case !comparable, tooDeep(err):
			case ok && (err != nil || got != want):
				t.Errorf("%q (reads of %d): %q, %v; want %q", answer, size, got, err, want)
			case !ok && err == nil:
				t.Errorf("%q (reads of %d): decoded %q, want an error", answer, size, got)
			}
		}
	}
	// An answer cut anywhere is refused: the text never ends early as if whole.
	full := configAnswers[6]
	for i := range len(full) {
		if got, err := decodeConfig(full[:i], 7); err == nil {
			t.Fatalf("the answer cut after %d bytes decoded as %q", i, got)
		}
	}
}

// FuzzConfigText: configText never panics, never accepts an answer encoding/json
// refuses, and decodes as it does.
func FuzzConfigText(f *testing.F) {
	for _, answer := range configAnswers {
		f.Add(answer, uint8(3))
	}
	f.Fuzz(func(t *testing.T, answer string, size uint8) {
		got, err := decodeConfig(answer, int(size)+1)
		want, ok, comparable := wantConfig(answer)
		switch {
		case err == nil && !json.Valid([]byte(answer)):
			t.Fatalf("%q is no JSON, but decoded as %q", answer, got)
		case !comparable, tooDeep(err):
		case ok && (err != nil || got != want):
			t.Fatalf("%q: %q, %v; want %q", answer, got, err, want)
		case !ok && err == nil:
			t.Fatalf("%q: decoded %q, want an error", answer, got)
		}
	})
}

// Errors of the stream name the server, the blueprint and the node, never the
// text: an answer cut short, without a config, not JSON, a transfer broken off.
func TestOpenDeployedConfigErrors(t *testing.T) {
	var answering atomic.Value // string; "" lets the simulator answer
	answering.Store("")
	f := startIntercepted(t, sim.Config{Blueprints: []sim.BlueprintConfig{{Label: "east", ManagedSystems: 1}}},
		func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			answer := answering.Load().(string)
			if answer == "" || !strings.HasSuffix(r.URL.Path, "/config-rendering") {
				return false
			}
			if answer == "broken" {
				w.Header().Set("Content-Length", "1000")
				_, _ = io.WriteString(w, `{"config":"set system secret-part`)
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the connection closes mid-answer
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
			return true
		})
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		node := f.a.Blueprints()[0].Managed[0]
		for _, tc := range []struct{ answer, says string }{
			{`{"config":"set system secret-part`, "cut short"},
			{`{"config":"set system secret-part" "x"}`, "not the JSON expected"},
			{`{"id":"secret-part"}`, `no "config" text`},
			{`<html>secret-part</html>`, "not the JSON expected"},
			{"broken", "broke off"},
		} {
			answering.Store(tc.answer)
			_, err := readDeployedConfig(ctx, f.c, bps[0].ID, node)
			var de *client.DeviceError
			if msg := fmt.Sprint(err); !errors.As(err, &de) || !strings.Contains(msg, tc.says) || !strings.Contains(msg, `"east"`) ||
				!strings.Contains(msg, node) || !strings.Contains(msg, f.c.Device()) || strings.Contains(msg, "secret-part") {
				t.Errorf("answer %q: %v; want a DeviceError saying %q, naming the server, blueprint \"east\" and node %s, and no text of the answer",
					tc.answer, err, tc.says, node)
			}
		}
		answering.Store("")
		cfg, err := readDeployedConfig(ctx, f.c, bps[0].ID, node)
		if want, _ := f.a.DeployedConfig(bps[0].ID, node); err != nil || cfg != want {
			t.Errorf("the server's own answer: %d bytes, %v; want its %d", len(cfg), err, len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
