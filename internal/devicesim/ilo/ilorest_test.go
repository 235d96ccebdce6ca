package ilo

// HPE's own command-line tool, iLOrest, is the reference client of an iLO: these tests
// drive it against the simulator, so the simulator is checked against a client that
// was not written here. iLOrest is the Debian package "ilorest" (3.6); .ci/run
// installs it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/ilorestore"
)

const ilorestTimeout = 2 * time.Minute

// ilorest runs HPE's iLOrest against one simulated iLO. Every run has its own HOME,
// cache and working folder under the test's temporary folder: iLOrest keeps its
// session there between commands, and writes backups into the working folder.
type ilorest struct {
	t    *testing.T
	bin  string
	home string
	url  string
	d    *ILO
}

func newILOrest(t *testing.T, url string, d *ILO) *ilorest {
	t.Helper()
	bin, err := exec.LookPath("ilorest")
	if err != nil {
		t.Fatal("ilorest is not installed: apt-get install ilorest (CI installs it)")
	}
	return &ilorest{t: t, bin: bin, home: t.TempDir(), url: url, d: d}
}

// run runs one iLOrest command in dir and returns its combined output.
func (x *ilorest) run(dir string, args ...string) (string, error) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ilorestTimeout)
	defer cancel()
	full := append([]string{"--nologo", "--cache-dir", filepath.Join(x.home, "cache"), "--logdir", filepath.Join(x.home, "log")}, args...)
	cmd := exec.CommandContext(ctx, x.bin, full...)
	cmd.Dir = dir
	// No proxy variables: iLOrest would send loopback traffic to a proxy.
	cmd.Env = []string{"HOME=" + x.home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", ilorestTimeout, err)
	}
	return string(out), err
}

// must runs a command that has to succeed.
func (x *ilorest) must(dir string, args ...string) string {
	x.t.Helper()
	out, err := x.run(dir, args...)
	if err != nil {
		x.t.Fatalf("ilorest %s: %v\n%s\nthe simulated iLO saw: %s", strings.Join(args, " "), err, out, x.calls())
	}
	return out
}

// calls lists what the simulated iLO was asked, for failure messages.
func (x *ilorest) calls() string {
	calls := x.d.Stats.Snapshot().Calls
	names := make([]string, 0, len(calls))
	for k, v := range calls {
		names = append(names, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(names)
	return strings.Join(names, "; ")
}

// startOn443 serves a new simulated iLO on port 443 of a random loopback address, the
// way iLOrest expects to reach an iLO: iLOrest 3.6 logs out only from the default
// port (on any other it rebuilds the session URL with the port in it twice). The
// returned host has no port.
func startOn443(t *testing.T, cfg Config) (*ILO, string) {
	t.Helper()
	ca := devicesim.SharedCA(t)
	d := New(cfg)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		host := fmt.Sprintf("127.%d.%d.%d", 1+rng.Intn(254), rng.Intn(256), 1+rng.Intn(254))
		l, err := ca.Listen(net.JoinHostPort(host, "443"))
		if err != nil {
			if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
				t.Fatalf("iLOrest needs the simulated iLO on port 443, and this user may not listen there (%v): "+
					"run the tests as root (CI does), or allow it with sysctl net.ipv4.ip_unprivileged_port_start=443", err)
			}
			lastErr = err // the address is taken: try another one
			continue
		}
		serve(t, l, d)
		return d, host
	}
	t.Fatalf("no free loopback address for port 443: %v", lastErr)
	return nil, ""
}

// serve serves d on l until the test ends.
func serve(t *testing.T, l net.Listener, d *ILO) {
	t.Helper()
	s, err := devicesim.Serve(l, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// onlyBackup returns the one .bak file iLOrest wrote into dir.
func onlyBackup(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.bak"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one .bak file in %s, got %v (%v)", dir, files, err)
	}
	return files[0]
}

// wantServed checks that the simulator served exactly the bytes of file, under the
// file's name, protected or not.
func wantServed(t *testing.T, d *ILO, file string, protected bool) {
	t.Helper()
	wantServedAs(t, d, file, filepath.Base(file), protected)
}

