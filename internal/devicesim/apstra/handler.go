package apstra

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Endpoints as counted in Stats (method and path pattern).
const (
	EndpointLoginAAA        = "POST /api/aaa/login"
	EndpointLoginUser       = "POST /api/user/login"
	EndpointLogoutAAA       = "POST /api/aaa/logout"
	EndpointLogoutUser      = "POST /api/user/logout"
	EndpointBlueprints      = "GET /api/blueprints"
	EndpointBlueprint       = "GET /api/blueprints/{id}"
	EndpointNodes           = "GET /api/blueprints/{id}/nodes"
	EndpointConfigRendering = "GET /api/blueprints/{id}/nodes/{node}/config-rendering"
	EndpointDeploy          = "GET /api/blueprints/{id}/deploy"
	EndpointRevisions       = "GET /api/blueprints/{id}/revisions"
	EndpointCTExport        = "GET /api/blueprints/{id}/obj-policy-export"
)

// serve dispatches one API request (Base.Wrap has applied faults and dropped idle
// sessions).
func (a *Apstra) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/api/aaa/login" || p == "/api/user/login":
		a.Stats.Call(r.Method + " " + p)
		if a.cfg.LegacyLogin && strings.HasPrefix(p, "/api/aaa/") {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		a.handleLogin(w, r)
	case p == "/api/aaa/logout" || p == "/api/user/logout":
		a.Stats.Call(r.Method + " " + p)
		if a.cfg.LegacyLogin && strings.HasPrefix(p, "/api/aaa/") {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		a.handleLogout(w, r)
	case p == "/api/user":
		a.Stats.Call(r.Method + " " + p)
		a.handleUser(w, r)
	case p == "/api/versions/api" || p == "/api/version":
		a.Stats.Call(r.Method + " " + p)
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		major, rest, _ := strings.Cut(a.cfg.Version, ".")
		minor, _, _ := strings.Cut(rest, ".")
		writeJSON(w, http.StatusOK, map[string]string{"major": major, "minor": minor, "version": a.cfg.Version, "build": a.cfg.Version + "-51"})
	case p == "/api/versions/build" || p == "/api/versions/server" || p == "/api/versions/aosdi":
		a.Stats.Call(r.Method + " " + p)
		writeJSON(w, http.StatusOK, map[string]string{"version": a.cfg.Version + "-51", "build_datetime": "2024-11-21_09:42:07_PST"})
	case p == "/api/blueprints":
		a.Stats.Call(r.Method + " " + p)
		a.handleBlueprints(w, r)
	case strings.HasPrefix(p, "/api/blueprints/"):
		a.handleBlueprintPath(w, r, strings.TrimPrefix(p, "/api/blueprints/"))
	default:
		if c, ok := a.collection(p); ok {
			a.Stats.Call(r.Method + " " + p)
			a.handleCollection(w, r, c)
			return
		}
		a.Stats.Call(r.Method + " (unknown)")
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

// handleBlueprintPath serves /api/blueprints/{id}[/...].
func (a *Apstra) handleBlueprintPath(w http.ResponseWriter, r *http.Request, rest string) {
	id, sub, _ := strings.Cut(rest, "/")
	endpoint := map[string]string{
		"": EndpointBlueprint, "nodes": EndpointNodes, "deploy": EndpointDeploy,
		"revisions": EndpointRevisions, "obj-policy-export": EndpointCTExport,
	}[sub]
	var node string
	if endpoint == "" {
		if n, tail, ok := strings.Cut(strings.TrimPrefix(sub, "nodes/"), "/"); ok && strings.HasPrefix(sub, "nodes/") && tail == "config-rendering" {
			endpoint, node = EndpointConfigRendering, n
		}
	}
	if endpoint == "" {
		a.Stats.Call(r.Method + " (unknown)")
		if _, ok := a.requireSession(w, r); ok {
			writeError(w, http.StatusNotFound, "Not Found")
		}
		return
	}
	a.Stats.Call(strings.Replace(endpoint, "GET", r.Method, 1))
	if _, ok := a.requireSession(w, r); !ok {
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	bp, ok := a.snapshot(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Blueprint %s of type staging not found", id))
		return
	}
	switch endpoint {
	case EndpointBlueprint:
		a.streamJSON(w, r, bp.id, func(g *graphWriter) { bp.writeGraph(g) })
	case EndpointNodes:
		f := nodeFilter{nodeType: r.URL.Query().Get("node_type")}
		a.streamJSON(w, r, "", func(g *graphWriter) {
			g.buf = append(g.buf, `{"nodes":`...)
			bp.writeNodes(g, f)
			g.buf = append(g.buf, '}')
		})
	case EndpointConfigRendering:
		a.configRendering(w, r, &bp, node)
	case EndpointDeploy:
		writeJSON(w, http.StatusOK, map[string]any{"state": "success", "version": bp.deployedVersion, "error": nil})
	case EndpointRevisions:
		items := make([]map[string]any, 0, len(bp.revisions))
		for i := len(bp.revisions) - 1; i >= 0; i-- {
			rv := bp.revisions[i]
			items = append(items, map[string]any{
				"revision_id": fmt.Sprint(rv.id), "description": rv.description,
				"created_at": rv.created.Format(timeFormat), "user": a.cfg.Username, "user_ip": "10.0.0.5",
				"auto_saved": false, "user_saved": true,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case EndpointCTExport:
		writeJSON(w, http.StatusOK, map[string]any{"policies": bp.connectivityTemplates()})
	}
}

// streamJSON writes a generated document incrementally (chunked, no
// Content-Length). A cut armed for blueprint cutID resets the connection part-way.
func (a *Apstra) streamJSON(w http.ResponseWriter, _ *http.Request, cutID string, write func(g *graphWriter)) {
	var cut int64
	if cutID != "" {
		cut = a.takeCut(cutID)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	g := newGraphWriter(w, cut)
	write(g)
	if err := g.flush(); errors.Is(err, errCut) {
		a.Logf("download of blueprint cut after %d bytes", g.written)
		devicesim.ResetConnection(w)
	}
}

// configRendering answers config-rendering?type=deployed|staging for one node.
func (a *Apstra) configRendering(w http.ResponseWriter, r *http.Request, bp *blueprint, node string) {
	typ := r.URL.Query().Get("type")
	if typ != "deployed" && typ != "staging" && typ != "operation" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error_code": http.StatusUnprocessableEntity,
			"errors":     map[string]string{"type": "Must be one of: staging, deployed, operation."},
		})
		return
	}
	i, ok := bp.nodeIndex(node)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "No node with id: "+node)
		return
	}
	switch bp.systemKind(i) {
	case sysManaged:
	case sysStagingOnly:
		if typ != "staging" {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Node %s does not exist in the %s blueprint", node, typ))
			return
		}
	default:
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Node %s is not a system with an assigned device", node))
		return
	}
	// {"config": "<the text>"}, streamed: a configuration of any size is generated
	// as the client reads it.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, `{"config":"`); err != nil {
		return
	}
	if err := bp.writeConfig(jsonStringWriter{w}, i); err != nil {
		return // the client has gone
	}
	_, _ = io.WriteString(w, `"}`)
}

// jsonStringWriter writes what it is given as the inside of a JSON string: quotes,
// backslashes and control characters escaped.
type jsonStringWriter struct{ w io.Writer }

func (j jsonStringWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+len(p)/8)
	for _, c := range p {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\t':
			out = append(out, '\\', 't')
		case c < 0x20:
			out = append(out, fmt.Sprintf("\\u%04x", c)...)
		default:
			out = append(out, c)
		}
	}
	if _, err := j.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// handleBlueprints serves GET /api/blueprints: the blueprint summaries.
