package ilo

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"
)

// waitReset polls until the iLO answers again; it fails the test if that takes
// longer than limit.
func (c *tc) waitReset(limit time.Duration) {
	c.t.Helper()
	startWait := time.Now()
	for {
		resp, err := c.req("GET", "/redfish/v1/", nil, map[string]string{"X-Auth-Token": ""})
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Since(startWait) > limit {
			c.t.Fatalf("iLO still unreachable after %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestoreRoundTripAndResetWindow(t *testing.T) {
	c := start(t, Config{Serial: "TWA22525A7", BackupSize: 500_000, ResetDuration: 400 * time.Millisecond})
	c.login()
	loc := c.backupLocation()
	_, img := c.do("GET", loc, nil, nil)
	other := &tc{t: t, srv: c.srv, d: c.d, hc: c.hc}
	other.login() // a second session: every session ends with the restore
	if c.d.OpenSessions() != 2 {
		t.Fatal("two sessions expected")
	}

	resp, body := c.restore(img, "")
	wantMessage(t, resp, body, 200, MsgSuccess)
	restoredAt := time.Now()

	r := c.d.LastRestore()
	if r == nil || c.d.Restores() != 1 {
		t.Fatal("restore not recorded")
	}
	name := strings.TrimPrefix(loc, "/bkupdata/")
	if r.SHA256 != sha(img) || r.Size != int64(len(img)) || r.Serial != "TWA22525A7" ||
		r.PasswordProtected || r.MatchedBackup != name || r.Action || r.At.IsZero() {
		t.Fatalf("restore %+v", r)
	}
	if !c.d.InReset() || c.d.OpenSessions() != 0 {
		t.Fatalf("in reset %v, open sessions %d", c.d.InReset(), c.d.OpenSessions())
	}
	st := c.d.Stats.Snapshot()
	if st.ExpiredSessions != 2 || st.OpenSessions != 0 {
		t.Fatalf("stats %+v", st)
	}

	// During the reset every request fails at the connection level (no status
	// line), login included; /_sim/stats keeps answering.
	for _, p := range []string{"/redfish/v1/", "/redfish/v1/Managers/1", loc} {
		resp, err := c.req("GET", p, nil, nil)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s during reset answered %d", p, resp.StatusCode)
		}
	}
	if resp, err := c.req("POST", "/redfish/v1/SessionService/Sessions/", strings.NewReader(`{"UserName":"a","Password":"b"}`), nil); err == nil {
		resp.Body.Close()
		t.Fatalf("login during reset answered %d", resp.StatusCode)
	}
	if resp, _ := c.do("GET", StatsPath, nil, nil); resp.StatusCode != 200 {
		t.Fatal("/_sim/stats during reset")
	}

	c.waitReset(2 * time.Second)
	if waited := time.Since(restoredAt); waited < 350*time.Millisecond {
		t.Fatalf("reachable again after %v, ResetDuration is 400ms", waited)
	}
	if c.d.InReset() {
		t.Fatal("InReset after the window")
	}
	// Old tokens are dead; a new login works.
	resp, body = c.do("GET", "/redfish/v1/Managers/1", nil, nil)
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	c.login()
	c.getJSON("/redfish/v1/Managers/1")
	if c.d.Stats.Snapshot().Calls[EndpointRestoreUpload] != 1 {
		t.Fatal("restore call not counted")
	}
}

func TestRestorePasswordProtected(t *testing.T) {
	const pass = "correct horse battery staple"
	c := start(t, Config{BackupSize: 100_000, ResetDuration: 100 * time.Millisecond})
	c.login()
	loc := c.backupLocation()
	_, img := c.downloadPost(loc, pass)

	for _, bad := range []string{"", "wrong", strings.Repeat("x", 40)} {
		resp, body := c.restore(img, bad)
		if resp.StatusCode == 200 || string(body) != BodyInvalidRestorePassword {
			t.Fatalf("password %q: %d %q", bad, resp.StatusCode, body)
		}
	}
	if c.d.Restores() != 0 || c.d.InReset() {
		t.Fatal("a refused restore was accepted")
	}
	resp, body := c.restore(img, pass)
	wantMessage(t, resp, body, 200, MsgSuccess)
	if r := c.d.LastRestore(); r == nil || !r.PasswordProtected || r.MatchedBackup != strings.TrimPrefix(loc, "/bkupdata/") || r.SHA256 != sha(img) {
		t.Fatalf("restore %+v", r)
	}
}

func TestRestoreRefusesBadUploads(t *testing.T) {
	c := start(t, Config{Serial: "CZJ12345X1", BackupSize: 70_000})
	c.login()
	loc := c.backupLocation()
	_, img := c.do("GET", loc, nil, nil)

	tamperedSerial := append([]byte(nil), img...)
	copy(tamperedSerial[16:48], "CZJ99999X9")
	binary.BigEndian.PutUint32(tamperedSerial[156:160], crc32.ChecksumIEEE(tamperedSerial[:156]))
	flipped := append([]byte(nil), img...)
	flipped[60_000] ^= 1
	badHeader := append([]byte(nil), img...)
	badHeader[20] ^= 1

	for _, tt := range []struct {
		name  string
		image []byte
		want  string
	}{
		{"garbage", []byte(strings.Repeat("this is not a backup ", 100)), BodyInvalidRestoreFile},
		{"empty", []byte{}, BodyInvalidRestoreFile},
		{"header only", img[:ImageHeaderSize], BodyInvalidRestoreFile},
		{"truncated", img[:len(img)-1], BodyInvalidRestoreFile},
		{"trailing bytes", append(append([]byte(nil), img...), 0), BodyInvalidRestoreFile},
		{"flipped payload byte", flipped, BodyInvalidRestoreFile},
		{"header checksum", badHeader, BodyInvalidRestoreFile},
		{"serial edited, checksum fixed", tamperedSerial, BodyInvalidRestoreFile},
	} {
		resp, body := c.restore(tt.image, "")
		if resp.StatusCode != 400 || string(body) != tt.want {
			t.Fatalf("%s: %d %q", tt.name, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Sim-Reason") == "" {
			t.Fatalf("%s: no X-Sim-Reason", tt.name)
		}
	}

	// Request problems.
	ct, body := multipartBody(t, []field{{"sessionKey", c.token}}, nil)
	resp, out := c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 400 || string(out) != BodyInvalidRestoreRequest {
		t.Fatalf("no file part: %d %q", resp.StatusCode, out)
	}
	resp, out = c.do("POST", HTTPPushURI, img, map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != 400 || string(out) != BodyInvalidRestoreRequest {
		t.Fatalf("raw body: %d %q", resp.StatusCode, out)
	}
	// Session checks: header/cookie and the sessionKey field must be valid.
	ct, body = multipartBody(t, []field{{"sessionKey", c.token}}, img)
	resp, out = c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct, "X-Auth-Token": ""})
	wantMessage(t, resp, out, 401, MsgNoValidSession)
	ct, body = multipartBody(t, nil, img)
	resp, out = c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct})
	wantMessage(t, resp, out, 401, MsgNoValidSession)
	ct, body = multipartBody(t, []field{{"sessionKey", "deadbeef"}}, img)
	resp, out = c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct})
	wantMessage(t, resp, out, 401, MsgNoValidSession)
	if resp, _ := c.do("GET", HTTPPushURI, nil, nil); resp.StatusCode != 405 {
		t.Fatalf("GET HttpPushUri: %d", resp.StatusCode)
	}
	if c.d.Restores() != 0 || c.d.InReset() {
		t.Fatal("a refused upload was accepted")
	}

	// The session in X-Auth-Token only (no cookie) is enough.
	ct, body = multipartBody(t, []field{{"sessionKey", c.token}}, img)
	resp, out = c.do("POST", HTTPPushURI, body, map[string]string{"Content-Type": ct})
	wantMessage(t, resp, out, 200, MsgSuccess)
}

