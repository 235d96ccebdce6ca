package aruba

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// serve dispatches one API request (Base.Wrap has applied faults and dropped idle
// sessions).
func (c *Conductor) serve(w http.ResponseWriter, r *http.Request) {
	c.Stats.Call(r.Method + " " + r.URL.Path)
	switch p := r.URL.Path; {
	case p == "/v1/api/login":
		c.handleLogin(w, r)
	case p == "/v1/api/logout":
		c.handleLogout(w, r)
	case p == "/v1/configuration/showcommand":
		c.handleShow(w, r)
	case strings.HasPrefix(p, "/v1/configuration/object/") && len(p) > len("/v1/configuration/object/"):
		c.handleObject(w, r, strings.TrimPrefix(p, "/v1/configuration/object/"))
	default:
		http.NotFound(w, r)
	}
}

// status renders a status code as this build does: "0" or 0.
func (c *Conductor) status(n int) any {
	if c.cfg.StatusAsNumber {
		return n
	}
	return strconv.Itoa(n)
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	devicesim.Reply(w, code, "application/json", body)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
