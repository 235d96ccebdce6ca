package apstra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// Blueprint is one entry of the blueprint list. Every string is device text: show it
// scrubbed, never use it as a path.
type Blueprint struct {
	ID                    string
	Label                 string
	Design                string
	Status                string
	Version               int
	LastModifiedAt        string // as the server wrote it
	HasUncommittedChanges bool
}

// flexInt is an integer the server may write as a number or as a numeric string.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < -1<<31 || v > 1<<31-1 {
		return errors.New("not an integer")
	}
	*n = flexInt(v)
	return nil
}

// text is a string field the server may also send as null or as another scalar.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		*t = "" // not a scalar: not what the field holds on any server
	default:
		*t = text(b)
	}
	return nil
}

// maxIDLen bounds an identifier the server hands out (Apstra's are UUIDs or short
// base62 strings).
const maxIDLen = 256

// checkID refuses an identifier that cannot be used safely in a URL path or shown:
// empty, too long, a dot segment, a separator, blanks or control characters, or a
// secret the client knows.
func (c *Client) checkID(step, what, id string) error {
	bad := ""
	switch {
	case id == "":
		bad = "is empty"
	case len(id) > maxIDLen:
		bad = "is implausibly long"
	case id == "." || id == "..":
		bad = "is a dot segment"
	case strings.ContainsAny(id, "/\\?#%"):
		bad = "holds a path or URL separator"
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8RuneError }) >= 0:
		bad = "holds blanks, control characters or invalid UTF-8"
	case c.secrets.Scrub(id) != id:
		bad = "holds a secret (the server echoed a password or a token)"
	}
	if bad == "" {
		return nil
	}
	return c.fail(step, 0, fmt.Sprintf("the %s %q %s", what, client.OneLine(c.secrets.Scrub(id), 80), bad),
		errors.New("unusable identifier"))
}

const utf8RuneError = '\uFFFD'

// bpName names a blueprint in errors: its label (when the list gave one) and its id.
func (c *Client) bpName(id string) string {
	c.mu.Lock()
	label := c.labels[id]
	c.mu.Unlock()
	safeID := client.OneLine(c.secrets.Scrub(id), 80)
	if label == "" {
		return "blueprint " + safeID
	}
	return fmt.Sprintf("blueprint %q (id %s)", client.OneLine(c.secrets.Scrub(label), 80), safeID)
}

// Blueprints lists the server's blueprints (GET /api/blueprints).
func (c *Client) Blueprints(ctx context.Context) ([]Blueprint, error) {
	const step = "list blueprints"
	var doc struct {
		Items []struct {
			ID                    text    `json:"id"`
			Label                 text    `json:"label"`
			Design                text    `json:"design"`
			Status                text    `json:"status"`
			Version               flexInt `json:"version"`
			LastModifiedAt        text    `json:"last_modified_at"`
			HasUncommittedChanges bool    `json:"has_uncommitted_changes"`
		} `json:"items"`
	}
	if _, err := c.getJSON(ctx, step, "/api/blueprints", &doc); err != nil {
		return nil, err
	}
	out := make([]Blueprint, 0, len(doc.Items))
	seen := map[string]bool{}
	for _, it := range doc.Items {
		id := string(it.ID)
		if err := c.checkID(step, "blueprint id", id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, c.fail(step, http.StatusOK, fmt.Sprintf("the list names blueprint %s twice", client.OneLine(id, 80)), nil)
		}
		seen[id] = true
		out = append(out, Blueprint{
			ID: id, Label: string(it.Label), Design: string(it.Design), Status: string(it.Status),
			Version: int(it.Version), LastModifiedAt: string(it.LastModifiedAt), HasUncommittedChanges: it.HasUncommittedChanges,
		})
	}
	c.mu.Lock()
	for _, bp := range out {
		c.labels[bp.ID] = bp.Label
	}
	c.mu.Unlock()
	return out, nil
}

func blueprintPath(id string, sub ...string) string {
	return strings.Join(append([]string{"/api/blueprints", id}, sub...), "/")
}

// OpenBlueprint streams the blueprint's whole staging graph (GET
// /api/blueprints/{id}: what Juniper's tooling calls a blueprint export). The body
// is never buffered: the caller reads it to the end and closes it, while ctx is
// alive and before the session closes. A body cut short returns an error from Read
// naming the server, the step and the blueprint, also when the server sent no length
// (the JSON is checked to end where it began).
func (c *Client) OpenBlueprint(ctx context.Context, id string) (io.ReadCloser, error) {
	step := "download the graph of " + c.bpName(id)
	if err := c.checkID(step, "blueprint id", id); err != nil {
		return nil, err
	}
	return c.openJSON(ctx, step, blueprintPath(id), nil)
}

