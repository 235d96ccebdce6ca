package aruba

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// untar lists a tar.gz archive: name → content.
func untar(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("bad tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = data
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSuccessEnvelopeStringAndNumber(t *testing.T) {
	for _, number := range []bool{false, true} {
		s := start(t, Config{StatusAsNumber: number})
		c := newClient(t, s)
		c.mustLogin()
		r := c.object("copy_running_flash", map[string]string{"filename": "mc_backup_config.cfg"})
		zero := `"0"`
		if number {
			zero = `0`
		}
		want := `{"_global_result":{"status":` + zero + `,"status_str":"Success","_pending":false},` +
			`"copy_running_flash":{"_result":{"status":` + zero + `,"status_str":"Success"},"filename":"mc_backup_config.cfg"}}`
		if r.code != 200 || string(r.raw) != want {
			t.Fatalf("number=%v\n got %s\nwant %s", number, r.raw, want)
		}
		// Failures carry the same type.
		r = c.object("copy_running_flash", map[string]string{"filename": strings.Repeat("a", 257)})
		st, msg := r.global(t)
		if (number && st != `1`) || (!number && st != `"1"`) || !strings.Contains(msg, "too long") {
			t.Fatalf("number=%v: failure %s", number, r.raw)
		}
		nested := r.json(t)["copy_running_flash"].(map[string]any)["_result"].(map[string]any)
		if fmt.Sprint(nested["status"]) != "1" || nested["status_str"] != msg {
			t.Fatalf("nested _result %v", nested)
		}
	}
}

func TestCopyRunningFlash(t *testing.T) {
	s := start(t, Config{Name: "mc-07"})
	c := newClient(t, s)
	c.mustLogin()
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "mc-07_backup_config.cfg"}))
	data, ok := s.Conductor.FlashFile("mc-07_backup_config.cfg")
	if !ok || string(data) != s.Conductor.RunningConfig() || !strings.Contains(string(data), `hostname "mc-07"`) {
		t.Fatalf("flash file: %v %q", ok, data)
	}
	// Overwritten on the next run, with the current running config.
	s.Conductor.SetRunningConfig("hostname \"mc-07\"\nvlan 99\n")
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "mc-07_backup_config.cfg"}))
	if data, _ := s.Conductor.FlashFile("mc-07_backup_config.cfg"); string(data) != "hostname \"mc-07\"\nvlan 99\n" {
		t.Fatalf("not overwritten: %q", data)
	}
	// 256 characters are fine, 257 are not.
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": strings.Repeat("b", 256)}))
	if msg := mustFail(t, c.object("copy_running_flash", map[string]string{"filename": strings.Repeat("b", 257)})); !strings.Contains(msg, "256") {
		t.Fatalf("257 chars: %q", msg)
	}
	for _, bad := range []string{"../x.cfg", "dir/x.cfg", ".hidden", "a b"} {
		if msg := mustFail(t, c.object("copy_running_flash", map[string]string{"filename": bad})); !strings.Contains(msg, "Invalid filename") {
			t.Fatalf("%q: %q", bad, msg)
		}
	}
	// Schema errors come as {"Error": "...wrong syntax..."} alone.
	for _, body := range []any{map[string]string{}, map[string]any{"filename": 5}, map[string]string{"filename": "x.cfg", "extra": "y"}} {
		r := c.object("copy_running_flash", body)
		m := r.json(t)
		if e, _ := m["Error"].(string); len(m) != 1 || !strings.Contains(e, "wrong syntax") {
			t.Fatalf("body %v: %s", body, r.raw)
		}
	}
	r := c.request(http.MethodPost, "/v1/configuration/object/copy_running_flash", url.Values{"config_path": {"/md"}}, []byte(`{"filename":`), allAuth)
	if e, _ := r.json(t)["Error"].(string); !strings.Contains(e, "invalid JSON") {
		t.Fatalf("malformed JSON: %s", r.raw)
	}
}

