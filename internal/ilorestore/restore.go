// Package ilorestore restores an HPE iLO from a backup, a local file or a backup in
// the backup store (a local folder or an S3 bucket): it checks the backup (against
// the store's record when there is one, and the server it was taken from against the
// target's), streams the upload while verifying every byte, and waits for the iLO to
// come back from the reset that applies it. It knows nothing about Terraform.
package ilorestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

// DefaultPoll is the first interval between readiness probes after an accepted
// restore; the probes back off up to redfish.MaxWaitReadyInterval.
const DefaultPoll = time.Second

// Where the serial number of a backup came from.
const (
	SerialFromRecord   = "backup record"
	SerialFromFileName = "file name"
)

// hpeBackupNameRE matches the name iLO gives a backup: HPE_<serial>_<YYYYMMDD>_<HHMM>.bak.
var hpeBackupNameRE = regexp.MustCompile(`^HPE_([A-Za-z0-9][A-Za-z0-9-]{0,63})_(\d{8})_(\d{4})\.bak$`)

// SerialFromHPEFileName returns the serial number in an iLO backup file name
// (HPE_<serial>_<YYYYMMDD>_<HHMM>.bak, the name iLO gives a backup and its web
// interface downloads), or "" when name is not such a name.
func SerialFromHPEFileName(name string) string {
	m := hpeBackupNameRE.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	if _, err := time.Parse("20060102 1504", m[2]+" "+m[3]); err != nil {
		return ""
	}
	return m[1]
}

// Request is one restore of an iLO from a backup: exactly one of File, BackupID and
// BackupKey names it.
type Request struct {
	ILO *redfish.Client
	// Store, when set, is asked whether it records File: a recorded file must still
	// have its recorded SHA-256, and the record gives the backup's serial number.
	// BackupID and BackupKey name a backup in it.
	Store *backupstore.Store
	// File is the local path of the backup.
	File string
	// BackupID is a backup in Store by the id infrabackup_ilo_backup exports:
	// "<name>/<backup id>".
	BackupID string
	// BackupKey is the backup file in Store by its key (<family>/<name>/<id>-<kind>.<ext>).
	BackupKey string
	// BackupPassword opens a password-protected backup (≤ 32 characters). It is never
	// stored or logged.
	BackupPassword string
	// AllowDifferentServer lets a backup of another server (or of an unknown one) be
	// restored. HPE supports restoring a backup only onto the server it was taken from.
	AllowDifferentServer bool
	// Poll is the first interval between readiness probes after the upload
	// (DefaultPoll when 0).
	Poll time.Duration
	Now  func() time.Time
}

// CheckedFile is what the checks learnt about a backup file.
type CheckedFile struct {
	// Path is a local file's absolute path; empty for a backup read from the
	// store (Stored), which may be in a bucket.
	Path string
	// Location names the file for people: its path, or its place in the store.
	Location string
	// Stored is the backup file in the store when the backup was named by its id
	// or key: it is streamed from the store, verified against its record.
	Stored *backupstore.File
	Size   int64
	SHA256 string // lower-case hex; what is uploaded is checked against it
	// Recorded is true when the local store records the file (its SHA-256 matched).
	Recorded bool
	// BackupID is "<device>/<run id>" of the store's record, when Recorded.
	BackupID string
	// Serial is the serial number of the server the backup was taken from ("" when
	// unknown); SerialSource says where it came from (SerialFromRecord,
	// SerialFromFileName).
	Serial       string
	SerialSource string
	// Protected is the record's word on a backup password (nil when unknown).
	Protected *bool
	// UploadName is the file name sent with the upload.
	UploadName string
}

// Result is what a restore did. After an AcceptedNotReadyError the result is still
// filled in: the iLO accepted the restore; after an OutcomeUnknownError, it is filled
// in but for AcceptedAt, and SentAt says when the unanswered upload was sent.
type Result struct {
	File CheckedFile
	// Manager is the target iLO as discovered before the upload.
	Manager redfish.Manager
	// AcceptedAt is when the iLO accepted the upload (and began to reset); zero when
	// it did not.
	AcceptedAt time.Time
	// ReadyAt is when the iLO answered and accepted a login again.
	ReadyAt time.Time
	// SentAt is when an upload whose answer was lost ended (OutcomeUnknownError);
	// zero otherwise.
	SentAt time.Time
}

