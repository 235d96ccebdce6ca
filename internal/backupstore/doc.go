// Package backupstore keeps device backups on the local file system.
//
// Layout, below the store's root folder:
//
//	<root>/<family>/<device>/<stamp>-<kind>.<ext>   one file per backed-up artefact
//	<root>/<family>/<device>/<stamp>.json           the run's sidecar, written last
//
// family is "aruba" or "ilo"; stamp is the run's id, a UTC time with millisecond
// precision that sorts lexically (20261125T101500.123Z). A run becomes visible to
// readers only when its sidecar exists, so a run that crashed half-way is ignored.
// There is no shared index: runs for different devices touch disjoint folders, and
// runs for one device reserve distinct stamps by creating "<stamp>.lock" exclusively.
//
// Every file is written atomically: streamed into a temporary file in the target
// folder while its SHA-256 and size are computed, synced, renamed into place, and the
// folder synced. Nothing partial or temporary is left behind on error.
//
// The package has no Terraform types so that it can be tested and reused on its own.
// Sidecars never hold secrets: callers must not put passwords in attributes or remote
// locations (Commit and AddFile refuse the obvious cases).
package backupstore
