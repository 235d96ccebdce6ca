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
// The folder is untrusted input: anyone who can write to it can plant a named pipe, a
// symbolic link or a forged record. Every lookup reads it under the same rules (see
// safe.go): no symbolic link inside the store is followed, only regular files are
// opened and never in a way that can block, a record is at most MaxRecordSize bytes
// (Commit refuses what lookups would refuse), and a record newer than the answer that
// cannot be used is an error naming it rather than a reason to answer with an older
// backup. Open only reads, so that plans write nothing; Begin creates the folders.
//
// The package has no Terraform types so that it can be tested and reused on its own.
// Sidecars never hold secrets: callers must not put passwords in attributes or remote
// locations (Commit and AddFile refuse the obvious cases).
package backupstore
