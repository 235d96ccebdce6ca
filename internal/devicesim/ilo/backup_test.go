package ilo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestBackupTriggerMintsNameWithSerial(t *testing.T) {
	c := start(t, Config{Serial: "TWA22525A7"})
	c.login()
	before := time.Now()
	m := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/")
	after := time.Now()
	loc := m["BackupFileLocation"].(string)
	if !regexp.MustCompile(`^/bkupdata/HPE_TWA22525A7_[0-9]{8}_[0-9]{4}\.bak$`).MatchString(loc) {
		t.Fatalf("BackupFileLocation %q", loc)
	}
	if loc != "/bkupdata/"+BackupName("TWA22525A7", before) && loc != "/bkupdata/"+BackupName("TWA22525A7", after) {
		t.Fatalf("BackupFileLocation %q is not the UTC time of the GET", loc)
	}
	if m["@odata.type"] != "#HpeiLOBackupRestoreService.v2_2_0.HpeiLOBackupRestoreService" ||
		m["HttpPushUri"] != HTTPPushURI || m["CustomBackupandRestore"] != false {
		t.Fatalf("service %v", m)
	}
	if m["BackupFiles"].(map[string]any)["@odata.id"] != "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles" {
		t.Fatalf("BackupFiles link %v", m["BackupFiles"])
	}
	etag := m["@odata.etag"].(string)
	if !regexp.MustCompile(`^W/"[0-9A-F]{8}"$`).MatchString(etag) || etag != c.d.ETag() {
		t.Fatalf("@odata.etag %q, sim %q", etag, c.d.ETag())
	}
	resp, _ := c.do("GET", "/redfish/v1/Managers/1/BackupRestoreService", nil, nil)
	if resp.Header.Get("ETag") != etag {
		t.Fatalf("ETag header %q", resp.Header.Get("ETag"))
	}

	// $select trims the body but still triggers a backup.
	sel := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/?$select=BackupFileLocation")
	for k := range sel {
		if k != "BackupFileLocation" && !strings.HasPrefix(k, "@odata.") {
			t.Fatalf("$select=BackupFileLocation returned %s", k)
		}
	}
	sel = c.getJSON("/redfish/v1/managers/1/backuprestoreservice?$select=HttpPushUri")
	if sel["HttpPushUri"] != HTTPPushURI || sel["BackupFileLocation"] != nil {
		t.Fatalf("$select=HttpPushUri: %v", sel)
	}
	if got := c.d.Stats.Snapshot().Calls[EndpointServiceGet]; got != 4 {
		t.Fatalf("service GETs counted %d", got)
	}

	// BackupFiles: one member, the newest; the previous member is gone.
	coll := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/BackupFiles")
	hpe := coll["Oem"].(map[string]any)["Hpe"].(map[string]any)
	members := coll["Members"].([]any)
	if len(members) != 1 || hpe["BackupFileCount"] != 1.0 || hpe["BackupFilesAllowed"] != 1.0 {
		t.Fatalf("collection %v", coll)
	}
	memberPath := members[0].(map[string]any)["@odata.id"].(string)
	if !strings.HasSuffix(memberPath, "/BackupFiles/4") {
		t.Fatalf("member %s", memberPath)
	}
	mem := c.getJSON(memberPath)
	if mem["Name"] != c.d.CurrentBackup() || mem["FileSize"] != float64(DefaultBackupSize) ||
		mem["Actions"].(map[string]any)["#HpeiLOBackupFile.Restore"] == nil {
		t.Fatalf("member %v", mem)
	}
	resp, body := c.do("GET", "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles/3", nil, nil)
	wantMessage(t, resp, body, 404, MsgResourceMissingAtURI)

	// DELETE of the member removes the file.
	name := c.d.CurrentBackup()
	resp, body = c.do("DELETE", memberPath, nil, nil)
	wantMessage(t, resp, body, 200, MsgSuccess)
	if c.d.CurrentBackup() != "" {
		t.Fatal("backup still present")
	}
	if resp, _ := c.do("GET", "/bkupdata/"+name, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("download of deleted backup: %d", resp.StatusCode)
	}
	coll = c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/BackupFiles/")
	if len(coll["Members"].([]any)) != 0 {
		t.Fatalf("collection after delete %v", coll)
	}
}

func TestNewBackupReplacesOld(t *testing.T) {
	c := start(t, Config{BackupSize: 4096})
	c.login()
	loc1 := c.backupLocation()
	_, first := c.do("GET", loc1, nil, nil)
	loc2 := c.backupLocation() // same minute: same name, new content
	_, second := c.do("GET", loc2, nil, nil)
	if loc1 == loc2 && bytes.Equal(first, second) {
		t.Fatal("a new backup has the same content as the previous one")
	}
	served := c.d.Served()
	if len(served) != 2 || served[0].SHA256 != sha(first) || served[1].SHA256 != sha(second) {
		t.Fatalf("served %+v", served)
	}
}

