package aruba

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
)

const (
	scpUser = "scpbackup"
	scpPass = "scp-Pass-123"
)

func startSFTP(t *testing.T) *sftpserver.Server {
	t.Helper()
	srv, err := sftpserver.Start(sftpserver.Config{Username: scpUser, Password: scpPass, RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// scpBody is a copy_flash_scp request that logs in to the SCP server as scpUser.
func scpBody(src, host, dest string) map[string]string {
	return map[string]string{"srcfilename": src, "scphost": host, "username": scpUser, "passwd": scpPass, "destfilename": dest}
}

func TestCopyFlashSCPUploads(t *testing.T) {
	sftp := startSFTP(t)
	s := start(t, Config{Name: "mc-01", SCPPort: sftp.Port()})
	c := newClient(t, s)
	c.mustLogin()
	mustSucceed(t, c.object("copy_running_flash", map[string]string{"filename": "mc-01_backup_config.cfg"}))
	mustSucceed(t, c.object("flash_backup", map[string]string{"backup_flash": "flash", "filename": "flash"}))

	// No directory is created by the upload (scp does not): a missing one fails.
	r := c.object("copy_flash_scp", scpBody("flash.tar.gz", "127.0.0.1", "site-a/mc-01/flash.tar.gz"))
	if msg := mustFail(t, r); !strings.Contains(msg, "No such file or directory") {
		t.Fatalf("missing directory: %s", r.raw)
	}
	if err := os.MkdirAll(filepath.Join(sftp.RootDir(), "site-a", "mc-01"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ src, dest string }{
		{"flash.tar.gz", "site-a/mc-01/2026-01-02T030405Z_flash.tar.gz"},
		{"mc-01_backup_config.cfg", "/site-a/mc-01/2026-01-02T030405Z_config.cfg"},
	} {
		r := c.object("copy_flash_scp", scpBody(tc.src, "127.0.0.1", tc.dest))
		_, msg := mustSucceed(t, r)
		if !strings.Contains(msg, "File uploaded successfully") {
			t.Fatalf("success text %q", msg)
		}
		if strings.Contains(string(r.raw), scpPass) || !strings.Contains(string(r.raw), `"passwd":"********"`) {
			t.Fatalf("answer echoes the password: %s", r.raw)
		}
		want, _ := s.Conductor.FlashFile(tc.src)
		got, err := os.ReadFile(filepath.Join(sftp.RootDir(), filepath.FromSlash(strings.TrimPrefix(tc.dest, "/"))))
		if err != nil || !bytes.Equal(got, want) || len(want) == 0 {
			t.Fatalf("%s on the SCP server: err=%v, %d bytes, want %d", tc.dest, err, len(got), len(want))
		}
	}
	// The uploaded archive is a real flash backup.
	got, _ := os.ReadFile(filepath.Join(sftp.RootDir(), "site-a", "mc-01", "2026-01-02T030405Z_flash.tar.gz"))
	if files := untar(t, got); len(files["flash/mc-01_backup_config.cfg"]) == 0 {
		t.Fatalf("uploaded archive holds %v", keys(files))
	}
	if st := sftp.Stats(); st.Logins != 3 || st.Uploads != 2 || st.FailedLogins != 0 {
		t.Fatalf("sftp stats %+v", st)
	}

	// IPv6 loopback is an address too; nothing listens there on this port, so the
	// upload fails with a connection error (not a syntax error).
	r = c.object("copy_flash_scp", scpBody("flash.tar.gz", "::1", "x"))
	if msg := mustFail(t, r); strings.Contains(msg, "IPv4 or IPv6") {
		t.Fatalf("::1 refused as a non-address: %q", msg)
	}
}

func TestCopyFlashSCPFailures(t *testing.T) {
	sftp := startSFTP(t)
	s := start(t, Config{SCPPort: sftp.Port()})
	c := newClient(t, s)
	c.mustLogin()
	body := func(mut func(map[string]string)) map[string]string {
		b := scpBody("default.cfg", "127.0.0.1", "default.cfg")
		mut(b)
		return b
	}
	check := func(name string, b map[string]string, wantStatus string, wantText ...string) {
		t.Helper()
		r := c.object("copy_flash_scp", b)
		msg := mustFail(t, r)
		if wantStatus != "" {
			if st, _ := r.global(t); st != wantStatus {
				t.Fatalf("%s: status %s: %s", name, st, r.raw)
			}
		}
		for _, w := range wantText {
			if !strings.Contains(msg, w) {
				t.Fatalf("%s: %q does not contain %q", name, msg, w)
			}
		}
		for _, secret := range []string{scpPass, "wrong-pass"} {
			if strings.Contains(string(r.raw), secret) {
				t.Fatalf("%s: answer contains a password: %s", name, r.raw)
			}
		}
	}

	check("bad password", body(func(b map[string]string) { b["passwd"] = "wrong-pass" }), `"2"`, "authentication failed")
	check("bad user", body(func(b map[string]string) { b["username"] = "nobody" }), `"2"`, "authentication failed")
	sftp.SetRefuseAll(true)
	check("refused", body(func(map[string]string) {}), `"2"`, "authentication failed")
	sftp.SetRefuseAll(false)
	check("DNS name", body(func(b map[string]string) { b["scphost"] = "backup.corp.example" }), `"1"`, "IPv4 or IPv6 address", "backup.corp.example")
	check("localhost", body(func(b map[string]string) { b["scphost"] = "localhost" }), `"1"`, "IPv4 or IPv6 address")
	check("unknown source", body(func(b map[string]string) { b["srcfilename"] = "nothing.tar.gz" }), `"2"`, "nothing.tar.gz", "No such file")
	for _, field := range []string{"srcfilename", "scphost", "username", "passwd", "destfilename"} {
		check("missing "+field, body(func(b map[string]string) { delete(b, field) }), "", "wrong syntax", field)
		check("empty "+field, body(func(b map[string]string) { b[field] = "" }), "", "wrong syntax", field)
	}
	if st := sftp.Stats(); st.Uploads != 0 || st.FailedLogins < 3 {
		t.Fatalf("sftp stats %+v", st)
	}

	// Nothing listening on the SCP port.
	s2 := start(t, Config{SCPPort: closedPort(t)})
	c2 := newClient(t, s2)
	c2.mustLogin()
	r := c2.object("copy_flash_scp", scpBody("default.cfg", "127.0.0.1", "default.cfg"))
	if msg := mustFail(t, r); !strings.Contains(msg, "connection refused") || !strings.Contains(msg, "127.0.0.1") {
		t.Fatalf("nothing listening: %s", r.raw)
	}
	// The failures left the session usable.
	mustSucceed(t, c.object("copy_flash_scp", body(func(map[string]string) {})))
	if st := sftp.Stats(); st.Uploads != 1 {
		t.Fatalf("sftp stats %+v", st)
	}
}