func TestRestoreForeignSerialIsAcceptedAndRecorded(t *testing.T) {
	c := start(t, Config{Serial: "TWA22525A7", ResetDuration: 50 * time.Millisecond})
	c.login()
	img, err := io.ReadAll(GenerateImage(ImageInfo{Serial: "MXQ78407Z2", ManagerType: ILO5, Firmware: "2.72", BackupID: 42, Size: 12_345}, ""))
	if err != nil || len(img) != 12_345 {
		t.Fatal(err, len(img))
	}
	resp, body := c.restore(img, "")
	wantMessage(t, resp, body, 200, MsgSuccess)
	if r := c.d.LastRestore(); r.Serial != "MXQ78407Z2" || r.MatchedBackup != "" || r.Size != 12_345 {
		t.Fatalf("restore %+v", r)
	}
}

func TestRestoreActionOnBackupFile(t *testing.T) {
	c := start(t, Config{BackupSize: 50_000, ResetDuration: 100 * time.Millisecond})
	c.login()
	loc := c.backupLocation()
	_, img := c.do("GET", loc, nil, nil)
	coll := c.getJSON("/redfish/v1/Managers/1/BackupRestoreService/BackupFiles")
	member := coll["Members"].([]any)[0].(map[string]any)["@odata.id"].(string)
	target := c.getJSON(member)["Actions"].(map[string]any)["#HpeiLOBackupFile.Restore"].(map[string]any)["target"].(string)
	resp, body := c.do("POST", target, "{}", nil)
	wantMessage(t, resp, body, 200, MsgSuccess)
	r := c.d.LastRestore()
	if r == nil || !r.Action || r.SHA256 != sha(img) || r.MatchedBackup != strings.TrimPrefix(loc, "/bkupdata/") {
		t.Fatalf("restore %+v", r)
	}
	if !c.d.InReset() || c.d.OpenSessions() != 0 {
		t.Fatal("action restore did not reset")
	}
	c.waitReset(time.Second)
}