// OpenConnectivityTemplates streams the blueprint's connectivity-template export
// (GET /api/blueprints/{id}/obj-policy-export: {"policies":[...]}), like OpenBlueprint.
func (c *Client) OpenConnectivityTemplates(ctx context.Context, id string) (io.ReadCloser, error) {
	step := "export the connectivity templates of " + c.bpName(id)
	if err := c.checkID(step, "blueprint id", id); err != nil {
		return nil, err
	}
	return c.openJSON(ctx, step, blueprintPath(id, "obj-policy-export"), nil)
}

// openJSON GETs a JSON document as a checked stream.
func (c *Client) openJSON(ctx context.Context, step, p string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.get(ctx, step, p, q)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		defer closeBody(resp)
		head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, c.fail(step, resp.StatusCode, c.describeBody(resp.StatusCode, head, nil, ""), nil)
	}
	return &jsonStream{body: resp.Body, c: c, step: step}, nil
}

// jsonStream passes a JSON body through and fails its Read when the transfer breaks
// off or the document ends before its outermost value does.
type jsonStream struct {
	body  io.ReadCloser
	c     *Client
	step  string
	n     int64
	check jsonEnd
	err   error
}

func (s *jsonStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.body.Read(p)
	s.n += int64(n)
	s.check.feed(p[:n])
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if msg := s.check.problem(); msg != "" {
			s.err = s.c.fail(s.step, http.StatusOK, fmt.Sprintf("the download ended after %d bytes, but %s: it was cut short", s.n, msg),
				io.ErrUnexpectedEOF)
			return n, s.err
		}
	default:
		s.err = s.c.fail(s.step, http.StatusOK, fmt.Sprintf("the download broke off after %d bytes (%s)", s.n, client.OneLine(s.c.secrets.Scrub(err.Error()), 160)), err)
		return n, s.err
	}
	return n, err
}

func (s *jsonStream) Close() error { return s.body.Close() }

// jsonEnd follows a JSON document's nesting byte by byte, enough to tell whether it
// ended where its outermost value does.
type jsonEnd struct {
	depth    int
	started  bool
	closed   bool
	inString bool
	escaped  bool
	trailing bool // non-blank bytes after the outermost value
}

func (j *jsonEnd) feed(b []byte) {
	for _, ch := range b {
		switch {
		case j.inString:
			switch {
			case j.escaped:
				j.escaped = false
			case ch == '\\':
				j.escaped = true
			case ch == '"':
				j.inString = false
			}
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
		case j.closed:
			j.trailing = true
		case ch == '"':
			j.inString = true
			j.started = true
		case ch == '{' || ch == '[':
			j.depth++
			j.started = true
		case ch == '}' || ch == ']':
			j.depth--
			if j.depth <= 0 {
				j.closed = true
			}
		default:
			j.started = true
		}
	}
}

// problem says what is wrong with the document seen so far as a whole one ("" if nothing).
func (j *jsonEnd) problem() string {
	switch {
	case !j.started:
		return "it held no JSON"
	case j.trailing:
		return "more data follows its JSON document"
	case !j.closed || j.inString || j.depth != 0:
		return "its JSON document is not complete"
	}
	return ""
}

// SystemNode is a node of type system. Every string is device text.
type SystemNode struct {
	ID         string
	Label      string
	Hostname   string
	Role       string // spine, leaf, generic, ...
	SystemType string // switch, server
	// SystemID is the serial of the device assigned to the node; "" when none is.
	SystemID   string
	DeployMode string // deploy, undeploy, ready, drain, or ""
}

// Managed reports whether a device is assigned to the node: only such nodes have a
// rendered configuration (OpenDeployedConfig answers ErrNotManaged for the others).
func (n SystemNode) Managed() bool { return n.SystemID != "" }

// Graph is what ScanGraph reads from a blueprint graph.
type Graph struct {
	ID, Label, Design string
	Version           int
	Nodes             int
	Relationships     int
	Systems           []SystemNode
}

