package ilo

import (
	"encoding/json"
	"net/http"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// MessageIds the simulator answers with. Registry versions differ on purpose (as they
// do between real firmware releases and between registries of one release): a client
// must match a MessageId by registry and key ("Base" + "NoValidSession"), never by
// version.
const (
	MsgNoValidSession               = "Base.1.18.NoValidSession"
	MsgSessionLimitExceeded         = "Base.1.17.SessionLimitExceeded"
	MsgSuccess                      = "Base.1.4.Success"
	MsgPreconditionFailed           = "Base.1.18.PreconditionFailed"
	MsgPropertyValueTypeError       = "Base.1.18.PropertyValueTypeError"
	MsgPropertyMissing              = "Base.1.18.PropertyMissing"
	MsgMalformedJSON                = "Base.1.18.MalformedJSON"
	MsgEmptyJSON                    = "Base.1.18.EmptyJSON"
	MsgResourceMissingAtURI         = "Base.1.18.ResourceMissingAtURI"
	MsgOperationNotAllowed          = "Base.1.18.OperationNotAllowed"
	MsgUnauthorizedLoginAttempt     = "iLO.2.27.UnauthorizedLoginAttempt"
	MsgLoginAttemptDelayed          = "iLO.2.27.LoginAttemptDelayed"
	MsgPropertyNotWritableOrUnknown = "iLO.2.18.PropertyNotWritableOrUnknown"
	// MsgUnsupportedSecurityState is what the simulator answers to a PATCH of
	// CustomBackupandRestore in FIPS mode. The key exists in HPE's iLO registry
	// ("The operation was not successful due to the current security state of the
	// management processor."); HPE documents that custom backup and restore is not
	// supported in FIPS and higher security states.
	MsgUnsupportedSecurityState = "iLO.2.18.UnsupportedSecurityState"
)

// Plain-text bodies of the non-Redfish endpoints (/bkupdata/..., /cgi-bin/...).
const (
	// BodyInvalidRestorePassword is what a real iLO answers (non-200) when a
	// password-protected image is restored with a wrong or missing password.
	BodyInvalidRestorePassword = "invalid_restore_password"
	// BodyInvalidRestoreFile answers a restore upload that is not a valid backup
	// image (garbage, truncated, corrupted, trailing bytes).
	BodyInvalidRestoreFile = "invalid_restore_file"
	// BodyInvalidRestoreRequest answers a restore upload that is not a usable
	// multipart/form-data request (wrong Content-Type, no file part).
	BodyInvalidRestoreRequest = "invalid_restore_request"
	// BodyInvalidBackupPassword answers a backup download by POST whose password is
	// longer than MaxBackupPasswordLen characters.
	BodyInvalidBackupPassword = "invalid_backup_password"
	// BodyInvalidBackupRequest answers a backup download by POST that is not a usable
	// multipart/form-data request.
	BodyInvalidBackupRequest = "invalid_backup_request"
)

type extendedInfo struct {
	MessageID   string   `json:"MessageId"`
	MessageArgs []string `json:"MessageArgs,omitempty"`
}

type errorObject struct {
	Code         string         `json:"code"`
	Message      string         `json:"message"`
	ExtendedInfo []extendedInfo `json:"@Message.ExtendedInfo"`
}

func msg(id string, args ...string) extendedInfo {
	return extendedInfo{MessageID: id, MessageArgs: args}
}

// writeExtendedInfo writes iLO's error body shape (also used for successes).
func writeExtendedInfo(w http.ResponseWriter, status int, infos ...extendedInfo) {
	writeJSON(w, status, map[string]any{"error": errorObject{
		Code:         "iLO.0.10.ExtendedInfo",
		Message:      "See @Message.ExtendedInfo for more information.",
		ExtendedInfo: infos,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("OData-Version", "4.0")
	devicesim.Reply(w, status, "application/json; charset=utf-8", body)
}

func writeText(w http.ResponseWriter, status int, body string) {
	devicesim.Reply(w, status, "text/plain; charset=utf-8", []byte(body))
}

func writeNoValidSession(w http.ResponseWriter) {
	writeExtendedInfo(w, http.StatusUnauthorized, msg(MsgNoValidSession))
}

func writeNotFound(w http.ResponseWriter, path string) {
	writeExtendedInfo(w, http.StatusNotFound, msg(MsgResourceMissingAtURI, path))
}

func writeMethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeExtendedInfo(w, http.StatusMethodNotAllowed, msg(MsgOperationNotAllowed))
}