// RefusedError is a restore refused before anything was uploaded: the iLO's
// configuration is untouched.
type RefusedError struct {
	Device string
	Reason string
	Hint   string
	Err    error
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	if e.Device != "" {
		b.WriteString(e.Device + ": ")
	}
	b.WriteString("restore refused, nothing was uploaded: " + e.Reason)
	if e.Hint != "" {
		b.WriteString(". " + e.Hint)
	}
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// AcceptedNotReadyError says that the iLO accepted a restore (it is applying it) but
// was not seen ready again: it did not answer and accept a login again in time, or
// it refused the credentials afterwards. Err is WaitReady's error; it wraps the
// context's error on a timeout.
type AcceptedNotReadyError struct {
	Device     string
	AcceptedAt time.Time
	Err        error
}

func (e *AcceptedNotReadyError) Error() string {
	return fmt.Sprintf("%s: the iLO ACCEPTED the restore at %s and reset to apply it, but it could not be confirmed to be back: %v",
		e.Device, e.AcceptedAt.UTC().Format(time.RFC3339), e.Err)
}

func (e *AcceptedNotReadyError) Unwrap() error { return e.Err }

// OutcomeUnknownError says that the whole backup was uploaded but the iLO's answer
// was lost: the iLO may have accepted it and be restoring. Restoring again before
// someone has checked could restore twice. Err is the upload's error; it wraps
// redfish.ErrRestoreOutcomeUnknown.
type OutcomeUnknownError struct {
	Device string
	SentAt time.Time
	Err    error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%s: outcome unknown: the whole backup was uploaded at %s, but the iLO's answer was lost, so the iLO may be restoring from it: %v",
		e.Device, e.SentAt.UTC().Format(time.RFC3339), e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// CheckFile checks a backup file before a restore, without contacting any
// device: it exists, is a non-empty regular file and can be read; when store records
// it, its SHA-256 is still the recorded one (a file changed after the backup is
// refused), and a file laid out like a store file but recorded by no complete backup
// is refused too. The serial number comes from the record, else from an HPE file
// name. Errors are *RefusedError.
func CheckFile(store *backupstore.Store, file string) (CheckedFile, error) {
	refuse := func(reason, hint string, err error) (CheckedFile, error) {
		return CheckedFile{}, &RefusedError{Reason: reason, Hint: hint, Err: err}
	}
	if strings.TrimSpace(file) == "" {
		return refuse("backup_file is empty", "set it to the local path of an iLO backup, typically infrabackup_ilo_backup.<name>.local_path", nil)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return refuse(fmt.Sprintf("backup file %q: %v", file, err), "", err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return refuse(fmt.Sprintf("backup file %s does not exist", abs),
			"check backup_file: it is typically infrabackup_ilo_backup.<name>.local_path or the local_path of the infrabackup_ilo_backup data source", err)
	case err != nil:
		return refuse(fmt.Sprintf("backup file %s cannot be read: %v", abs, err), "check the file's permissions for the user running Terraform", err)
	case fi.IsDir():
		return refuse(fmt.Sprintf("backup file %s is a folder", abs), "give the path of the backup file itself", nil)
	case !fi.Mode().IsRegular():
		return refuse(fmt.Sprintf("backup file %s is not a regular file (%s)", abs, fi.Mode().Type()), "give the path of the backup file itself", nil)
	case fi.Size() == 0:
		return refuse(fmt.Sprintf("backup file %s is empty", abs), "an iLO backup is never empty: use another backup", nil)
	}
	f, err := os.Open(abs)
	if err != nil {
		return refuse(fmt.Sprintf("backup file %s cannot be read: %v", abs, err), "check the file's permissions for the user running Terraform", err)
	}
	_ = f.Close()

	out := CheckedFile{Path: abs, Location: abs, Size: fi.Size(), UploadName: filepath.Base(abs)}
	if store != nil {
		b, bf, ferr := store.FindByPath(abs)
		switch {
		case ferr == nil:
			if b.Family != backupstore.FamilyILO || bf.Kind != backupjob.KindILOBackup {
				return refuse(fmt.Sprintf("%s is the %s file of a %s backup (%s/%s), not an iLO backup", abs, bf.Kind, b.Family, b.Device, b.ID),
					"use the local_path of an infrabackup_ilo_backup", nil)
			}
			// VerifyFile re-hashes the whole file, streaming: a file altered (or
			// corrupted) after the backup is refused here.
			if verr := backupstore.VerifyFile(abs, bf.SHA256); verr != nil {
				return refuse(verr.Error(), "", verr)
			}
			out.fromRecord(b, bf)
		case errors.Is(ferr, backupstore.ErrNoBackup):
			if inStoreLayout(store.Root(), abs) {
				return refuse(fmt.Sprintf("%s is in the backup store, but no complete backup records it (%v)", abs, ferr),
					"it is left over from a failed backup, or the file or its record was changed after the backup: use the local_path of a completed infrabackup_ilo_backup", ferr)
			}
		default:
			return refuse(ferr.Error(), "", ferr)
		}
	}
	if !out.Recorded {
		sum, n, herr := hashFile(abs)
		if herr != nil {
			return refuse(fmt.Sprintf("backup file %s cannot be read: %v", abs, herr), "check the file's permissions for the user running Terraform", herr)
		}
		out.SHA256, out.Size = sum, n
		if s := SerialFromHPEFileName(filepath.Base(abs)); s != "" {
			out.Serial, out.SerialSource = s, SerialFromFileName
		}
	}
	return out, nil
}

// fromRecord fills in what the store's record of backup b says about its file bf.
func (out *CheckedFile) fromRecord(b backupstore.Backup, bf backupstore.File) {
	out.Recorded = true
	out.BackupID = b.Device + "/" + b.ID
	out.SHA256 = strings.ToLower(bf.SHA256)
	out.Size = bf.Size
	if s := strings.TrimSpace(b.Attributes[backupjob.AttrSerial]); s != "" {
		out.Serial, out.SerialSource = s, SerialFromRecord
	} else if s := SerialFromHPEFileName(b.Attributes[backupjob.AttrDeviceFileName]); s != "" {
		out.Serial, out.SerialSource = s, SerialFromRecord
	}
	if p, err := strconv.ParseBool(b.Attributes[backupjob.AttrProtected]); err == nil {
		out.Protected = &p
	}
	// Send the name the iLO gave the backup, as its web interface would.
	if n := b.Attributes[backupjob.AttrDeviceFileName]; SerialFromHPEFileName(n) != "" {
		out.UploadName = n
	}
}

// ParseBackupID splits the id of an iLO backup as infrabackup_ilo_backup exports it,
// <name>/<backup id>, checking both parts as the store does. It reads no store, so
// that a plan can check it; the error says what the id should look like.
func ParseBackupID(id string) (name, run string, err error) {
	const form = "a backup id looks like <name>/<backup id>, e.g. CZ1234567X/20261125T101500.123Z (the id of an infrabackup_ilo_backup)"
	name, run, ok := strings.Cut(id, "/")
	if !ok {
		return "", "", fmt.Errorf("%.80q is not a backup id: it has no '/'; %s", id, form)
	}
	if err := backupstore.ValidName(name); err != nil {
		return "", "", fmt.Errorf("%.80q is not a backup id: device %v; %s", id, err, form)
	}
	if backupstore.ValidID(run) != nil {
		return "", "", fmt.Errorf("%.80q is not a backup id: %.40q after the '/' is not the UTC time a backup started, like 20261125T101500.123Z; %s", id, run, form)
	}
	return name, run, nil
}

// CheckBackupKey checks that key can be the key of an iLO backup file in the store,
// as infrabackup_ilo_backup records it in files. It reads no store, so that a plan
// can check it; the error says what the key should look like.
func CheckBackupKey(key string) error {
	example := backupstore.FileKey{Family: backupstore.FamilyILO, Device: "CZ1234567X", ID: "20261125T101500.123Z", Name: iloBackupFileName}
	form := fmt.Sprintf("the key of an iLO backup file looks like %s/<name>/<backup id>-%s, e.g. %s (the key of the %s file in files of an infrabackup_ilo_backup)",
		backupstore.FamilyILO, iloBackupFileName, example, backupjob.KindILOBackup)
	k, err := backupstore.ParseFileKey(key)
	if err != nil {
		return fmt.Errorf("%.80q is not the key of a backup file: %v; %s", key, err, form)
	}
	if k.Family != backupstore.FamilyILO || k.Name != iloBackupFileName {
		return fmt.Errorf("%.80q is not the key of an iLO backup file; %s", key, form)
	}
	return nil
}

// iloBackupFileName is how the name of an iLO backup file in the store ends, after
// its backup id and '-'.
const iloBackupFileName = backupjob.KindILOBackup + "." + backupjob.ILOBackupExt

// CheckStored finds the backup to restore in store, by the id infrabackup_ilo_backup
// exports ("<name>/<backup id>") or by its file's key (one of them is set), without
// contacting any device: a complete iLO backup must record it. Its bytes are checked
// against the record while they are uploaded (backupstore.OpenFile): a file changed
// after the backup never completes the upload. Errors are *RefusedError.
func CheckStored(ctx context.Context, store *backupstore.Store, id, key string) (CheckedFile, error) {
	refuse := func(reason, hint string, err error) (CheckedFile, error) {
		return CheckedFile{}, &RefusedError{Reason: reason, Hint: hint, Err: err}
	}
	named := "backup_key " + strconv.Quote(key)
	if id != "" {
		named = "backup_id " + strconv.Quote(id)
	}
	if store == nil {
		return refuse(named+" names a backup in the backup store, and the provider has none",
			"configure backup_dir or s3 in the provider, as for the backup", nil)
	}
	const hint = "use the id, or the key in files, of a completed infrabackup_ilo_backup (resource or data source), " +
		"with the provider configured with the same backup store"
	var b backupstore.Backup
	var bf backupstore.File
	var err error
	if id != "" {
		name, run, perr := ParseBackupID(id)
		if perr != nil {
			return refuse("backup_id "+perr.Error(), hint, nil)
		}
		b, err = store.Get(ctx, backupstore.FamilyILO, name, run)
		if err == nil {
			var ok bool
			if bf, ok = b.File(backupjob.KindILOBackup); !ok {
				err = fmt.Errorf("%w: backup %s records no %s file", backupstore.ErrNoBackup, id, backupjob.KindILOBackup)
			}
		}
	} else {
		if err := CheckBackupKey(key); err != nil {
			return refuse("backup_key "+err.Error(), hint, nil)
		}
		b, bf, err = store.FindByKey(ctx, key)
		if err == nil && (b.Family != backupstore.FamilyILO || bf.Kind != backupjob.KindILOBackup) {
			return refuse(fmt.Sprintf("%s is the %s file of a %s backup (%s/%s), not an iLO backup", key, bf.Kind, b.Family, b.Device, b.ID),
				"use the key of the ilo-backup file of an infrabackup_ilo_backup", nil)
		}
	}
	switch {
	case errors.Is(err, backupstore.ErrNoBackup):
		return refuse(fmt.Sprintf("%s: the backup store %s holds no such complete iLO backup (%v)", named, store.Location(), err), hint, err)
	case err != nil:
		return refuse(fmt.Sprintf("%s: the backup store %s could not be read: %v", named, store.Location(), err),
			"check the backup store's settings and that it answers, then retry", err)
	}
	if bf.Size == 0 {
		return refuse(fmt.Sprintf("backup %s/%s records an empty backup file", b.Device, b.ID), "an iLO backup is never empty: use another backup", nil)
	}
	out := CheckedFile{Path: bf.Path, Location: bf.StoreLocation, Stored: &bf, UploadName: path.Base(bf.Key)}
	out.fromRecord(b, bf)
	return out, nil
}

// inStoreLayout reports whether abs (or its real path) is <root>/<family>/<device>/<file>.
func inStoreLayout(root, abs string) bool {
	check := func(root, p string) bool {
		rel, err := filepath.Rel(root, p)
		if err != nil || !filepath.IsLocal(rel) {
			return false
		}
		parts := strings.Split(rel, string(filepath.Separator))
		return len(parts) == 3 && backupstore.IsFamily(parts[0])
	}
	if check(root, abs) {
		return true
	}
	realRoot, err1 := filepath.EvalSymlinks(root)
	realPath, err2 := filepath.EvalSymlinks(abs)
	return err1 == nil && err2 == nil && check(realRoot, realPath)
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = f.Close() }() // only read: closing cannot lose anything
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// sameSerial compares serial numbers as HPE prints them (case and surrounding spaces
// do not matter).
func sameSerial(a, b string) bool {
	return strings.TrimSpace(a) != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// Run restores an iLO from a backup, a local file or one in the backup store:
//
//  1. checks that contact no device (CheckFile, CheckStored), and a backup whose
//     serial number is unknown is refused unless AllowDifferentServer;
//  2. log in and discover the iLO; a backup of another server is refused unless
//     AllowDifferentServer;
//  3. read the backup service for HttpPushUri;
//  4. upload the file, streamed from disk or from the store (an S3 bucket too):
//     every byte is hashed on the way, and the last chunk is withheld (the upload
//     fails, the iLO never sees a complete form) when the file no longer has the
//     checked (or recorded) SHA-256;
//  5. the iLO resets and ends every session (nothing is logged out); wait, with
//     backoff, until it answers and accepts a login again, within ctx.
//
// Every refusal happens before the upload, and the session is always closed. After
// an accepted upload any failure is a *AcceptedNotReadyError, and the result is filled in.
// An upload sent whole whose answer was lost is an *OutcomeUnknownError (the result
// is filled in, and nothing is waited for: whether the iLO resets is not known).
func Run(ctx context.Context, req Request) (Result, error) {
	now := req.Now
	if now == nil {
		now = time.Now
	}
	poll := req.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	rc := req.ILO
	device := rc.Device()
	var res Result
	if err := redfish.ValidateBackupPassword(req.BackupPassword); err != nil {
		return res, &RefusedError{Device: device, Reason: err.Error(), Err: err}
	}
	var file CheckedFile
	var err error
	switch n := countSet(req.File, req.BackupID, req.BackupKey); {
	case n == 0:
		return res, &RefusedError{Device: device, Reason: "no backup was named: the backup file, backup id and backup key are all empty",
			Hint: "a backup's local_path is null when the backup store is an S3 bucket: name the backup by its id (backup_id) instead"}
	case n > 1:
		return res, &RefusedError{Device: device, Reason: fmt.Sprintf("%d backups were named; a restore restores exactly one", n)}
	case req.File != "":
		file, err = CheckFile(req.Store, req.File)
	default:
		file, err = CheckStored(ctx, req.Store, req.BackupID, req.BackupKey)
	}
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			re.Device = device
		}
		return res, err
	}
	res.File = file
	if file.Serial == "" && !req.AllowDifferentServer {
		return res, &RefusedError{Device: device,
			Reason: fmt.Sprintf("the serial number of the server %s was taken from is unknown: the backup store does not record it, "+
				"and its name is not the iLO's own HPE_<serial>_<YYYYMMDD>_<HHMM>.bak", file.Location),
			Hint: "HPE supports restoring a backup only onto the server it was taken from, so this cannot be checked: restore the local_path " +
				"of an infrabackup_ilo_backup, or, if you know the backup belongs to this server, set allow_different_server = true"}
	}
	if file.Protected != nil && *file.Protected && req.BackupPassword == "" {
		return res, &RefusedError{Device: device,
			Reason: fmt.Sprintf("backup %s was taken with a backup password, and none is given", file.BackupID),
			Hint:   "set backup_password_wo to the password the backup was taken with (a protected backup restores only with that password)"}
	}

	accepted := false
	err = client.With(ctx, rc.Session(), func(ctx context.Context) error {
		mgr, err := rc.Discover(ctx)
		if err != nil {
			return err
		}
		res.Manager = mgr
		if !sameSerial(file.Serial, mgr.Serial) {
			if !req.AllowDifferentServer {
				return serialMismatch(device, file, mgr)
			}
			tflog.SubsystemWarn(ctx, client.Subsystem, "ilo: restoring a backup of another server (allow_different_server = true)", map[string]any{
				"device": device, "backup_serial": file.Serial, "target_serial": mgr.Serial,
			})
		}
		// Each read of the backup service makes the iLO write a fresh backup file to
		// its NAND. Before a restore that is acceptable (it even keeps the outgoing
		// configuration on the iLO); HttpPushUri is only found there.
		svc, err := rc.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		if strings.TrimSpace(svc.HttpPushUri) == "" {
			return &client.DeviceError{Device: device, Step: "read backup service",
				Message: "the backup service offers no HttpPushUri, so this iLO cannot accept a restore upload over Redfish",
				Hint:    "nothing was uploaded; check the iLO generation and firmware (iLO 5, 6 or 7 with a current firmware), or restore through the iLO web interface"}
		}
		open := func() (io.ReadCloser, error) {
			if file.Stored != nil {
				// Verified against the record while it streams: a byte that differs
				// withholds the file's end, and the upload never completes.
				return req.Store.OpenFile(ctx, *file.Stored)
			}
			return openVerified(file)
		}
		if err := rc.Restore(ctx, svc.HttpPushUri, open, file.Size, file.UploadName, req.BackupPassword); err != nil {
			if errors.Is(err, redfish.ErrRestoreOutcomeUnknown) {
				res.SentAt = now().UTC()
			}
			return err
		}
		accepted = true
		res.AcceptedAt = now().UTC()
		return nil
	})
	if err != nil {
		switch {
		case accepted:
			// Only closing the session can fail after an accepted upload; the iLO ended it.
			tflog.SubsystemWarn(ctx, client.Subsystem, "ilo: closing the session after the restore failed", map[string]any{"device": device, "error": client.Redact(err.Error())})
		case errors.Is(err, redfish.ErrRestoreOutcomeUnknown):
			return res, &OutcomeUnknownError{Device: device, SentAt: res.SentAt, Err: err}
		default:
			return res, err
		}
	}
	if err := rc.WaitReady(ctx, poll); err != nil {
		return res, &AcceptedNotReadyError{Device: device, AcceptedAt: res.AcceptedAt, Err: err}
	}
	res.ReadyAt = now().UTC()
	return res, nil
}

func serialMismatch(device string, file CheckedFile, mgr redfish.Manager) error {
	target := strings.TrimSpace(mgr.Serial)
	reason := fmt.Sprintf("the backup was taken from the server with serial number %s (from its %s), but this iLO's server has serial number %s",
		file.Serial, file.SerialSource, target)
	hint := "HPE supports restoring a backup only onto the server it was taken from, and it is not meant to copy a configuration to another iLO: " +
		"check host and backup_file. After a system board replacement the serial number can differ (or be missing) although it is the same server: " +
		"then set allow_different_server = true"
	if target == "" {
		reason = fmt.Sprintf("the backup was taken from the server with serial number %s (from its %s), but this iLO reports no serial number",
			file.Serial, file.SerialSource)
		hint = "an iLO reports no serial number after a system board replacement until it is set again: if this is the server the backup " +
			"was taken from, set allow_different_server = true, or set the serial number first (System Utilities) and retry"
	}
	return &RefusedError{Device: device, Reason: reason, Hint: hint}
}

// openVerified opens the backup for upload. The reader hashes every byte and, when
// the last expected byte arrives, withholds the final chunk and fails if the file no
// longer has the checked SHA-256 (or size): the form is then never completed and the
// iLO restores nothing. Bytes past the checked size are never sent.
func openVerified(file CheckedFile) (io.ReadCloser, error) {
	f, err := os.Open(file.Path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if fi.Size() != file.Size {
		_ = f.Close()
		return nil, fmt.Errorf("backup file %s changed after it was checked: it now has %d bytes, %d were checked", file.Path, fi.Size(), file.Size)
	}
	return &verifyingReader{f: f, path: file.Path, size: file.Size, want: file.SHA256, h: sha256.New()}, nil
}

type verifyingReader struct {
	f    *os.File
	path string
	size int64
	want string
	h    hash.Hash
	n    int64
	err  error
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.n >= r.size {
		return 0, io.EOF // never send more than was checked
	}
	if rest := r.size - r.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.f.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		if r.n == r.size {
			if got := hex.EncodeToString(r.h.Sum(nil)); got != r.want {
				r.err = fmt.Errorf("backup file %s changed while it was uploaded (SHA-256 %s, %s was checked): the upload was stopped before its end, so the iLO restores nothing", r.path, got, r.want)
				return 0, r.err
			}
			return n, nil
		}
	}
	if errors.Is(err, io.EOF) && r.n < r.size {
		r.err = fmt.Errorf("backup file %s changed while it was uploaded: it ended after %d bytes, %d were checked; the upload was stopped before its end", r.path, r.n, r.size)
		return n, r.err
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.f.Close() }
