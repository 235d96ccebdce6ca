package ilo

import (
	"crypto/sha256"
	"net/http"
	"strings"

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
	StatsPath = devicesim.StatsPath
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
func (d *ILO) Handler() http.Handler { return d.handler }

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

// uuidFrom derives the service root's UUID from the serial number, so it is stable.
func uuidFrom(serial string) string {
	s := sha256.Sum256([]byte("ilosim uuid\x00" + serial))
	return devicesim.FormatUUID([16]byte(s[:16]))
}
