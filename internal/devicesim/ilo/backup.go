package ilo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// BackupName is the name an iLO gives a backup made at t: HPE_<serial>_<YYYYMMDD>_<HHMM>.bak (UTC).
func BackupName(serial string, t time.Time) string {
	return fmt.Sprintf("HPE_%s_%s.bak", serial, t.UTC().Format("20060102_1504"))
}

// mintBackupLocked creates a new backup in the iLO's NAND. BackupFilesAllowed is 1:
// it replaces the previous one (whose name then answers 404).
func (d *ILO) mintBackupLocked(now time.Time) *backupFile {
	var id [8]byte
	_, _ = rand.Read(id[:])
	d.memberSeq++
	d.backup = &backupFile{
		member:   d.memberSeq,
		name:     BackupName(d.cfg.Serial, now),
		id:       binary.BigEndian.Uint64(id[:]),
		size:     d.cfg.BackupSize,
		created:  now,
		firmware: d.cfg.Firmware,
	}
	return d.backup
}

func (d *ILO) handleService(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		d.Stats.Call(EndpointServiceGet)
		if d.requireSession(w, r, false) == nil {
			return
		}
		d.getService(w, r)
	case http.MethodPatch:
		d.Stats.Call(EndpointServicePatch)
		if d.requireSession(w, r, false) == nil {
			return
		}
		d.patchService(w, r)
	default:
		d.Stats.Call(r.Method + " /redfish/v1/Managers/1/BackupRestoreService")
		writeMethodNotAllowed(w, "GET, PATCH")
	}
}

// serviceBodyLocked renders the BackupRestoreService as it is now, without minting
// a backup (the resource directory renders it too).
func (d *ILO) serviceBodyLocked() map[string]any {
	body := map[string]any{
		"@odata.context": "/redfish/v1/$metadata#HpeiLOBackupRestoreService.HpeiLOBackupRestoreService",
		"@odata.etag":    d.etag,
		"@odata.id":      d.odata(pathService),
		"@odata.type":    d.odataType("HpeiLOBackupRestoreService"),
		"Id":             "BackupRestoreService",
		"Name":           "Backup Restore Service",
		"Description":    "iLO Backup and Restore Service",
		"BackupFiles":    d.link(pathBackupFiles),
		"HttpPushUri":    HTTPPushURI,
	}
	if d.backup != nil {
		body["BackupFileLocation"] = pathBackupData + d.backup.name
	}
	if d.cfg.BackupLocation != "" {
		body["BackupFileLocation"] = d.cfg.BackupLocation
	}
	if !d.cfg.OldFirmware {
		body["CustomBackupandRestore"] = d.custom
	}
	return body
}

// getService answers GET of the BackupRestoreService. Like the real iLO, every GET
// (whatever its $select) triggers a new backup file.
func (d *ILO) getService(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.mintBackupLocked(d.Now())
	body := d.serviceBodyLocked()
	d.mu.Unlock()
	if sel := r.URL.Query().Get("$select"); sel != "" {
		want := map[string]bool{}
		for _, f := range strings.Split(sel, ",") {
			want[strings.ToLower(strings.TrimSpace(f))] = true
		}
		for k := range body {
			if !strings.HasPrefix(k, "@odata.") && !want[strings.ToLower(k)] {
				delete(body, k)
			}
		}
	}
	writeResource(w, body)
}

// etagMatches evaluates an If-Match header against the current weak ETag. The
// comparison ignores the W/ prefix (Redfish clients send back the weak form).
func etagMatches(header, etag string) bool {
	cur := strings.TrimPrefix(etag, "W/")
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == cur {
			return true
		}
	}
	return false
}

func (d *ILO) patchService(w http.ResponseWriter, r *http.Request) {
	ifMatch := r.Header.Get("If-Match")
	if ifMatch != "" && !etagMatches(ifMatch, d.ETag()) {
		writeExtendedInfo(w, http.StatusPreconditionFailed, msg(MsgPreconditionFailed))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeExtendedInfo(w, http.StatusBadRequest, msg(MsgMalformedJSON))
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		writeExtendedInfo(w, http.StatusBadRequest, msg(MsgMalformedJSON))
		return
	}
	if len(fields) == 0 {
		writeExtendedInfo(w, http.StatusBadRequest, msg(MsgEmptyJSON))
		return
	}
	cfg := d.config()
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []extendedInfo
	var value bool
	for _, k := range names {
		v := strings.TrimSpace(string(fields[k]))
		switch {
		case k != "CustomBackupandRestore" || cfg.OldFirmware:
			errs = append(errs, msg(MsgPropertyNotWritableOrUnknown, k))
		case v != "true" && v != "false":
			errs = append(errs, msg(MsgPropertyValueTypeError, v, k))
		case cfg.FIPS:
			errs = append(errs, msg(MsgUnsupportedSecurityState))
		default:
			value = v == "true"
		}
	}
	if len(errs) > 0 {
		writeExtendedInfo(w, http.StatusBadRequest, errs...)
		return
	}
	d.mu.Lock()
	if ifMatch != "" && !etagMatches(ifMatch, d.etag) { // changed meanwhile
		d.mu.Unlock()
		writeExtendedInfo(w, http.StatusPreconditionFailed, msg(MsgPreconditionFailed))
		return
	}
	d.custom = value
	d.etagSeq++
	d.etag = d.computeETagLocked()
	etag := d.etag
	d.mu.Unlock()
	w.Header().Set("ETag", etag)
	writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
}

