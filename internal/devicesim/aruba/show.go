package aruba

import (
	"fmt"
	"net/http"
	"strings"
)

func (c *Conductor) handleShow(w http.ResponseWriter, r *http.Request) {
	if !c.requireSession(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	cmd := strings.ToLower(strings.Join(strings.Fields(r.URL.Query().Get("command")), " "))
	var data []string
	switch cmd {
	case "show running-config":
		text := c.RunningConfig()
		if c.cfg.RunningConfigPerLine {
			data = strings.Split(strings.TrimRight(text, "\n"), "\n")
		} else {
			data = []string{text}
		}
	case "show hostname":
		data = []string{"Hostname is " + c.cfg.Name}
	case "show version":
		data = []string{c.versionText()}
	default:
		// Unknown or abbreviated commands: HTTP 200 with an empty body.
		writeJSON(w, http.StatusOK, nil)
		return
	}
	writeJSON(w, http.StatusOK, mustJSON(map[string]any{"_data": data}))
}

func (c *Conductor) versionText() string {
	build := buildAOS810
	if c.cfg.AOS82 {
		build = buildAOS82
	}
	return fmt.Sprintf("Aruba Operating System Software.\n"+
		"ArubaOS (MODEL: %s), Version %s\n"+
		"Website: http://www.arubanetworks.com\n"+
		"(c) Copyright 2024 Hewlett Packard Enterprise Development LP.\n"+
		"Compiled on 2024-05-14 at 09:12:41 UTC (build %s) by p4build\n", model, c.version(), build)
}
