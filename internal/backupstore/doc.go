// Package backupstore keeps device backups in a local folder or an S3-compatible
// bucket: one store, on the objstore backend it is given (Open for a local folder,
// New for any objstore.Store).
//
// Layout, below the folder or the bucket's key prefix, the same on both backends:
//
//	<family>/<device>/<id>-<kind>.<ext>   one object per backed-up artefact
//	<family>/<device>/<id>.json           the run's record (sidecar), written last
//	<family>/<device>/<id>.lock           the run's reservation, while it runs
//	<family>/<device>/<id>.failed.json    a failed attempt's record (RecordFailure)
//
// family is "aruba" or "ilo"; id is the run's stamp, a UTC time with millisecond
// precision that sorts lexically (20261125T101500.123Z). There is no shared index:
// runs for different devices touch disjoint prefixes, and runs for one device
// reserve distinct ids (see Begin). Records are JSON; file entries name their
// object by key, so that a record reads the same on any backend and from a copy of
// the store elsewhere.
//
// # Guarantees, on both backends
//
//   - A backup becomes visible only when its record is written, last. A run that
//     fails or is interrupted leaves nothing visible: each file is complete or
//     absent (local: a synced temporary file linked into place; S3: one PutObject,
//     or a multipart upload that is aborted on failure), Abort deletes the files
//     the run completed, and a file that cannot be deleted (a crash, Object Lock)
//     stays invisible because no record names it.
//   - Nothing is overwritten: every object is created only if its key is free
//     (local: link(2); S3: If-None-Match: *).
//   - The SHA-256 and size of every file are computed while it streams, with
//     bounded memory whatever its size; on S3 the SHA-256 is also sent as the
//     object's checksum (per part for multipart uploads), so the server verifies
//     what it stored and a mismatch fails the backup.
//   - Lookups list a device's folder once (Latest, Get, FindByKey) or a family's
//     (LatestByHost) and read records newest first, stopping at the first usable
//     one; a newer record that cannot be used is an error naming it, never a reason
//     to present an older backup as the latest. A record is usable when it parses,
//     agrees with where it is stored, and every stored file it names is listed with
//     the recorded size. OpenFile verifies a file's SHA-256 while it is read.
//   - Retention (Prune) deletes a backup's record first, then its files, and skips,
//     whole, a backup that Object Lock protects. It also deletes the files of runs
//     that died before their record (a killed runner keeps its reservation), then
//     their reservation, once such a run is older than the device's newest backup
//     and older than any run takes (a day); files Object Lock protects stay, with
//     their run's reservation, until a prune after their date.
//   - A failure record is never taken for a backup, nor for a backup's file, by any
//     lookup or by Prune: its name ends in ".failed.json", which no stamp does. It
//     holds no secret (its text passes SafeText on write and on read). Prune keeps
//     the newest failure record of a device and those newer than its newest backup.
//   - Fleet reports every device from one listing of the store, reading per device
//     only its newest failure record and its newest usable backup record.
//
// # The local backend
//
// The folder is untrusted input: anyone who can write to it can plant a named pipe,
// a symbolic link or a forged record. objstore.Local follows no symbolic link inside
// the folder, opens only regular files and never in a way that can block, and fails
// a listing that meets anything else, naming it. A record is at most MaxRecordSize
// bytes (Commit refuses what lookups would refuse). Open only reads, so that plans
// write nothing; Begin creates the folders (mode 0700; files 0600).
//
// # The S3 backend and versioned buckets
//
// An S3 store holds the same objects under the configured key prefix. Deleting
// (Abort, Prune) sends DeleteObject without a version id: on a versioned bucket,
// which Object Lock requires, that adds a delete marker and the data stays as a
// noncurrent version, billed, until a lifecycle rule expires it. Buckets used as
// backup stores should therefore have a lifecycle rule that expires noncurrent
// versions after some days (NoncurrentVersionExpiration) and removes expired
// delete markers, plus one that aborts incomplete multipart uploads after a day or
// two (AbortIncompleteMultipartUpload), for uploads a crashed runner never
// aborted. Objects under Object Lock retention or legal hold are never deleted:
// Prune keeps such a backup whole and reports it with its retain-until date; a
// run's reservation, locked like every object, stays until Prune deletes it with
// its backup, or, for a run that never wrote its record, with the run's files
// after their date.
//
// The package has no Terraform types so that it can be tested and reused on its own.
// Records never hold secrets: callers must not put passwords in attributes or remote
// locations (Commit and AddFile refuse the obvious cases).
package backupstore