func TestFlashBackup(t *testing.T) {
	s := start(t, Config{Name: "mc-01", FlashArchiveSize: 100_000})
	c := newClient(t, s)
	c.mustLogin()
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "mc-01_backup_config.cfg"}))
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "flash"}))
	archive, ok := s.Conductor.FlashFile("flash.tar.gz")
	if !ok {
		t.Fatalf("no flash.tar.gz on flash: %v", keys(s.Conductor.FlashFiles()))
	}
	// The pseudo-random content does not compress: the archive is about that big.
	if len(archive) < 100_000 || len(archive) > 110_000 {
		t.Fatalf("archive is %d bytes", len(archive))
	}
	files := untar(t, archive)
	if got := strings.Join(keys(files), ","); got != "flash/default.cfg,flash/license.db,flash/mc-01_backup_config.cfg" {
		t.Fatalf("archive holds %s", got)
	}
	lic, _ := s.Conductor.FlashFile(FlashDataFile)
	if len(lic) != 100_000 || !bytes.Equal(files["flash/license.db"], lic) {
		t.Fatal("license.db content differs")
	}
	// A second backup does not include the first archive.
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "second"}))
	second, _ := s.Conductor.FlashFile("second.tar.gz")
	if got := strings.Join(keys(untar(t, second)), ","); strings.Contains(got, "tar") {
		t.Fatalf("second archive holds %s", got)
	}
	// A name with .tar.gz gets another one, as on the device.
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "x.tar.gz"}))
	if _, ok := s.Conductor.FlashFile("x.tar.gz.tar.gz"); !ok {
		t.Fatalf("flash: %v", keys(s.Conductor.FlashFiles()))
	}
	// "config" archives the configuration files only.
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "config", "filename": "cfg"}))
	cfgArchive, _ := s.Conductor.FlashFile("cfg.tar.gz")
	if got := strings.Join(keys(untar(t, cfgArchive)), ","); got != "flash/default.cfg,flash/mc-01_backup_config.cfg" {
		t.Fatalf("config archive holds %s", got)
	}
	// Limits and values.
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": strings.Repeat("f", 127)}))
	if msg := mustFail(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": strings.Repeat("f", 128)})); !strings.Contains(msg, "127") {
		t.Fatalf("128 chars: %q", msg)
	}
	if msg := mustFail(t, c.object("flash_backup", map[string]string{"backup_flash": "everything", "filename": "x"})); !strings.Contains(msg, "backup_flash") {
		t.Fatalf("bad backup_flash: %q", msg)
	}
	if msg := mustFail(t, c.object("flash_backup", map[string]string{"backup_flash": "flash"})); !strings.Contains(msg, "wrong syntax") || !strings.Contains(msg, "filename") {
		t.Fatalf("missing filename: %q", msg)
	}
}

func TestFlashBackupAOS82(t *testing.T) {
	s := start(t, Config{AOS82: true})
	c := newClient(t, s)
	c.mustLogin()
	before := s.Conductor.FlashFiles()
	r := c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "flash"})
	msg := mustFail(t, r)
	if !strings.Contains(msg, "filename") {
		t.Fatalf("8.2 refusal does not name the field: %s", r.raw)
	}
	if got := s.Conductor.FlashFiles(); len(got) != len(before) {
		t.Fatalf("refused call wrote something: %v", keys(got))
	}
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash"}))
	archive, ok := s.Conductor.FlashFile("flashbackup.tar.gz")
	if !ok {
		t.Fatalf("flash: %v", keys(s.Conductor.FlashFiles()))
	}
	if files := untar(t, archive); len(files) != 2 {
		t.Fatalf("archive holds %v", keys(files))
	}
	if r := c.show("show version"); !strings.Contains(string(r.raw), "Version 8.2.") {
		t.Fatalf("show version: %s", r.raw)
	}
}

func TestFlashBackupDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	s := start(t, Config{FlashBackupDelay: delay})
	c := newClient(t, s)
	c.mustLogin()
	t0 := time.Now()
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "slow"}))
	if el := time.Since(t0); el < delay {
		t.Fatalf("flash_backup took %s, want >= %s", el, delay)
	}
	// A client that gives up: the request context ends the backup, nothing is written.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		s.URL+"/v1/configuration/object/flash_backup?config_path=%2Fmd&UIDARUBA="+c.uid,
		strings.NewReader(`{"backup_flash":"flash","filename":"abandoned"}`))
	req.Header.Set("X-CSRF-Token", c.token)
	if _, err := c.hc.Do(req); err == nil {
		t.Fatal("expected the client's timeout")
	}
	time.Sleep(delay + 100*time.Millisecond)
	if _, ok := s.Conductor.FlashFile("abandoned.tar.gz"); ok {
		t.Fatal("an abandoned flash_backup wrote its archive")
	}
}

func TestCloseCancelsSlowBackup(t *testing.T) {
	s := start(t, Config{FlashBackupDelay: time.Hour})
	c := newClient(t, s)
	c.mustLogin()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/configuration/object/flash_backup?UIDARUBA="+c.uid,
			strings.NewReader(`{"backup_flash":"flash","filename":"f"}`))
		resp, err := c.hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	s.Close()
	if el := time.Since(t0); el > 2*time.Second {
		t.Fatalf("Close took %s", el)
	}
	<-done
}

func TestTarFlashClean(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "keep.cfg"}))
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "flash"}))
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "config", "filename": "cfgbackup"}))
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "old.tar"}))
	r := c.object("tar_flash_clean", map[string]any{})
	mustSucceed(t, r)
	if !strings.Contains(string(r.raw), `"tar_flash_clean":{"_result"`) {
		t.Fatalf("envelope %s", r.raw)
	}
	if got := strings.Join(keys(s.Conductor.FlashFiles()), ","); got != "default.cfg,keep.cfg,license.db" {
		t.Fatalf("flash after clean: %s", got)
	}
	// An empty body is accepted too.
	mustSucceed(t, c.request(http.MethodPost, "/v1/configuration/object/tar_flash_clean", nil, []byte{}, allAuth))
}

func TestUnknownObjectAndMethods(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()
	r := c.object("write_memory_everywhere", map[string]string{"a": "b"})
	if msg := mustFail(t, r); !strings.Contains(msg, "write_memory_everywhere") {
		t.Fatalf("unknown object: %s", r.raw)
	}
	if r := c.request(http.MethodGet, "/v1/configuration/object/flash_backup", nil, nil, allAuth); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("GET on an action: %d", r.code)
	}
	if r := c.request(http.MethodGet, "/v1/nothing", nil, nil, allAuth); r.code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", r.code)
	}
	if r := c.request(http.MethodDelete, "/v1/api/login", nil, nil, auth{}); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE login: %d", r.code)
	}
}

func TestShowCommands(t *testing.T) {
	cfg := "hostname \"mc-02\"\nvlan 10\nvlan 20\n"
	s := start(t, Config{Name: "mc-02", RunningConfig: cfg})
	c := newClient(t, s)
	c.mustLogin()

	r := c.show("show running-config")
	if r.code != 200 || string(r.raw) != `{"_data":["hostname \"mc-02\"\nvlan 10\nvlan 20\n"]}` {
		t.Fatalf("running-config: %s", r.raw)
	}
	r = c.show("show hostname")
	if string(r.raw) != `{"_data":["Hostname is mc-02"]}` {
		t.Fatalf("hostname: %s", r.raw)
	}
	// Extra blanks and case do not matter; abbreviations and unknown commands answer
	// HTTP 200 with an empty body.
	if r := c.show("  SHOW   hostname "); !strings.Contains(string(r.raw), "mc-02") {
		t.Fatalf("spaced command: %s", r.raw)
	}
	for _, cmd := range []string{"show run", "show running", "sh hostname", "show nothing", ""} {
		r := c.show(cmd)
		if r.code != 200 || len(r.raw) != 0 {
			t.Fatalf("%q: HTTP %d %q", cmd, r.code, r.raw)
		}
	}
	if r := c.request(http.MethodPost, "/v1/configuration/showcommand", url.Values{"command": {"show hostname"}}, nil, allAuth); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("POST showcommand: %d", r.code)
	}

	// One element per line.
	s2 := start(t, Config{Name: "mc-03", RunningConfigPerLine: true})
	c2 := newClient(t, s2)
	c2.mustLogin()
	r = c2.show("show running-config")
	m := r.json(t)
	lines, _ := m["_data"].([]any)
	if len(lines) < 20 || lines[1] != `hostname "mc-03"` {
		t.Fatalf("per-line running config: %d lines, %v", len(lines), lines[:2])
	}
	for _, l := range lines {
		if strings.Contains(l.(string), "\n") {
			t.Fatalf("line with a newline: %q", l)
		}
	}
}

