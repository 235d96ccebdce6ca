package ilo

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Canonical resource paths (the iLO 5 spelling, with a trailing slash; iLO 6 and 7
// serve @odata.id without it). Requests match them case-insensitively, with or
// without the trailing slash.
const (
	pathRoot        = "/redfish/v1/"
	pathSessionSvc  = "/redfish/v1/SessionService/"
	pathSessions    = "/redfish/v1/SessionService/Sessions/"
	pathManagers    = "/redfish/v1/Managers/"
	pathManager     = "/redfish/v1/Managers/1/"
	pathService     = "/redfish/v1/Managers/1/BackupRestoreService/"
	pathBackupFiles = "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles/"
	pathSystems     = "/redfish/v1/Systems/"
	pathSystem      = "/redfish/v1/Systems/1/"
	pathBackupData  = "/bkupdata/"
	// HTTPPushURI is the restore upload URI the service advertises as HttpPushUri.
	HTTPPushURI = "/cgi-bin/uploadRestoreFile"
	// StatsPath serves the Stats snapshot (never subject to faults or resets).
	StatsPath = "/_sim/stats"
)

// Endpoint names recorded with Stats.Call ("METHOD /path template").
const (
	EndpointRoot              = "GET /redfish/v1"
	EndpointLogin             = "POST /redfish/v1/SessionService/Sessions"
	EndpointLogout            = "DELETE /redfish/v1/SessionService/Sessions/{id}"
	EndpointManager           = "GET /redfish/v1/Managers/1"
	EndpointSystem            = "GET /redfish/v1/Systems/1"
	EndpointServiceGet        = "GET /redfish/v1/Managers/1/BackupRestoreService"
	EndpointServicePatch      = "PATCH /redfish/v1/Managers/1/BackupRestoreService"
	EndpointBackupFiles       = "GET /redfish/v1/Managers/1/BackupRestoreService/BackupFiles"
	EndpointBackupFileGet     = "GET /redfish/v1/Managers/1/BackupRestoreService/BackupFiles/{id}"
	EndpointBackupFileDelete  = "DELETE /redfish/v1/Managers/1/BackupRestoreService/BackupFiles/{id}"
	EndpointBackupFileRestore = "POST /redfish/v1/Managers/1/BackupRestoreService/BackupFiles/{id}/Actions/HpeiLOBackupFile.Restore"
	EndpointDownloadGet       = "GET /bkupdata/{file}"
	EndpointDownloadPost      = "POST /bkupdata/{file}"
	EndpointRestoreUpload     = "POST /cgi-bin/uploadRestoreFile"
)

// Handler serves the simulated iLO: Faults.Wrap around the API, plus StatsPath.
func (d *ILO) Handler() http.Handler {
	inner := d.Faults.Wrap(http.HandlerFunc(d.serve))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(&untouchedFlushGuard{ResponseWriter: w}, r)
	})
}

// untouchedFlushGuard makes Flush a no-op until something was written.
// devicesim.ResetConnection flushes before it hijacks; on a response nothing was
// written to yet, net/http's Flush sends "HTTP/1.1 200 OK" headers, so the client
// would see a 200 with a broken body instead of a connection dropped without an
// answer. With the guard, a reset before any output sends no status line, and a
// reset in the middle of a body still delivers the bytes written before it.
type untouchedFlushGuard struct {
	http.ResponseWriter
	wrote bool
}