func TestDownloadByGET(t *testing.T) {
	c := start(t, Config{Serial: "MXQ78407Z2", BackupSize: 300_001})
	resp, body := c.do("GET", "/bkupdata/HPE_MXQ78407Z2_20230220_1813.bak", nil, nil)
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	c.login()
	loc := c.backupLocation()
	resp, body = c.do("GET", loc, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.ContentLength != 300_001 || len(body) != 300_001 {
		t.Fatalf("download: %d %q len=%d cl=%d", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), resp.ContentLength)
	}
	name := strings.TrimPrefix(loc, "/bkupdata/")
	if got := c.d.ServedBackups()[name]; got != sha(body) {
		t.Fatalf("recorded sha %s, downloaded %s", got, sha(body))
	}
	info, sum, n, err := VerifyImage(bytes.NewReader(body), "")
	if err != nil || sum != sha(body) || n != 300_001 || info.Serial != "MXQ78407Z2" || info.PasswordProtected || info.ManagerType != ILO6 {
		t.Fatalf("VerifyImage: %+v %s %d %v", info, sum, n, err)
	}
	// The same backup downloads identically again (deterministic content), also
	// with the session in a cookie only, and with the name in another case.
	resp, again := c.do("GET", strings.ToLower(loc), nil, map[string]string{"X-Auth-Token": "", "Cookie": "sessionKey=" + c.token})
	if resp.StatusCode != 200 || !bytes.Equal(again, body) {
		t.Fatalf("second download differs (%d)", resp.StatusCode)
	}
	for _, p := range []string{"/bkupdata/HPE_MXQ78407Z2_20000101_0000.bak", "/bkupdata/../" + name, "/bkupdata/x/" + name} {
		if resp, _ := c.do("GET", p, nil, nil); resp.StatusCode != 404 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if c.d.Stats.Snapshot().Calls[EndpointDownloadGet] != 6 {
		t.Fatalf("calls %v", c.d.Stats.Snapshot().Calls)
	}
}

func TestDownloadByPOSTWithPassword(t *testing.T) {
	const pass = "Backup-Pa55word!"
	c := start(t, Config{BackupSize: 200_000})
	c.login()
	loc := c.backupLocation()

	resp, img := c.downloadPost(loc, pass)
	if resp.StatusCode != 200 || len(img) != 200_000 {
		t.Fatalf("POST download: %d len %d: %.200s", resp.StatusCode, len(img), img)
	}
	if bytes.Contains(img, []byte(pass)) {
		t.Fatal("the image holds the password in clear")
	}
	info, err := ReadImageInfo(bytes.NewReader(img))
	if err != nil || !info.PasswordProtected || info.Serial != c.d.Serial() {
		t.Fatalf("header %+v %v", info, err)
	}
	if _, _, _, err := VerifyImage(bytes.NewReader(img), "other"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, _, err := VerifyImage(bytes.NewReader(img), ""); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("missing password: %v", err)
	}
	if _, _, _, err := VerifyImage(bytes.NewReader(img), pass); err != nil {
		t.Fatalf("right password: %v", err)
	}
	served := c.d.Served()
	if len(served) != 1 || !served[0].PasswordProtected || served[0].SHA256 != sha(img) {
		t.Fatalf("served %+v", served)
	}

	// Without password: a plain image. 32 characters are fine; 33 are refused.
	resp, plain := c.downloadPost(loc, "")
	if resp.StatusCode != 200 {
		t.Fatalf("POST without password: %d", resp.StatusCode)
	}
	if info, _ := ReadImageInfo(bytes.NewReader(plain)); info == nil || info.PasswordProtected {
		t.Fatalf("plain header %+v", info)
	}
	if resp, _ := c.downloadPost(loc, strings.Repeat("é", 32)); resp.StatusCode != 200 {
		t.Fatalf("32-character password: %d", resp.StatusCode)
	}
	resp, body := c.downloadPost(loc, strings.Repeat("x", 33))
	if resp.StatusCode != 400 || string(body) != BodyInvalidBackupPassword {
		t.Fatalf("33-character password: %d %s", resp.StatusCode, body)
	}

	// The session can come from the form field alone; a bad one is refused.
	tok := c.token
	c.token = "0123456789abcdef0123456789abcdef"
	resp, body = c.downloadPost(loc, "")
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	c.token = tok
	resp, body = c.do("POST", loc, "sessionKey="+tok, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 400 || string(body) != BodyInvalidBackupRequest {
		t.Fatalf("urlencoded POST: %d %s", resp.StatusCode, body)
	}
}

func TestPatchCustomBackupAndRestore(t *testing.T) {
	c := start(t, Config{})
	c.login()
	svc := "/redfish/v1/Managers/1/BackupRestoreService"
	etag0 := c.getJSON(svc)["@odata.etag"].(string)

	resp, body := c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, map[string]string{"If-Match": etag0})
	wantMessage(t, resp, body, 200, MsgSuccess)
	etag1 := resp.Header.Get("ETag")
	if etag1 == "" || etag1 == etag0 || etag1 != c.d.ETag() || !c.d.CustomBackupAndRestore() {
		t.Fatalf("after PATCH: etag %q (was %q), flag %v", etag1, etag0, c.d.CustomBackupAndRestore())
	}
	if m := c.getJSON(svc); m["CustomBackupandRestore"] != true || m["@odata.etag"] != etag1 {
		t.Fatalf("GET after PATCH %v", m)
	}

	// Stale ETag → 412, nothing changes.
	resp, body = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": false}, map[string]string{"If-Match": etag0})
	wantMessage(t, resp, body, 412, MsgPreconditionFailed)
	if !c.d.CustomBackupAndRestore() || c.d.ETag() != etag1 {
		t.Fatal("a 412 PATCH changed state")
	}

	// The strong form of the current ETag, and "*", match too.
	resp, body = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": false}, map[string]string{"If-Match": strings.TrimPrefix(etag1, "W/")})
	wantMessage(t, resp, body, 200, MsgSuccess)
	etag2 := c.d.ETag()
	resp, _ = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": false}, map[string]string{"If-Match": "*"})
	if resp.StatusCode != 200 || c.d.ETag() == etag2 {
		t.Fatal("the ETag must change on every successful PATCH, even without a value change")
	}

	// Without If-Match the PATCH applies.
	resp, _ = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, nil)
	if resp.StatusCode != 200 || !c.d.CustomBackupAndRestore() {
		t.Fatal("PATCH without If-Match")
	}

	etag := c.d.ETag()
	for _, tt := range []struct {
		body string
		id   string
	}{
		{`{"CustomBackupandRestore": "false"}`, MsgPropertyValueTypeError},
		{`{"CustomBackupandRestore": 0}`, MsgPropertyValueTypeError},
		{`{"CustomBackupandRestore": null}`, MsgPropertyValueTypeError},
		{`{"custombackupandrestore": false}`, MsgPropertyNotWritableOrUnknown},
		{`{"BackupFileLocation": "/x"}`, MsgPropertyNotWritableOrUnknown},
		{`{"Bogus": 1, "CustomBackupandRestore": false}`, MsgPropertyNotWritableOrUnknown},
		{`{"CustomBackupandRestore": fals`, MsgMalformedJSON},
		{`[true]`, MsgMalformedJSON},
		{`{}`, MsgEmptyJSON},
	} {
		resp, body := c.do("PATCH", svc, tt.body, nil)
		wantMessage(t, resp, body, 400, tt.id)
	}
	if !c.d.CustomBackupAndRestore() || c.d.ETag() != etag {
		t.Fatal("a refused PATCH changed state")
	}
	// A PropertyValueTypeError names the value and the property.
	_, body = c.do("PATCH", svc, `{"CustomBackupandRestore": "yes"}`, nil)
	if !strings.Contains(string(body), `"MessageArgs"`) || !strings.Contains(string(body), "CustomBackupandRestore") {
		t.Fatalf("type error body %s", body)
	}
	// PATCH needs a session.
	resp, body = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, map[string]string{"X-Auth-Token": "nope"})
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	if st := c.d.Stats.Snapshot(); st.Calls[EndpointServicePatch] != 16 {
		t.Fatalf("PATCH calls %d", st.Calls[EndpointServicePatch])
	}
}