func TestStatsCounters(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()
	c.show("show hostname")
	c.show("show run")
	c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "flash"})
	c.object("tar_flash_clean", map[string]any{})
	c.object("tar_flash_clean", map[string]any{})
	c.logout(http.MethodGet)
	c.request(http.MethodGet, "/_sim/stats", nil, nil, auth{})
	snap := s.Conductor.Stats.Snapshot()
	want := map[string]int64{
		"POST /v1/api/login":                            1,
		"GET /v1/configuration/showcommand":             2,
		"POST /v1/configuration/object/flash_backup":    1,
		"POST /v1/configuration/object/tar_flash_clean": 2,
		"GET /v1/api/logout":                            1,
	}
	if fmt.Sprint(snap.Calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v\nwant %v", snap.Calls, want)
	}
	if snap.Logins != 1 || snap.Logouts != 1 || snap.OpenSessions != 0 || snap.TotalCalls() != 7 {
		t.Fatalf("stats %+v", snap)
	}
}

func TestInjectedFaults(t *testing.T) {
	s := start(t, Config{})
	c := newClient(t, s)
	c.mustLogin()

	s.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: "/v1/configuration/showcommand", Times: 1})
	r := c.show("show hostname")
	if r.code != 500 || !strings.HasPrefix(string(r.raw), "<html>") {
		t.Fatalf("html fault: %d %s", r.code, r.raw)
	}
	if r := c.show("show hostname"); r.code != 200 || !strings.Contains(string(r.raw), "Hostname is") {
		t.Fatalf("after the fault: %d %s", r.code, r.raw)
	}

	s.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultMalformedJSON, PathPrefix: "/v1/configuration/object/", Method: "POST", Times: 1})
	r = c.object("tar_flash_clean", map[string]any{})
	if r.code != 200 || bytes.HasSuffix(bytes.TrimSpace(r.raw), []byte("}")) {
		t.Fatalf("malformed fault: %s", r.raw)
	}

	s.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultServerError, PathPrefix: "/v1/api/login", Times: 1})
	if r := c.loginPOST(testUser, testPass); r.code != 503 {
		t.Fatalf("server error fault: %d", r.code)
	}

	s.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultReset, PathPrefix: "/v1/configuration/object/copy_running_flash", Times: 1})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/configuration/object/copy_running_flash?UIDARUBA="+c.uid, strings.NewReader(`{"filename":"a.cfg"}`))
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("reset fault: got an answer")
	}
	// The reset call never reached the device.
	if _, ok := s.Conductor.FlashFile("a.cfg"); ok {
		t.Fatal("reset call was executed")
	}

	s.Conductor.Faults.SetLatency(150 * time.Millisecond)
	t0 := time.Now()
	c.show("show hostname")
	if el := time.Since(t0); el < 150*time.Millisecond {
		t.Fatalf("latency not applied: %s", el)
	}
	// /_sim/stats is never delayed or faulted.
	s.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultServerError})
	t0 = time.Now()
	if r := c.request(http.MethodGet, "/_sim/stats", nil, nil, auth{}); r.code != 200 || time.Since(t0) > 140*time.Millisecond {
		t.Fatalf("/_sim/stats: %d after %s", r.code, time.Since(t0))
	}
	s.Conductor.Faults.Clear()
	s.Conductor.Faults.SetLatency(0)
	mustSucceed(t, c.object("tar_flash_clean", map[string]any{}))
}
