package ilo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// acceptRestore records a restore, drops every session and starts the reset window.
func (d *ILO) acceptRestore(rec Restore) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.Now()
	if !rec.Action {
		rec.MatchedBackup = d.matchServedLocked(rec.SHA256)
	}
	rec.At = now
	d.restores++
	d.lastRestore = &rec
	d.ExpireAllSessions()
	d.resetUntil = now.Add(d.cfg.ResetDuration)
}

// handleRestoreUpload serves POST HttpPushUri: multipart/form-data with the fields
// sessionKey, optional password, then file (in that order: fields after the file are
// ignored). The request needs a valid session in X-Auth-Token or Cookie sessionKey
// (checked before the body is read) and a valid sessionKey field. The file part is
// streamed, hashed and checked byte by byte, never held in memory. Errors are
// answered once the whole upload was received, as the real CGI does.
func (d *ILO) handleRestoreUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		d.Stats.Call(r.Method + " /cgi-bin/uploadRestoreFile")
		w.Header().Set("Allow", "POST")
		writeText(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	d.Stats.Call(EndpointRestoreUpload)
	if d.requireSession(w, r, true) == nil {
		return
	}
	fail := func(status int, body string) {
		_, _ = io.Copy(io.Discard, r.Body)
		if status == http.StatusUnauthorized {
			writeNoValidSession(w)
			return
		}
		writeText(w, status, body)
	}
	boundary, ok := multipartBoundary(r)
	if !ok {
		fail(http.StatusBadRequest, BodyInvalidRestoreRequest)
		return
	}
	key, password, file, err := readForm(r.Body, boundary, "file")
	if err != nil || file == nil {
		fail(http.StatusBadRequest, BodyInvalidRestoreRequest)
		return
	}
	d.restoreFile(w, r, file, key, password, fail)
}

func (d *ILO) restoreFile(w http.ResponseWriter, r *http.Request, file io.Reader, key, password string, fail func(int, string)) {
	if d.authenticate(key) == nil {
		fail(http.StatusUnauthorized, "")
		return
	}
	if utf8.RuneCountInString(password) > MaxBackupPasswordLen {
		fail(http.StatusBadRequest, BodyInvalidRestorePassword)
		return
	}
	info, sha, n, err := verifyImage(file, password, sha256.New())
	if err != nil {
		switch {
		case errors.Is(err, ErrWrongPassword):
			fail(http.StatusBadRequest, BodyInvalidRestorePassword)
		case errors.Is(err, ErrNotImage), errors.Is(err, ErrCorruptImage):
			w.Header().Set("X-Sim-Reason", err.Error())
			fail(http.StatusBadRequest, BodyInvalidRestoreFile)
		default:
			fail(http.StatusBadRequest, BodyInvalidRestoreRequest)
		}
		return
	}
	_, _ = io.Copy(io.Discard, r.Body) // any fields after the file are ignored
	d.acceptRestore(Restore{
		SHA256: sha, Size: n, Serial: info.Serial, PasswordProtected: info.PasswordProtected,
	})
	w.Header().Set("Connection", "close")
	writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
}

// restoreFromNAND serves the HpeiLOBackupFile.Restore action: restore the backup the
// iLO holds (no upload, no password).
func (d *ILO) restoreFromNAND(w http.ResponseWriter, r *http.Request, id string) {
	d.mu.Lock()
	var b *backupFile
	if d.backup != nil && strconv.Itoa(d.backup.member) == id && !d.cfg.BackupFilesMissing {
		c := *d.backup
		b = &c
	}
	cfg := d.cfg
	d.mu.Unlock()
	if b == nil {
		writeNotFound(w, r.URL.Path)
		return
	}
	h := newImageHeader(ImageInfo{Serial: cfg.Serial, ManagerType: cfg.Generation, Firmware: b.firmware, BackupID: b.id, Size: b.size}, "")
	sum := sha256.New()
	n, err := io.Copy(sum, newImageReader(h, ""))
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error())
		return
	}
	d.acceptRestore(Restore{
		SHA256: hex.EncodeToString(sum.Sum(nil)), Size: n, Serial: cfg.Serial,
		MatchedBackup: b.name, Action: true,
	})
	w.Header().Set("Connection", "close")
	writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
}