func (g *untouchedFlushGuard) WriteHeader(code int) {
	if code >= 200 {
		g.wrote = true
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *untouchedFlushGuard) Write(b []byte) (int, error) {
	g.wrote = true
	return g.ResponseWriter.Write(b)
}

func (g *untouchedFlushGuard) Flush() {
	if !g.wrote {
		return
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (g *untouchedFlushGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := g.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the real writer.
func (g *untouchedFlushGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// odata spells a resource path the way this generation does: iLO 5 keeps the
// trailing slash, iLO 6 and 7 drop it.
func (d *ILO) odata(p string) string {
	if d.cfg.Generation == ILO5 || p == pathRoot {
		return p
	}
	return strings.TrimSuffix(p, "/")
}

func link(p string) map[string]string { return map[string]string{"@odata.id": p} }

// trimSlashes drops trailing slashes ("/" stays "/").
func trimSlashes(p string) string {
	t := strings.TrimRight(p, "/")
	if t == "" {
		return "/"
	}
	return t
}

func eqFold(p, canonical string) bool { return strings.EqualFold(p, trimSlashes(canonical)) }

// cutFold returns the rest of p after prefix (case-insensitive), if p starts with it.
func cutFold(p, prefix string) (string, bool) {
	if len(p) < len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return "", false
	}
	return p[len(prefix):], true
}

func (d *ILO) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == StatsPath {
		d.mu.Lock()
		d.purgeIdleLocked(time.Now())
		d.mu.Unlock()
		d.Stats.ServeHTTP(w, r)
		return
	}
	if d.InReset() {
		// The iLO is rebooting after a restore: nothing answers.
		devicesim.ResetConnection(w)
		return
	}
	p := trimSlashes(r.URL.Path)
	switch {
	case eqFold(p, "/redfish"):
		d.Stats.Call(r.Method + " /redfish")
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"v1": pathRoot})
	case eqFold(p, pathRoot):
		d.Stats.Call(r.Method + " /redfish/v1")
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, "GET")
			return
		}
		d.serveRoot(w)
	case eqFold(p, pathSessionSvc):
		d.getResource(w, r, "/redfish/v1/SessionService", d.sessionServiceBody)
	case eqFold(p, pathSessions):
		d.handleSessions(w, r)
	case eqFold(p, pathManagers):
		d.getResource(w, r, "/redfish/v1/Managers", func() any { return d.collectionBody(pathManagers, "Manager", pathManager) })
	case eqFold(p, pathManager):
		d.getResource(w, r, "/redfish/v1/Managers/1", d.managerBody)
	case eqFold(p, pathSystems):
		d.getResource(w, r, "/redfish/v1/Systems", func() any { return d.collectionBody(pathSystems, "ComputerSystem", pathSystem) })
	case eqFold(p, pathSystem):
		d.getResource(w, r, "/redfish/v1/Systems/1", d.systemBody)
	case eqFold(p, pathService):
		d.handleService(w, r)
	case eqFold(p, pathBackupFiles):
		d.handleBackupFiles(w, r)
	case eqFold(p, HTTPPushURI):
		d.handleRestoreUpload(w, r)
	default:
		if rest, ok := cutFold(p, pathSessions); ok && !strings.Contains(rest, "/") {
			d.handleSession(w, r, rest)
			return
		}
		if rest, ok := cutFold(p, pathBackupFiles); ok {
			d.handleBackupFile(w, r, rest)
			return
		}
		if rest, ok := cutFold(p, pathBackupData); ok {
			d.handleDownload(w, r, rest)
			return
		}
		d.Stats.Call(r.Method + " (unknown)")
		if _, ok := cutFold(p, "/redfish/"); ok {
			if d.requireSession(w, r, false) == nil {
				return
			}
			writeNotFound(w, r.URL.Path)
			return
		}
		writeText(w, http.StatusNotFound, "not_found")
	}
}

// getResource serves a read-only resource that needs a session.
func (d *ILO) getResource(w http.ResponseWriter, r *http.Request, name string, body func() any) {
	d.Stats.Call(r.Method + " " + name)
	if r.Method != http.MethodGet {
		writeMethodNotAllowed(w, "GET")
		return
	}
	if d.requireSession(w, r, false) == nil {
		return
	}
	d.mu.Lock()
	b := body()
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, b)
}