func (d *ILO) backupFileBody(b *backupFile) map[string]any {
	self := memberPath(pathBackupFiles, b.member)
	return map[string]any{
		"@odata.context":  "/redfish/v1/$metadata#HpeiLOBackupFile.HpeiLOBackupFile",
		"@odata.id":       d.odata(self),
		"@odata.type":     d.odataType("HpeiLOBackupFile"),
		"Id":              strconv.Itoa(b.member),
		"Name":            b.name,
		"Created":         b.created.UTC().Format(time.RFC3339),
		"FileSize":        b.size,
		"FirmwareVersion": d.firmwareString(b.firmware),
		"Actions": map[string]any{"#HpeiLOBackupFile.Restore": map[string]string{
			"target": self + "Actions/HpeiLOBackupFile.Restore/",
		}},
	}
}

// backupFilesBodyLocked renders the BackupFiles collection: the one backup the iLO
// holds, if any (BackupFilesAllowed 1).
func (d *ILO) backupFilesBodyLocked() map[string]any {
	members := []map[string]string{}
	if d.backup != nil {
		members = append(members, d.link(memberPath(pathBackupFiles, d.backup.member)))
	}
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#HpeiLOBackupFileCollection.HpeiLOBackupFileCollection",
		"@odata.id":           d.odata(pathBackupFiles),
		"@odata.type":         collectionType("HpeiLOBackupFile"),
		"Name":                "Backup File Collection",
		"Description":         "Backup File Collection",
		"Members":             members,
		"Members@odata.count": len(members),
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.context":     "/redfish/v1/$metadata#HpeiLOBackupFilesInformation.HpeiLOBackupFilesInformation",
			"@odata.type":        "#HpeiLOBackupFilesInformation.v1_0_0.HpeiLOBackupFilesInformation",
			"BackupFileCount":    len(members),
			"BackupFilesAllowed": 1,
		}},
	}
}

func (d *ILO) handleBackupFiles(w http.ResponseWriter, r *http.Request) {
	d.Stats.Call(r.Method + " /redfish/v1/Managers/1/BackupRestoreService/BackupFiles")
	if r.Method != http.MethodGet {
		writeMethodNotAllowed(w, "GET")
		return
	}
	if d.requireSession(w, r, false) == nil {
		return
	}
	if d.config().BackupFilesMissing {
		writeNotFound(w, r.URL.Path)
		return
	}
	d.mu.Lock()
	body := d.backupFilesBodyLocked()
	d.mu.Unlock()
	writeResource(w, body)
}

// handleBackupFile serves a BackupFiles member ("<id>") and its Restore action
// ("<id>/Actions/HpeiLOBackupFile.Restore").
func (d *ILO) handleBackupFile(w http.ResponseWriter, r *http.Request, rest string) {
	id, action, _ := strings.Cut(rest, "/")
	if action != "" {
		if !strings.EqualFold(action, "Actions/HpeiLOBackupFile.Restore") {
			d.Stats.Call(r.Method + " (unknown)")
			if d.requireSession(w, r, false) == nil {
				return
			}
			writeNotFound(w, r.URL.Path)
			return
		}
		d.Stats.Call(r.Method + " /redfish/v1/Managers/1/BackupRestoreService/BackupFiles/{id}/Actions/HpeiLOBackupFile.Restore")
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, "POST")
			return
		}
		if d.requireSession(w, r, false) == nil {
			return
		}
		d.restoreFromNAND(w, r, id)
		return
	}
	d.Stats.Call(r.Method + " /redfish/v1/Managers/1/BackupRestoreService/BackupFiles/{id}")
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		writeMethodNotAllowed(w, "GET, DELETE, POST")
		return
	}
	if d.requireSession(w, r, false) == nil {
		return
	}
	d.mu.Lock()
	b := d.backup
	if b == nil || strconv.Itoa(b.member) != id || d.cfg.BackupFilesMissing {
		d.mu.Unlock()
		writeNotFound(w, r.URL.Path)
		return
	}
	if r.Method == http.MethodDelete {
		d.backup = nil
		d.mu.Unlock()
		writeExtendedInfo(w, http.StatusOK, msg(MsgSuccess))
		return
	}
	body := d.backupFileBody(b)
	d.mu.Unlock()
	writeResource(w, body)
}

