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
	pathAccountSvc  = "/redfish/v1/AccountService/"
	pathAccounts    = "/redfish/v1/AccountService/Accounts/"
	pathAccount     = "/redfish/v1/AccountService/Accounts/1/"
	pathResourceDir = "/redfish/v1/ResourceDirectory/"
	pathJSONSchemas = "/redfish/v1/JsonSchemas/"
	pathRegistries  = "/redfish/v1/Registries/"
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
// trailing slash, iLO 6 and 7 drop it (the service root too: "/redfish/v1").
func (d *ILO) odata(p string) string {
	if d.cfg.Generation == ILO5 {
		return p
	}
	return strings.TrimSuffix(p, "/")
}

func (d *ILO) link(p string) map[string]string { return map[string]string{"@odata.id": d.odata(p)} }

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
		// The only resource served without a session.
		d.Stats.Call(r.Method + " /redfish/v1")
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, "GET")
			return
		}
		d.mu.Lock()
		body := d.rootBody()
		d.mu.Unlock()
		writeResource(w, body)
	case eqFold(p, pathSessions):
		d.handleSessions(w, r)
	case eqFold(p, pathService):
		d.handleService(w, r)
	case eqFold(p, pathBackupFiles):
		d.handleBackupFiles(w, r)
	case eqFold(p, HTTPPushURI):
		d.handleRestoreUpload(w, r)
	default:
		if res, ok := d.fixedResource(p); ok {
			d.getResource(w, r, res)
			return
		}
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

func uuidFrom(serial string) string {
	s := sha256.Sum256([]byte("ilosim uuid\x00" + serial))
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