func TestOldFirmware(t *testing.T) {
	c := start(t, Config{Generation: "iLO 5", OldFirmware: true})
	c.login()
	svc := "/redfish/v1/Managers/1/BackupRestoreService/"
	m := c.getJSON(svc)
	if _, ok := m["CustomBackupandRestore"]; ok {
		t.Fatalf("old firmware serves CustomBackupandRestore: %v", m)
	}
	if c.d.Firmware() != "2.70" {
		t.Fatalf("firmware %s", c.d.Firmware())
	}
	resp, body := c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, map[string]string{"If-Match": m["@odata.etag"].(string)})
	wantMessage(t, resp, body, 400, MsgPropertyNotWritableOrUnknown)
	if c.d.CustomBackupAndRestore() {
		t.Fatal("flag set on old firmware")
	}
	// Toggled at run time (a firmware update).
	c.d.SetOldFirmware(false)
	if _, ok := c.getJSON(svc)["CustomBackupandRestore"]; !ok {
		t.Fatal("property still missing")
	}
	resp, body = c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, nil)
	wantMessage(t, resp, body, 200, MsgSuccess)
}

func TestFIPS(t *testing.T) {
	c := start(t, Config{FIPS: true})
	c.login()
	svc := "/redfish/v1/Managers/1/BackupRestoreService"
	etag := c.getJSON(svc)["@odata.etag"].(string)
	for _, v := range []bool{true, false} {
		resp, body := c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": v}, map[string]string{"If-Match": etag})
		wantMessage(t, resp, body, 400, MsgUnsupportedSecurityState)
		if !strings.Contains(MsgUnsupportedSecurityState, "SecurityState") {
			t.Fatal("the FIPS MessageId must name the security state")
		}
	}
	if c.d.CustomBackupAndRestore() || c.d.ETag() != etag {
		t.Fatal("FIPS PATCH changed state")
	}
	// Backups still work in FIPS mode.
	if resp, _ := c.do("GET", c.backupLocation(), nil, nil); resp.StatusCode != 200 {
		t.Fatal("download in FIPS mode")
	}
	c.d.SetFIPS(false)
	resp, body := c.do("PATCH", svc, map[string]any{"CustomBackupandRestore": true}, map[string]string{"If-Match": etag})
	wantMessage(t, resp, body, 200, MsgSuccess)
}