// waitReset waits until the iLO is back from the reset after a restore.
func waitReset(t *testing.T, d *ILO) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for d.InReset() {
		if time.Now().After(deadline) {
			t.Fatal("the iLO did not come back from its reset")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantRestored checks the last restore the simulator accepted: the bytes of file.
func wantRestored(t *testing.T, d *ILO, restores int, file string, protected bool) {
	t.Helper()
	if d.Restores() != restores {
		t.Fatalf("the simulator accepted %d restores, want %d", d.Restores(), restores)
	}
	r := d.LastRestore()
	if r.SHA256 != fileSHA256(t, file) || r.PasswordProtected != protected || r.Serial != d.Serial() || r.MatchedBackup != filepath.Base(file) {
		t.Fatalf("last restore %+v is not %s (protected %t)", r, file, protected)
	}
	if n := d.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions survived the restore's reset", n)
	}
}

// TestILOrestBackupRestore walks HPE's documented iLOrest flow against each
// generation (iLO 5 links the resource directory with a trailing slash, so iLOrest
// loads it instead of crawling; on iLO 6 and 7 it crawls the whole tree): log in,
// select the backup service by type, back up (plain and with --filepass), restore
// both, log out. The simulator must have served the very bytes iLOrest saved, see
// restores of the same bytes, and end with no session open.
func TestILOrestBackupRestore(t *testing.T) {
	for _, gen := range []string{ILO5, ILO6} {
		t.Run(strings.ReplaceAll(gen, " ", ""), func(t *testing.T) {
			d, host := startOn443(t, Config{Name: "ilorest-" + gen, Generation: gen, BackupSize: 256 << 10, ResetDuration: 300 * time.Millisecond})
			x := newILOrest(t, "https://"+host, d)
			work := t.TempDir()
			plainDir, protDir := filepath.Join(work, "plain"), filepath.Join(work, "protected")
			for _, dir := range []string{plainDir, protDir} {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			const filePass = "Ilorest-File-Pass1"

			x.must(work, "login", x.url, "-u", d.Username(), "-p", d.Password())
			if st := d.Stats.Snapshot(); st.Logins != 1 || d.OpenSessions() != 1 {
				t.Fatalf("after login: %d logins, %d open sessions", st.Logins, d.OpenSessions())
			}

			// select finds the service by its @odata.type; get reads it.
			x.must(work, "select", "HpeiLOBackupRestoreService.")
			if out := x.must(work, "get", "HttpPushUri"); !strings.Contains(out, HTTPPushURI) {
				t.Fatalf("get HttpPushUri printed:\n%s", out)
			}

			x.must(plainDir, "backuprestore", "backup")
			plain := onlyBackup(t, plainDir)
			wantServed(t, d, plain, false)

			x.must(protDir, "backuprestore", "backup", "--filepass", filePass)
			protected := onlyBackup(t, protDir)
			wantServed(t, d, protected, true)
			if fileSHA256(t, plain) == fileSHA256(t, protected) {
				t.Fatal("the password-protected backup has the same bytes as the plain one")
			}

			// The restore resets the iLO, which ends every session; iLOrest then tries
			// to log out of the iLO that is resetting.
			x.must(work, "backuprestore", "restore", "-f", plain)
			wantRestored(t, d, 1, plain, false)
			waitReset(t, d)

			// A protected backup without its password: the iLO refuses it. (iLOrest 3.6
			// compares the iLO's answer, bytes, with a string, so it reports a generic
			// upload error instead of the password message it means to.)
			x.must(work, "login", x.url, "-u", d.Username(), "-p", d.Password())
			out, err := x.run(work, "backuprestore", "restore", "-f", protected)
			if err == nil || !(strings.Contains(out, "Invalid or no password") || strings.Contains(out, "Error while uploading the backup file")) {
				t.Fatalf("restore of a protected backup without --filepass: err %v\n%s", err, out)
			}
			if d.Restores() != 1 {
				t.Fatalf("a restore without the password was accepted")
			}
			x.must(work, "backuprestore", "restore", "-f", protected, "--filepass", filePass)
			wantRestored(t, d, 2, protected, true)
			waitReset(t, d)

			x.must(work, "login", x.url, "-u", d.Username(), "-p", d.Password())
			before := d.Stats.Snapshot()
			x.must(work, "logout")
			st := d.Stats.Snapshot()
			if st.Logouts != before.Logouts+1 || st.Logins != 3 {
				t.Fatalf("logins %d, logouts %d → %d: want 3 logins and the last session logged out", st.Logins, before.Logouts, st.Logouts)
			}
			if d.OpenSessions() != 0 || st.OpenSessions != 0 {
				t.Fatalf("%d sessions open at the end (stats %+v)", d.OpenSessions(), st)
			}
			if len(d.Served()) != 2 {
				t.Fatalf("served %+v, want the two downloads", d.Served())
			}
		})
	}
}

// TestILOrestAndProviderBackUpTheSameILO has the provider's backup job and iLOrest
// back up one simulated iLO in turn, then restores each file with the other tool:
// the provider's backup with iLOrest, iLOrest's password-protected backup with the
// provider. The iLO is reachable on port 443 of a random loopback address for
// iLOrest and on 127.0.0.1 (which the test certificate names) for the provider, as an
// iLO behind a port forward is.
func TestILOrestAndProviderBackUpTheSameILO(t *testing.T) {
	d, host := startOn443(t, Config{Name: "shared-ilo", BackupSize: 200 << 10, ResetDuration: 300 * time.Millisecond})
	ca := devicesim.SharedCA(t)
	l, err := ca.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l, d)
	port := l.Addr().(*net.TCPAddr).Port
	x := newILOrest(t, "https://"+host, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	hc, err := client.New(client.Config{CACertPEM: string(ca.CertPEM), RetryMax: 1, RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	newRC := func() *redfish.Client {
		rc, err := redfish.New(hc, redfish.Config{Host: "127.0.0.1", Port: port, Username: d.Username(), Password: d.Password()})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	store, err := backupstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}

	// 1. The provider backs up.
	res, err := backupjob.RunILO(ctx, store, backupjob.ILORequest{ILO: newRC(), Target: backupjob.Target{Host: "127.0.0.1", Port: port}})
	if err != nil {
		t.Fatal(err)
	}
	provFile, ok := res.Backup.File(backupjob.KindILOBackup)
	if !ok {
		t.Fatalf("no backup file in %+v", res.Backup)
	}
	if served := wantServedAs(t, d, provFile.Path, res.DeviceFileName, false); served.SHA256 != provFile.SHA256 {
		t.Fatalf("the store records SHA-256 %s, the simulator served %s", provFile.SHA256, served.SHA256)
	}

	// 2. iLOrest backs up, with a backup password.
	const filePass = "Shared-File-Pass1"
	work := t.TempDir()
	x.must(work, "login", x.url, "-u", d.Username(), "-p", d.Password())
	x.must(work, "backuprestore", "backup", "--filepass", filePass)
	ilorestFile := onlyBackup(t, work)
	wantServed(t, d, ilorestFile, true)

	// 3. iLOrest restores the provider's backup.
	x.must(work, "backuprestore", "restore", "-f", provFile.Path)
	if r := d.LastRestore(); d.Restores() != 1 || r.SHA256 != provFile.SHA256 || r.MatchedBackup != res.DeviceFileName || r.PasswordProtected {
		t.Fatalf("restores %d, last %+v: want the provider's backup %s", d.Restores(), r, provFile.SHA256)
	}
	waitReset(t, d)

	// 4. The provider restores iLOrest's backup (its name carries the serial).
	rres, err := ilorestore.Run(ctx, ilorestore.Request{ILO: newRC(), File: ilorestFile, BackupPassword: filePass, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rres.File.Serial != d.Serial() || rres.File.SerialSource != ilorestore.SerialFromFileName {
		t.Fatalf("the provider read serial %q from %s", rres.File.Serial, rres.File.SerialSource)
	}
	wantRestored(t, d, 2, ilorestFile, true)
	if d.InReset() {
		t.Fatal("the provider's restore returned before the iLO was back")
	}
	if n := d.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions open at the end", n)
	}
}

// wantServedAs is wantServed for a file stored under another name than the iLO's.
func wantServedAs(t *testing.T, d *ILO, file, deviceName string, protected bool) ServedImage {
	t.Helper()
	sum := fileSHA256(t, file)
	for _, s := range d.Served() {
		if s.SHA256 == sum {
			if s.Name != deviceName || s.PasswordProtected != protected {
				t.Fatalf("%s was served as %+v", file, s)
			}
			return s
		}
	}
	t.Fatalf("the simulator never served the bytes of %s (SHA-256 %s); it served %+v", file, sum, d.Served())
	return ServedImage{}
}
