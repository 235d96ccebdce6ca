// Package ilo simulates an HPE iLO 5/6/7 Redfish service for backup and restore
// (../README.md lists each behaviour with the source it comes from). It is the ground
// truth of the provider's iLO tests, so it reproduces the real device's quirks:
//
//   - GET /redfish/v1/ needs no session and names the generation in
//     Oem.Hpe.Manager[0].ManagerType / ManagerFirmwareVersion. Every other Redfish
//     resource needs X-Auth-Token. Paths are case-insensitive and work with or without
//     a trailing slash; @odata.id values keep the trailing slash on iLO 5 and drop it
//     on iLO 6 and 7 (clients must not compare them as strings).
//   - The resource tree is what HPE's resource definitions (iLO 6 1.70, iLO 5 3.09)
//     describe, limited to what a backup, a restore and HPE's iLOrest (login, select
//     by type, backuprestore) touch: the service root links JsonSchemas, Registries,
//     AccountService, SessionService, Managers, Systems, Links.Sessions and
//     Oem.Hpe.Links.ResourceDirectory; every resource has @odata.type, @odata.etag
//     and an equal ETag header; the HpeiLOResourceDirectory lists the resources with
//     their type, ETag and HttpMethods. Only the JSON schema and registry documents
//     themselves (SchemaStore, RegistryStore) are not served. iLOrest loads the
//     directory when its link has iLO 5's trailing slash and crawls every link
//     otherwise, as it does with real iLOs.
//   - Sessions: POST /redfish/v1/SessionService/Sessions/ {"UserName","Password"} →
//     201 with X-Auth-Token and an absolute Location naming the host the client
//     addressed but, like iLO, not the port
//     (https://host/redfish/v1/SessionService/Sessions/<user><16 hex>/), relative
//     with Config.RelativeLocation. DELETE of that path logs out. A missing, unknown
//     or idle-expired token → 401 Base.1.18.NoValidSession. A bad password → 401
//     iLO.2.27.UnauthorizedLoginAttempt; from the LoginFailuresBeforeDelay-th (3rd)
//     consecutive failure the answer is 401 iLO.2.27.LoginAttemptDelayed and, for
//     LoginDelay afterwards, every login (even a correct one) is refused with it. More
//     than MaxSessions sessions → Base.1.17.SessionLimitExceeded with status
//     SessionLimitStatus (503 by default). Basic auth is not offered (as on an iLO
//     with AccountService HTTPBasicAuth disabled).
//   - Errors use iLO's body {"error":{"code":"iLO.0.10.ExtendedInfo","message":...,
//     "@Message.ExtendedInfo":[{"MessageId":...,"MessageArgs":[...]}]}} with registry
//     versions that differ between messages (see the Msg* constants); successes of
//     PATCH, DELETE and restore carry Base.1.4.Success in the same shape.
//   - BackupRestoreService (#HpeiLOBackupRestoreService.v2_2_0): every GET, with or
//     without $select, mints a new backup /bkupdata/HPE_<serial>_<YYYYMMDD>_<HHMM>.bak
//     (UTC) which replaces the previous one (BackupFilesAllowed 1: the old name then
//     answers 404). $select trims the body to the named properties plus @odata.*.
//     ETag header and @odata.etag are weak (W/"XXXXXXXX"); the ETag changes on every
//     successful PATCH and only then. PATCH {"CustomBackupandRestore": bool}: a stale
//     If-Match → 412 Base.1.18.PreconditionFailed; a non-boolean → 400
//     Base.1.18.PropertyValueTypeError; an unknown or read-only property (or the flag
//     itself with OldFirmware) → 400 iLO.2.18.PropertyNotWritableOrUnknown; in FIPS
//     mode → 400 iLO.2.18.UnsupportedSecurityState.
//   - Download: GET /bkupdata/<name> (X-Auth-Token or Cookie sessionKey) streams the
//     image as application/octet-stream with Content-Length. POST multipart/form-data
//     to the same path with sessionKey and an optional password (≤ 32 characters;
//     longer → 400 invalid_backup_password) streams an image protected by it. Every
//     image served completely is remembered with its SHA-256.
//   - Restore: POST multipart/form-data to HttpPushUri (/cgi-bin/uploadRestoreFile)
//     with sessionKey, optional password, then file. Header X-Auth-Token or Cookie
//     sessionKey and the sessionKey field must name a valid session (else 401
//     NoValidSession). A wrong or missing password for a protected image → 400 with
//     body exactly invalid_restore_password; anything that is not an intact image
//     (garbage, truncated, altered, trailing bytes) → 400 invalid_restore_file (the
//     X-Sim-Reason header says why); a malformed request → 400
//     invalid_restore_request. The simulator accepts images of another serial (the
//     provider enforces "same hardware") and records the serial. On success: 200,
//     the restore is recorded (LastRestore), every session is dropped, and for
//     ResetDuration every request except /_sim/ ones is answered by a connection
//     reset. The BackupFiles member action HpeiLOBackupFile.Restore restores the
//     stored backup the same way. Config.BackupFilesMissing keeps the BackupFiles
//     link but answers 404 for the collection and its members.
//
// Backup images have the format described in image.go: a 160-byte header (magic,
// serial, generation, firmware, backup id, size, salt and an HMAC password verifier —
// never the password) followed by a deterministic AES-CTR keystream, generated while
// streaming, so multi-GiB images cost no memory and a restore verifies every byte.
//
// ExpireNextCalls (devicesim.Base) expires the session of the next calls that present
// one: any Redfish resource, a download, a restore, a logout.
//
// Every time the iLO reads — session idle expiry, the login delay, backup names and
// their Created, the reset window, the service root's Time — comes from Config.Clock
// (default: the system clock), so tests move a devicesim.ManualClock instead of
// sleeping.
//
// The simulator never logs; credentials, tokens and backup passwords appear only in
// the responses a real iLO would give (the token in X-Auth-Token).
package ilo