// ScanGraph reads a blueprint graph (OpenBlueprint's stream, or the nodes listing)
// one node at a time: the id, label, design and version, how many nodes and
// relationships it has, and its system nodes. Memory is bounded by the largest single
// node, not by the graph. It reads r to its end.
func ScanGraph(r io.Reader) (Graph, error) {
	var g Graph
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return g, err
	}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return g, err
		}
		switch key {
		case "id", "label", "design":
			var t text
			if err := dec.Decode(&t); err != nil {
				return g, fmt.Errorf("field %s: %w", key, err)
			}
			switch key {
			case "id":
				g.ID = string(t)
			case "label":
				g.Label = string(t)
			default:
				g.Design = string(t)
			}
		case "version":
			var v flexInt
			if err := dec.Decode(&v); err != nil {
				return g, fmt.Errorf("field version: %w", err)
			}
			g.Version = int(v)
		case "nodes":
			if err := scanMembers(dec, func(dec *json.Decoder) error {
				var n struct {
					ID         text `json:"id"`
					Type       text `json:"type"`
					Label      text `json:"label"`
					Hostname   text `json:"hostname"`
					Role       text `json:"role"`
					SystemType text `json:"system_type"`
					SystemID   text `json:"system_id"`
					DeployMode text `json:"deploy_mode"`
				}
				if err := dec.Decode(&n); err != nil {
					return fmt.Errorf("node %d: %w", g.Nodes+1, err)
				}
				g.Nodes++
				if n.Type == "system" {
					g.Systems = append(g.Systems, SystemNode{
						ID: string(n.ID), Label: string(n.Label), Hostname: string(n.Hostname), Role: string(n.Role),
						SystemType: string(n.SystemType), SystemID: string(n.SystemID), DeployMode: string(n.DeployMode),
					})
				}
				return nil
			}); err != nil {
				return g, err
			}
		case "relationships":
			if err := scanMembers(dec, func(dec *json.Decoder) error {
				var skip ignored
				if err := dec.Decode(&skip); err != nil {
					return fmt.Errorf("relationship %d: %w", g.Relationships+1, err)
				}
				g.Relationships++
				return nil
			}); err != nil {
				return g, err
			}
		default:
			var skip ignored
			if err := dec.Decode(&skip); err != nil {
				return g, fmt.Errorf("field %s: %w", key, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return g, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return g, errors.New("more data follows the graph's JSON document")
	}
	return g, nil
}

// ignored consumes any JSON value.
type ignored struct{}

func (*ignored) UnmarshalJSON([]byte) error { return nil }

// scanMembers calls member for each value of an object ({"<id>":{...},...}), an
// array ([{...},...]) or nothing (null), with the decoder before the value.
func scanMembers(dec *json.Decoder, member func(*json.Decoder) error) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(err)
	}
	if tok == nil {
		return nil
	}
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return fmt.Errorf("expected an object or a list, found %s", describeToken(tok))
	}
	for dec.More() {
		if d == '{' {
			if _, err := objectKey(dec); err != nil {
				return err
			}
		}
		if err := member(dec); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return jsonErr(err)
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", jsonErr(err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("expected a key, found %s", describeToken(tok))
	}
	return key, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %s", string(want), describeToken(tok))
	}
	return nil
}

// jsonErr names an early end for what it is.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// describeToken names a token without quoting device text at length.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(v.String())
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// SystemNodes lists a blueprint's system nodes with the lighter node listing (GET
// /api/blueprints/{id}/nodes?node_type=system), decoded as it streams.
func (c *Client) SystemNodes(ctx context.Context, bpID string) ([]SystemNode, error) {
	step := "list the system nodes of " + c.bpName(bpID)
	if err := c.checkID(step, "blueprint id", bpID); err != nil {
		return nil, err
	}
	body, err := c.openJSON(ctx, step, blueprintPath(bpID, "nodes"), url.Values{"node_type": {"system"}})
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }() // only read: closing cannot lose anything
	g, err := ScanGraph(body)
	if err != nil {
		var de *client.DeviceError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, c.fail(step, http.StatusOK, "the node listing is not the JSON expected: "+client.OneLine(c.secrets.Scrub(err.Error()), 160), nil)
	}
	return g.Systems, nil
}

