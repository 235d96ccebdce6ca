// Package redfish is the HPE iLO 5/6/7 Redfish client for backup and restore: log in
// with a Redfish session, discover the manager and its HpeiLOBackupRestoreService,
// trigger and download a configuration backup (optionally password protected), set
// the CustomBackupandRestore flag, upload a restore and wait for the iLO to come back.
//
// It holds no Terraform types. All traffic goes through client.Client.Do, so TLS
// verification, timeouts, safe-only retries and secret-free logging are shared with
// the other device clients.
//
// A Client is one conversation with one iLO. Its Session logs in once, re-logs in
// once when the iLO answers NoValidSession, and logs out when closed:
//
//	rc, _ := redfish.New(hc, redfish.Config{Host: "ilo1", Username: u, Password: p})
//	err := client.With(ctx, rc.Session(), func(ctx context.Context) error {
//		svc, err := rc.ReadBackupService(ctx) // the iLO writes a fresh backup now
//		...
//	})
//
// Every operation makes only the calls it needs (a backup: login, Managers/1,
// Systems/1, the service, the download, logout). Information a caller may want but
// an operation does not need, such as the BackupFiles count, has its own call
// (CountBackupFiles) whose failure the caller can treat as a warning.
//
// Device quirks handled here (internal/devicesim/README.md lists them, with where
// each is known from): an absolute session Location on iLO and a relative one
// elsewhere; MessageIds matched by registry and key, never by version; Base.x.Success
// inside an error object on a successful PATCH; weak ETags; device-chosen backup file
// names that are never trusted as paths; restore uploads streamed as
// multipart/form-data with the session key as a form field and a cookie; and the
// reset after a restore that ends every session.
package redfish
