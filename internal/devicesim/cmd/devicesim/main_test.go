package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"golang.org/x/crypto/ssh"
)

// TestMain lets a test run this binary's main() in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("DEVICESIM_RUN_MAIN") == "1" {
		os.Args = append([]string{"devicesim"}, strings.Fields(os.Getenv("DEVICESIM_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startRun runs the command in-process and returns its listing and a stop function
// that waits for run to return.
func startRun(t *testing.T, args ...string) (devicesim.Listing, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		_ = pw.CloseWithError(io.EOF)
		done <- err
	}()
	var listing devicesim.Listing
	if err := json.NewDecoder(pr).Decode(&listing); err != nil {
		cancel()
		t.Fatalf("decoding the listing: %v (run: %v)", err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return listing, stop
}

func httpClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestRunServesListing(t *testing.T) {
	dir := t.TempDir()
	listing, stop := startRun(t, "-aruba", "2", "-dir", dir, "-fault-mode", "aos82,status-number",
		"-username", "demo", "-password", "demo-pw", "-sftp-username", "up", "-sftp-password", "up-pw")

	if listing.CACertFile != filepath.Join(dir, "ca.pem") {
		t.Fatalf("ca_cert_file %q", listing.CACertFile)
	}
	if len(listing.Devices) != 2 {
		t.Fatalf("devices %+v", listing.Devices)
	}
	hc := httpClient(t, listing.CACertFile)
	for i, d := range listing.Devices {
		wantName := []string{"conductor-01", "conductor-02"}[i]
		if d.Kind != "aruba_conductor" || d.Name != wantName || d.Host != "127.0.0.1" || d.Port == 0 ||
			d.URL != "https://"+net.JoinHostPort(d.Host, itoa(d.Port)) || d.StatsURL != d.URL+"/_sim/stats" ||
			d.Username != "demo" || d.Password != "demo-pw" {
			t.Fatalf("device %d: %+v", i, d)
		}
		// Log in and ask the hostname; status is a number (status-number).
		resp, err := hc.PostForm(d.URL+"/v1/api/login", url.Values{"username": {d.Username}, "password": {d.Password}})
		if err != nil {
			t.Fatal(err)
		}
		var login struct {
			G struct {
				Status any    `json:"status"`
				UID    string `json:"UIDARUBA"`
			} `json:"_global_result"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&login)
		resp.Body.Close()
		if login.G.Status != float64(0) || login.G.UID == "" {
			t.Fatalf("login on %s: %+v", d.Name, login)
		}
		resp, err = hc.Get(d.URL + "/v1/configuration/showcommand?command=show+hostname&UIDARUBA=" + login.G.UID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != `{"_data":["Hostname is `+d.Name+`"]}` {
			t.Fatalf("show hostname: %s", body)
		}
		// aos82: flash_backup refuses a filename.
		resp, err = hc.Post(d.URL+"/v1/configuration/object/flash_backup?config_path=%2Fmd&UIDARUBA="+login.G.UID,
			"application/json", strings.NewReader(`{"backup_flash":"flash","filename":"flash"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "filename") || !strings.Contains(string(body), "Error") {
			t.Fatalf("aos82 flash_backup: %s", body)
		}
		resp, err = hc.Get(d.StatsURL)
		if err != nil {
			t.Fatal(err)
		}
		var stats devicesim.StatsSnapshot
		_ = json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
		if stats.Logins != 1 || stats.OpenSessions != 1 {
			t.Fatalf("stats %+v", stats)
		}
	}

	// The SFTP server is reachable with the listed credentials and host key.
	sf := listing.SFTP
	if sf == nil || sf.Username != "up" || sf.Password != "up-pw" || sf.RootDir != filepath.Join(dir, "sftp-root") ||
		!strings.HasPrefix(sf.HostKey, "ssh-ed25519 ") || !strings.HasPrefix(sf.HostKeyFingerprint, "SHA256:") {
		t.Fatalf("sftp %+v", sf)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sf.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := ssh.Dial("tcp", sf.Address, &ssh.ClientConfig{User: sf.Username, Auth: []ssh.AuthMethod{ssh.Password(sf.Password)},
		HostKeyCallback: ssh.FixedHostKey(key), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("ssh to the SFTP server: %v", err)
	}
	_ = cc.Close()

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Everything is closed; the -dir given is kept.
	for _, d := range listing.Devices {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(d.Host, itoa(d.Port)), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still listening", d.Name)
		}
	}
	if c, err := net.DialTimeout("tcp", sf.Address, time.Second); err == nil {
		c.Close()
		t.Fatal("SFTP server still listening")
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatalf("ca.pem removed from -dir: %v", err)
	}
}

// Conductors and iLOs are listed with who they are, and answer as listed.
func TestRunServesILOs(t *testing.T) {
	listing, _ := startRun(t, "-aruba", "1", "-ilo", "2", "-ilo-backup-size", "20000", "-username", "demo", "-password", "demo-pw")
	if len(listing.Devices) != 3 {
		t.Fatalf("devices %+v", listing.Devices)
	}
	if d := listing.Devices[0]; d.Kind != aruba.Kind || d.Name != "conductor-01" || d.Model != "ArubaMM-VA" || d.Firmware != "8.10.0.12" || d.Serial != "" {
		t.Fatalf("conductor %+v", d)
	}
	hc := httpClient(t, listing.CACertFile)
	for i, d := range listing.Devices[1:] {
		name := []string{"ilo-01", "ilo-02"}[i]
		if d.Kind != ilo.Kind || d.Name != name || d.Model != ilo.ILO6 || d.Serial != ilo.DeriveSerial(name) || d.Firmware != "1.70" ||
			d.Username != "demo" || d.Password != "demo-pw" || d.StatsURL != d.URL+"/_sim/stats" {
			t.Fatalf("iLO %d: %+v", i, d)
		}
		resp, err := hc.Get(d.URL + "/redfish/v1/")
		if err != nil {
			t.Fatal(err)
		}
		var root struct {
			Oem struct {
				Hpe struct {
					Manager []struct{ ManagerType, ManagerFirmwareVersion string }
				}
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&root)
		resp.Body.Close()
		if err != nil || len(root.Oem.Hpe.Manager) != 1 || root.Oem.Hpe.Manager[0].ManagerType != d.Model ||
			root.Oem.Hpe.Manager[0].ManagerFirmwareVersion != d.Firmware {
			t.Fatalf("service root of %s: %+v %v", d.Name, root, err)
		}
		login, _ := json.Marshal(map[string]string{"UserName": d.Username, "Password": d.Password})
		resp, err = hc.Post(d.URL+"/redfish/v1/SessionService/Sessions/", "application/json", bytes.NewReader(login))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Auth-Token") == "" {
			t.Fatalf("login to %s: HTTP %d", d.Name, resp.StatusCode)
		}
	}
}

// Apstra servers are listed and serve the configured blueprints.
func TestRunServesApstra(t *testing.T) {
	listing, _ := startRun(t, "-aruba", "0", "-apstra", "2", "-apstra-blueprints", "3", "-apstra-nodes", "500",
		"-apstra-relationships", "700", "-apstra-managed", "6", "-apstra-unmanaged", "2", "-apstra-staging-only", "1",
		"-username", "demo", "-password", "demo-pw")
	if len(listing.Devices) != 2 {
		t.Fatalf("devices %+v", listing.Devices)
	}
	hc := httpClient(t, listing.CACertFile)
	for i, d := range listing.Devices {
		if d.Kind != apstra.Kind || d.Name != []string{"apstra-01", "apstra-02"}[i] || d.Firmware != apstra.DefaultVersion ||
			d.Username != "demo" || d.Password != "demo-pw" || d.StatsURL != d.URL+"/_sim/stats" {
			t.Fatalf("apstra %d: %+v", i, d)
		}
		login, _ := json.Marshal(map[string]string{"username": d.Username, "password": d.Password})
		resp, err := hc.Post(d.URL+"/api/aaa/login", "application/json", bytes.NewReader(login))
		if err != nil {
			t.Fatal(err)
		}
		var tok struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || tok.Token == "" {
			t.Fatalf("login to %s: HTTP %d", d.Name, resp.StatusCode)
		}
		get := func(path string, v any) {
			req, _ := http.NewRequest(http.MethodGet, d.URL+path, nil)
			req.Header.Set("AuthToken", tok.Token)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d %v", path, resp.StatusCode, err)
			}
		}
		var list struct{ Items []struct{ ID string } }
		get("/api/blueprints", &list)
		if len(list.Items) != 3 {
			t.Fatalf("%d blueprints", len(list.Items))
		}
		var g struct {
			Nodes         map[string]struct{ Type string }
			Relationships map[string]any
		}
		get("/api/blueprints/"+list.Items[2].ID, &g)
		systems := 0
		for _, n := range g.Nodes {
			if n.Type == "system" {
				systems++
			}
		}
		if len(g.Nodes) != 500 || len(g.Relationships) != 700 || systems != 9 {
			t.Fatalf("graph: %d nodes (%d systems), %d relationships", len(g.Nodes), systems, len(g.Relationships))
		}
		// Its SSH side runs `sudo -S aos_backup` and leaves the tarball under its root.
		ssh1 := d.SSH
		if ssh1 == nil || ssh1.Username != "demo" || ssh1.Password != "demo-pw" || !strings.HasPrefix(ssh1.HostKey, "ssh-ed25519 ") {
			t.Fatalf("ssh %+v", ssh1)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ssh1.HostKey))
		if err != nil {
			t.Fatal(err)
		}
		cc, err := ssh.Dial("tcp", ssh1.Address, &ssh.ClientConfig{User: ssh1.Username, Auth: []ssh.AuthMethod{ssh.Password(ssh1.Password)},
			HostKeyCallback: ssh.FixedHostKey(key), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := cc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		sess.Stdin = strings.NewReader(ssh1.Password + "\n")
		out, err := sess.Output("sudo -S aos_backup")
		sess.Close()
		cc.Close()
		if err != nil || !strings.Contains(string(out), "New AOS snapshot: ") {
			t.Fatalf("aos_backup: %v %s", err, out)
		}
		name := strings.TrimSpace(string(out[strings.LastIndex(string(out), ": ")+2:]))
		if _, err := os.Stat(filepath.Join(ssh1.RootDir, "var/lib/aos/snapshot", name, "aos.data.tar.gz")); err != nil {
			t.Fatalf("snapshot not under the root: %v", err)
		}
	}
}

func TestRunTempDirRemovedAndLatency(t *testing.T) {
	listing, stop := startRun(t, "-aruba", "1", "-latency", "150ms")
	if len(listing.Devices) != 1 {
		t.Fatalf("devices %+v", listing.Devices)
	}
	hc := httpClient(t, listing.CACertFile)
	t0 := time.Now()
	resp, err := hc.Get(listing.Devices[0].URL + "/v1/api/logout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if el := time.Since(t0); el < 150*time.Millisecond {
		t.Fatalf("latency not applied: %s", el)
	}
	dir := filepath.Dir(listing.CACertFile)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary dir %s left behind: %v", dir, err)
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	for _, want := range []string{"-aruba", "-ilo", "-ilo-backup-size", "-apstra", "-apstra-nodes", "-apstra-managed", "-latency", "-flash-backup-delay", "-fault-mode", "-dir", "-username", "-password", "-listen-host", "aos82", "status-number", "expiry-401", "strict-csrf"} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.aruba != 3 || o.latency != 0 || o.flashBackupDelay != 0 || o.listenHost != "127.0.0.1" || o.dir != "" {
		t.Fatalf("defaults %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-fault-mode", " expiry-401 , strict-csrf,"}, io.Discard)
	if err != nil || strings.Join(o.faultModes, ",") != "expiry-401,strict-csrf" {
		t.Fatalf("fault modes %v %v", o.faultModes, err)
	}
	for _, bad := range [][]string{
		{"-fault-mode", "aos99"},
		{"-aruba", "-1"},
		{"-apstra", "-1"},
		{"-apstra-nodes", "-5"},
		{"-listen-host", "example.com"},
		{"-password", ""},
		{"stray"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	if err := run(context.Background(), []string{"-fault-mode", "nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("run accepted a bad fault mode")
	}
}

// TestMainStopsOnSIGTERM runs the real main() in a child process.
func TestMainStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DEVICESIM_RUN_MAIN=1", "DEVICESIM_ARGS=-aruba 1 -dir "+dir+" -v")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var listing devicesim.Listing
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&listing); err != nil {
		t.Fatalf("listing: %v; stderr:\n%s", err, stderr.String())
	}
	if len(listing.Devices) != 1 || listing.Devices[0].Name != "conductor-01" {
		t.Fatalf("listing %+v", listing)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