// OpenDeployedConfig opens a node's deployed configuration
// (config-rendering?type=deployed) as a stream of its text, decoded from the
// answer's JSON as it is read: a configuration of any size takes no more memory than
// a buffer. An answer larger than 64 MiB, or not the JSON expected, fails the read
// with an error naming the server, the blueprint and the node; the text ends
// (io.EOF) only after the whole answer was read and checked. A node that is not a
// managed system answers an error wrapping ErrNotManaged, one that exists only in
// staging ErrNotDeployed: record those as skipped, with the error's text as the
// reason. Close the stream when done.
func (c *Client) OpenDeployedConfig(ctx context.Context, bpID, nodeID string) (io.ReadCloser, error) {
	step := fmt.Sprintf("read the deployed configuration of node %s in %s", client.OneLine(c.secrets.Scrub(nodeID), 80), c.bpName(bpID))
	if err := c.checkID(step, "blueprint id", bpID); err != nil {
		return nil, err
	}
	if err := c.checkID(step, "node id", nodeID); err != nil {
		return nil, err
	}
	body, err := c.openJSON(ctx, step, blueprintPath(bpID, "nodes", nodeID, "config-rendering"), url.Values{"type": {"deployed"}})
	var de *client.DeviceError
	if err != nil && errors.As(err, &de) {
		switch {
		case de.HTTPStatus == http.StatusUnprocessableEntity:
			de.Err = ErrNotManaged
			de.Hint = "the node has no device assigned (or is no system): it has no rendered configuration"
		case de.HTTPStatus == http.StatusNotFound && !mentionsMissingBlueprint(de.Message):
			de.Err = ErrNotDeployed
			de.Hint = "the node exists only in the staging blueprint: it has no deployed configuration until the blueprint is committed"
		}
	}
	if err != nil {
		return nil, err
	}
	return &deployedConfig{text: newConfigText(body), body: body, fail: func(err error) error {
		var broke *client.DeviceError
		var bad *malformedError
		switch {
		case errors.As(err, &broke):
			return err // the transfer broke off (jsonStream says so)
		case errors.Is(err, errAnswerTooLarge):
			de := c.fail(step, http.StatusOK, err.Error(), nil)
			de.Hint = "no deployed configuration is that large: check what answers at the server's address"
			return de
		case errors.As(err, &bad):
			return c.fail(step, http.StatusOK, "the answer is not the JSON expected: "+client.OneLine(bad.msg, 160), nil)
		}
		return c.fail(step, http.StatusOK, "reading the answer", err)
	}}, nil
}

// deployedConfig is OpenDeployedConfig's stream: a failed read is a DeviceError.
type deployedConfig struct {
	text *configText
	body io.Closer
	fail func(error) error
	err  error // the first failure, as fail made it
}

func (d *deployedConfig) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.text.Read(p)
	if err != nil && err != io.EOF {
		d.err = d.fail(err)
		return n, d.err
	}
	return n, err
}

func (d *deployedConfig) Close() error { return d.body.Close() }

// mentionsMissingBlueprint reports whether a 404's text says the blueprint itself is
// gone ("Blueprint <id> of type staging not found"), not the node.
func mentionsMissingBlueprint(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "blueprint") && strings.Contains(m, "not found")
}

// DeployState is the blueprint's deploy state (GET /api/blueprints/{id}/deploy).
type DeployState struct {
	State   string // success, failure, ...
	Version int
	Error   string
	Raw     []byte // the answer as the server sent it
}

// DeployState reads the blueprint's deploy state.
func (c *Client) DeployState(ctx context.Context, bpID string) (DeployState, error) {
	step := "read the deploy state of " + c.bpName(bpID)
	if err := c.checkID(step, "blueprint id", bpID); err != nil {
		return DeployState{}, err
	}
	var doc struct {
		State   text    `json:"state"`
		Version flexInt `json:"version"`
		Error   text    `json:"error"`
	}
	raw, err := c.getJSON(ctx, step, blueprintPath(bpID, "deploy"), &doc)
	if err != nil {
		return DeployState{}, err
	}
	return DeployState{State: string(doc.State), Version: int(doc.Version), Error: string(doc.Error), Raw: raw}, nil
}

// Revision is one entry of a blueprint's revision list.
type Revision struct {
	ID          string // an integer, as the server writes it
	Description string
	CreatedAt   string
	User        string
}

// Revisions is a blueprint's revision list.
type Revisions struct {
	Items []Revision
	Raw   []byte // the answer as the server sent it
}

// Revisions reads the blueprint's revisions (GET /api/blueprints/{id}/revisions).
func (c *Client) Revisions(ctx context.Context, bpID string) (Revisions, error) {
	step := "read the revisions of " + c.bpName(bpID)
	if err := c.checkID(step, "blueprint id", bpID); err != nil {
		return Revisions{}, err
	}
	var doc struct {
		Items []struct {
			ID          text `json:"revision_id"`
			Description text `json:"description"`
			CreatedAt   text `json:"created_at"`
			User        text `json:"user"`
		} `json:"items"`
	}
	raw, err := c.getJSON(ctx, step, blueprintPath(bpID, "revisions"), &doc)
	if err != nil {
		return Revisions{}, err
	}
	out := Revisions{Raw: raw}
	for _, it := range doc.Items {
		out.Items = append(out.Items, Revision{ID: string(it.ID), Description: string(it.Description), CreatedAt: string(it.CreatedAt), User: string(it.User)})
	}
	return out, nil
}