func (a *Apstra) handleBlueprints(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.requireSession(w, r); !ok {
		return
	}
	a.mu.Lock()
	items := make([]map[string]any, 0, len(a.blueprints))
	ids := make([]string, 0, len(a.blueprints))
	for _, bp := range a.blueprints {
		ids = append(ids, bp.id)
		m, spines := bp.cfg.ManagedSystems, max(1, bp.cfg.ManagedSystems/5)
		if m == 0 {
			spines = 0
		}
		items = append(items, map[string]any{
			"id": bp.id, "label": bp.cfg.Label, "status": "created", "design": bp.cfg.Design,
			"version": bp.version, "last_modified_at": bp.lastModified.Format(timeFormat),
			"has_uncommitted_changes": bp.version != bp.deployedVersion,
			"superspine_count":        0, "spine_count": spines, "leaf_count": m - spines + bp.cfg.StagingOnlySystems,
			"access_count": 0, "generic_count": bp.cfg.UnmanagedSystems, "external_router_count": 0,
			"l2_server_count": 0, "l3_server_count": 0, "remote_gateway_count": 0,
			"build_warnings_count": 0, "build_errors_count": 0, "root_cause_count": 0, "top_level_root_cause_count": 0,
			"deployment_status": map[string]any{
				"service_config": map[string]int{"num_succeeded": m, "num_failed": 0, "num_pending": 0},
			},
			"anomaly_counts": map[string]int{"all": 0},
		})
	}
	a.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case http.MethodOptions:
		writeJSON(w, http.StatusOK, map[string]any{"items": ids})
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

// writeError answers Apstra's error shape {"errors":"<text>"}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"errors": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	devicesim.Reply(w, status, "application/json", b)
}