func TestHostileBackupLocationServedVerbatim(t *testing.T) {
	c := start(t, Config{BackupLocation: "/bkupdata/../../x"})
	c.login()
	for _, loc := range []string{
		"/bkupdata/../../x", "//other-host/x", "https://evil.example/x",
		`/bkupdata/..\..\windows\x.bak`, "/bkupdata/HPE_X_1/../../../etc/passwd", "",
	} {
		c.d.SetBackupLocation(loc)
		got := c.backupLocation()
		want := loc
		if loc == "" {
			want = "/bkupdata/" + c.d.CurrentBackup()
		}
		if got != want {
			t.Fatalf("BackupFileLocation %q, want %q", got, want)
		}
	}
	// The real backup stays downloadable at its own path.
	if resp, _ := c.do("GET", "/bkupdata/"+c.d.CurrentBackup(), nil, nil); resp.StatusCode != 200 {
		t.Fatal("real backup not downloadable")
	}
}

func TestResetDownloadAfter(t *testing.T) {
	c := start(t, Config{BackupSize: 1 << 20, ResetDownloadAfter: 100_000})
	c.login()
	loc := c.backupLocation()
	resp, err := c.req("GET", loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != 1<<20 {
		t.Fatalf("status %d length %d", resp.StatusCode, resp.ContentLength)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a cut download read without error")
	}
	if len(got) != 100_000 {
		t.Fatalf("received %d bytes before the cut, want 100000", len(got))
	}
	if len(c.d.ServedBackups()) != 0 {
		t.Fatal("a cut download was recorded as served")
	}
	// The POST download is cut too.
	fields := []field{{"sessionKey", c.token}, {"password", "pw"}}
	ct, body := multipartBody(t, fields, nil)
	resp, err = c.req("POST", loc, bytes.NewReader(body), map[string]string{"Content-Type": ct})
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("POST download not cut")
	}
	// Switched off at run time: the next download is whole.
	c.d.SetResetDownloadAfter(0)
	resp2, full := c.do("GET", loc, nil, nil)
	if resp2.StatusCode != 200 || len(full) != 1<<20 || !bytes.Equal(full[:100_000], got) {
		t.Fatalf("full download: %d len %d", resp2.StatusCode, len(full))
	}
	if c.d.ServedBackups()[strings.TrimPrefix(loc, "/bkupdata/")] != sha(full) {
		t.Fatal("full download not recorded")
	}
	// A cut beyond the size never triggers.
	c.d.SetResetDownloadAfter(1<<20 + 1)
	if resp, b := c.do("GET", loc, nil, nil); resp.StatusCode != 200 || len(b) != 1<<20 {
		t.Fatal("download with cut beyond size")
	}
}

func TestBackupFilesMissing(t *testing.T) {
	c := start(t, Config{BackupFilesMissing: true})
	c.login()
	svc := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService")
	files := svc["BackupFiles"].(map[string]any)["@odata.id"].(string)
	resp, body := c.do("GET", files, nil, nil)
	wantMessage(t, resp, body, 404, MsgResourceMissingAtURI)
	resp, body = c.do("GET", files+"/1", nil, nil)
	wantMessage(t, resp, body, 404, MsgResourceMissingAtURI)
	// The backup itself is still there to download.
	if resp, body := c.do("GET", svc["BackupFileLocation"].(string), nil, nil); resp.StatusCode != 200 || int64(len(body)) != DefaultBackupSize {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	c.d.SetBackupFilesMissing(false)
	if m := c.getJSON(files); m["Members@odata.count"] != float64(1) {
		t.Fatalf("collection %v", m)
	}
}