func TestImageFormat(t *testing.T) {
	info := ImageInfo{Serial: "TWA22525A7", ManagerType: ILO6, Firmware: "1.70", BackupID: 7, Size: 1000}
	a, _ := io.ReadAll(GenerateImage(info, ""))
	b, _ := io.ReadAll(GenerateImage(info, ""))
	if !bytes.Equal(a, b) || len(a) != 1000 || string(a[:8]) != "HPEILOBK" {
		t.Fatal("plain images are not deterministic")
	}
	info.BackupID = 8
	if c, _ := io.ReadAll(GenerateImage(info, "")); bytes.Equal(a[ImageHeaderSize:], c[ImageHeaderSize:]) {
		t.Fatal("another backup has the same payload")
	}
	p1, _ := io.ReadAll(GenerateImage(info, "pw"))
	p2, _ := io.ReadAll(GenerateImage(info, "pw"))
	if bytes.Equal(p1, p2) {
		t.Fatal("protected images should be salted")
	}
	for _, p := range [][]byte{p1, p2} {
		if _, _, _, err := VerifyImage(bytes.NewReader(p), "pw"); err != nil {
			t.Fatal(err)
		}
	}
	// Read in odd chunk sizes: same bytes.
	r := GenerateImage(ImageInfo{Serial: "X", BackupID: 9, Size: 100_003}, "")
	var parts bytes.Buffer
	buf := make([]byte, 777)
	for {
		n, err := r.Read(buf[:1+parts.Len()%777])
		parts.Write(buf[:n])
		if err == io.EOF {
			break
		}
	}
	whole, _ := io.ReadAll(GenerateImage(ImageInfo{Serial: "X", BackupID: 9, Size: 100_003}, ""))
	if !bytes.Equal(parts.Bytes(), whole) {
		t.Fatal("chunked read differs")
	}
	// Minimum size is the header.
	small, _ := io.ReadAll(GenerateImage(ImageInfo{Serial: "X", Size: 1}, ""))
	if len(small) != ImageHeaderSize {
		t.Fatalf("small image %d bytes", len(small))
	}
	if _, err := ReadImageInfo(bytes.NewReader([]byte("short"))); err == nil {
		t.Fatal("short input accepted")
	}
}