func (d *ILO) product() string {
	switch d.cfg.Generation {
	case ILO5:
		return "ProLiant DL360 Gen10"
	case ILO7:
		return "ProLiant DL360 Gen12"
	}
	return "ProLiant DL360 Gen11"
}

// firmwareString is the Manager's FirmwareVersion ("iLO 6 v1.70").
func (d *ILO) firmwareString(fw string) string { return d.cfg.Generation + " v" + fw }

func (d *ILO) serveRoot(w http.ResponseWriter) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
		"@odata.id":      pathRoot,
		"@odata.type":    "#ServiceRoot.v1_13_0.ServiceRoot",
		"Id":             "RootService",
		"Name":           "HPE RESTful Root Service",
		"Product":        d.product(),
		"RedfishVersion": "1.13.0",
		"Vendor":         "HPE",
		"UUID":           uuidFrom(cfg.Serial),
		"Links":          map[string]any{"Sessions": link(d.odata(pathSessions))},
		"SessionService": link(d.odata(pathSessionSvc)),
		"Managers":       link(d.odata(pathManagers)),
		"Systems":        link(d.odata(pathSystems)),
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.type": "#HpeiLOServiceExt.v2_3_0.HpeiLOServiceExt",
			"Manager": []map[string]any{{
				"ManagerType":            cfg.Generation,
				"ManagerFirmwareVersion": cfg.Firmware,
				"HostName":               strings.ToLower(cfg.Name),
				"Languages":              []map[string]string{{"Language": "en", "TranslationName": "English", "Version": cfg.Firmware}},
			}},
			"Sessions": map[string]any{"LoginHint": map[string]any{
				"Hint":         "POST to /Sessions to login using the following JSON object:",
				"HintPOSTData": map[string]string{"UserName": "username", "Password": "password"},
			}},
		}},
	})
}

func uuidFrom(serial string) string {
	h := hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte("ilosim uuid\x00" + serial)); return s[:16] }())
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (d *ILO) sessionServiceBody() any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#SessionService.SessionService",
		"@odata.id":      d.odata(pathSessionSvc),
		"@odata.type":    "#SessionService.v1_0_0.SessionService",
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": int(d.cfg.IdleTimeout / time.Second),
		"Sessions":       link(d.odata(pathSessions)),
	}
}

func (d *ILO) collectionBody(self, kind, member string) any {
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#" + kind + "Collection." + kind + "Collection",
		"@odata.id":           d.odata(self),
		"@odata.type":         "#" + kind + "Collection." + kind + "Collection",
		"Name":                kind + "s",
		"Members":             []map[string]string{link(d.odata(member))},
		"Members@odata.count": 1,
	}
}

func (d *ILO) managerBody() any {
	fw := d.firmwareString(d.cfg.Firmware)
	return map[string]any{
		"@odata.context":  "/redfish/v1/$metadata#Manager.Manager",
		"@odata.id":       d.odata(pathManager),
		"@odata.type":     "#Manager.v1_5_1.Manager",
		"Id":              "1",
		"Name":            "Manager",
		"ManagerType":     "BMC",
		"Model":           d.cfg.Generation,
		"FirmwareVersion": fw,
		"Status":          map[string]string{"Health": "OK", "State": "Enabled"},
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.type": "#HpeiLO.v2_8_0.HpeiLO",
			"Firmware": map[string]any{"Current": map[string]any{
				"VersionString": fw,
			}},
			"Links": map[string]any{
				"BackupRestoreService": link(d.odata(pathService)),
			},
		}},
	}
}

func (d *ILO) systemBody() any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
		"@odata.id":      d.odata(pathSystem),
		"@odata.type":    "#ComputerSystem.v1_13_0.ComputerSystem",
		"Id":             "1",
		"Name":           "Computer System",
		"Manufacturer":   "HPE",
		"Model":          d.product(),
		"SerialNumber":   d.cfg.Serial,
		"PowerState":     "On",
		"Status":         map[string]string{"Health": "OK", "State": "Enabled"},
	}
}