// lookupBackup returns the current backup if name (case-insensitive) is its name.
func (d *ILO) lookupBackup(name string) (*backupFile, Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.backup == nil || !strings.EqualFold(d.backup.name, name) {
		return nil, d.cfg
	}
	b := *d.backup
	return &b, d.cfg
}

// handleDownload serves /bkupdata/<name>: GET downloads the plain image; POST with
// multipart/form-data fields sessionKey and optional password downloads an image
// protected by that password (HPE's own client).
func (d *ILO) handleDownload(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodGet:
		d.Stats.Call(EndpointDownloadGet)
		if d.requireSession(w, r, true) == nil {
			return
		}
		b, cfg := d.lookupBackup(name)
		if b == nil || strings.Contains(name, "/") {
			writeText(w, http.StatusNotFound, "file_not_found")
			return
		}
		d.streamImage(w, b, cfg, "")
	case http.MethodPost:
		d.Stats.Call(EndpointDownloadPost)
		d.postDownload(w, r, name)
	default:
		d.Stats.Call(r.Method + " /bkupdata/{file}")
		w.Header().Set("Allow", "GET, POST")
		writeText(w, http.StatusMethodNotAllowed, "method_not_allowed")
	}
}

// readSmallPart reads a form field, at most limit bytes (the rest is discarded).
func readSmallPart(p *multipart.Part, limit int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, limit))
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, p)
	return string(b), err
}

// readForm reads the multipart/form-data fields sessionKey and password, in any order,
// until the part named stop, which it returns unread (nil when there is none: stop
// "" reads the whole body). Other parts are skipped.
func readForm(body io.Reader, boundary, stop string) (key, password string, stopped *multipart.Part, err error) {
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return key, password, nil, nil
		}
		if err != nil {
			return "", "", nil, err
		}
		switch name := part.FormName(); {
		case stop != "" && name == stop:
			return key, password, part, nil
		case name == "sessionKey":
			key, err = readSmallPart(part, 1024)
		case name == "password":
			password, err = readSmallPart(part, 4096)
		default:
			_, err = io.Copy(io.Discard, part)
		}
		if err != nil {
			return "", "", nil, err
		}
	}
}

func multipartBoundary(r *http.Request) (string, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", false
	}
	return params["boundary"], true
}

func (d *ILO) postDownload(w http.ResponseWriter, r *http.Request, name string) {
	boundary, ok := multipartBoundary(r)
	if !ok {
		writeText(w, http.StatusBadRequest, BodyInvalidBackupRequest)
		return
	}
	key, password, _, err := readForm(http.MaxBytesReader(w, r.Body, 1<<20), boundary, "")
	if err != nil {
		writeText(w, http.StatusBadRequest, BodyInvalidBackupRequest)
		return
	}
	if d.authenticate(key) == nil && d.authenticate(redfishToken(r)) == nil && d.authenticate(cookieToken(r)) == nil {
		writeNoValidSession(w)
		return
	}
	if utf8.RuneCountInString(password) > MaxBackupPasswordLen {
		writeText(w, http.StatusBadRequest, BodyInvalidBackupPassword)
		return
	}
	b, cfg := d.lookupBackup(name)
	if b == nil || strings.Contains(name, "/") {
		writeText(w, http.StatusNotFound, "file_not_found")
		return
	}
	d.streamImage(w, b, cfg, password)
}

// streamImage generates and writes an image while hashing it; a completely served
// image is recorded. cfg.ResetDownloadAfter cuts the body by a connection reset.
func (d *ILO) streamImage(w http.ResponseWriter, b *backupFile, cfg Config, password string) {
	h := newImageHeader(ImageInfo{
		Serial: cfg.Serial, ManagerType: cfg.Generation, Firmware: b.firmware,
		BackupID: b.id, Size: b.size,
	}, password)
	rd := newImageReader(h, password)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(h.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+b.name+`"`)
	w.WriteHeader(http.StatusOK)
	cut := cfg.ResetDownloadAfter
	if cut >= h.Size {
		cut = 0
	}
	sum := sha256.New()
	buf := make([]byte, 64<<10)
	var sent int64
	for {
		n, err := rd.Read(buf)
		chunk := buf[:n]
		if cut > 0 && sent+int64(n) >= cut {
			_, _ = w.Write(chunk[:cut-sent])
			devicesim.ResetConnection(w)
			return
		}
		if n > 0 {
			sum.Write(chunk)
			if sent+int64(n) == h.Size {
				// Record before the last bytes leave: a client that has read the
				// whole body must find the record (tests compare against it at once).
				d.recordServed(ServedImage{
					Name: b.name, SHA256: hex.EncodeToString(sum.Sum(nil)), Size: h.Size,
					PasswordProtected: h.PasswordProtected, At: d.Now(),
				})
			}
			if _, werr := w.Write(chunk); werr != nil {
				return // client went away
			}
			sent += int64(n)
		}
		if err != nil {
			break
		}
	}
}

func (d *ILO) recordServed(rec ServedImage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.served = append(d.served, rec)
}
