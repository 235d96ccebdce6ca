package redfish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// Integration tests against the iLO simulator (internal/devicesim/ilo).

// startSim starts a simulated iLO and returns it with a Client for it. At the end of
// the test it checks that every session the client opened was closed: the device
// saw no open session and logins == logouts + expired.
func startSim(t *testing.T, cfg ilo.Config) (*ilo.Server, *Client) {
	t.Helper()
	ca := testkit.CA(t)
	srv, err := ilo.Start(ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer srv.Close()
		st := srv.ILO.Stats.Snapshot()
		if st.OpenSessions != 0 || st.Logins != st.Logouts+st.ExpiredSessions {
			t.Errorf("sessions left behind: open=%d logins=%d logouts=%d expired=%d",
				st.OpenSessions, st.Logins, st.Logouts, st.ExpiredSessions)
		}
	})
	return srv, simClient(t, srv, srv.ILO.Password())
}

func simClient(t *testing.T, srv *ilo.Server, password string) *Client {
	t.Helper()
	c, err := New(httpClient(t, testkit.CA(t).CertPEM), Config{
		Host: srv.Host, Port: srv.Port, Username: srv.ILO.Username(), Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// download reads a backup into w and returns its hex SHA-256 and length.
func download(ctx context.Context, c *Client, location, password string, w io.Writer) (string, int64, int64, error) {
	body, size, err := c.OpenBackup(ctx, location, password)
	if err != nil {
		return "", 0, 0, err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, w), body)
	return hex.EncodeToString(h.Sum(nil)), n, size, err
}

func TestSimDiscover(t *testing.T) {
	for _, tc := range []struct {
		gen, model, svc string
	}{
		{ilo.ILO5, "ProLiant DL360 Gen10", "/redfish/v1/Managers/1/BackupRestoreService/"},
		{ilo.ILO6, "ProLiant DL360 Gen11", "/redfish/v1/Managers/1/BackupRestoreService"},
		{ilo.ILO7, "ProLiant DL360 Gen12", "/redfish/v1/Managers/1/BackupRestoreService"},
	} {
		t.Run(tc.gen, func(t *testing.T) {
			srv, c := startSim(t, ilo.Config{Name: "disc-" + tc.gen, Generation: tc.gen})
			ctx := testCtx(t)
			var m Manager
			err := client.With(ctx, c.Session(), func(ctx context.Context) (err error) {
				m, err = c.Discover(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := Manager{Generation: tc.gen, Firmware: srv.ILO.Firmware(), Serial: srv.ILO.Serial(), Model: tc.model, BackupRestoreServicePath: tc.svc}
			if m != want {
				t.Fatalf("Discover = %+v, want %+v", m, want)
			}
			if n := srv.ILO.Stats.Snapshot().Calls[ilo.EndpointServiceGet]; n != 0 {
				t.Fatalf("Discover read the backup service %d times (each read writes a backup)", n)
			}
		})
	}
}

func TestSimBackupDownload(t *testing.T) {
	const size = 3<<20 + 12345
	srv, c := startSim(t, ilo.Config{Name: "dl", Generation: ilo.ILO5, BackupSize: size})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		name := path.Base(svc.BackupFileLocation)
		if !strings.HasPrefix(svc.BackupFileLocation, "/bkupdata/HPE_"+srv.ILO.Serial()+"_") || name != srv.ILO.CurrentBackup() {
			t.Fatalf("BackupFileLocation = %q (current backup %q)", svc.BackupFileLocation, srv.ILO.CurrentBackup())
		}
		if svc.HttpPushUri != ilo.HTTPPushURI || svc.ETag != srv.ILO.ETag() ||
			svc.CustomBackupAndRestore == nil || *svc.CustomBackupAndRestore {
			t.Fatalf("service = %+v", svc)
		}
		sum, n, clen, err := download(ctx, c, svc.BackupFileLocation, "", io.Discard)
		if err != nil {
			return err
		}
		if n != size || clen != size {
			t.Fatalf("downloaded %d bytes, Content-Length %d, want %d", n, clen, size)
		}
		if served := srv.ILO.ServedBackups()[name]; served != sum {
			t.Fatalf("sha256 %s, the simulator served %s", sum, served)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimPasswordProtectedDownload(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "pw", BackupSize: 256 << 10})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		plain, _, _, err := download(ctx, c, svc.BackupFileLocation, "", io.Discard)
		if err != nil {
			return err
		}
		prot, _, _, err := download(ctx, c, svc.BackupFileLocation, "Backup-Pass-32-chars-long-xxxxxx", io.Discard)
		if err != nil {
			return err
		}
		served := srv.ILO.Served()
		last := served[len(served)-1]
		if !last.PasswordProtected || last.SHA256 != prot || prot == plain {
			t.Fatalf("protected download: served %+v, got %s (plain %s)", last, prot, plain)
		}
		st := srv.ILO.Stats.Snapshot()
		if st.Calls[ilo.EndpointDownloadPost] != 1 || st.Calls[ilo.EndpointDownloadGet] != 1 {
			t.Fatalf("calls = %v", st.Calls)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimCustomBackupAndRestoreFlag(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "flag"})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		before := srv.ILO.ETag()
		if err := c.SetCustomBackupAndRestore(ctx, true); err != nil {
			return err
		}
		if !srv.ILO.CustomBackupAndRestore() || srv.ILO.ETag() == before {
			t.Fatalf("flag %v, ETag %s (before %s)", srv.ILO.CustomBackupAndRestore(), srv.ILO.ETag(), before)
		}
		if err := c.SetCustomBackupAndRestore(ctx, true); err != nil { // no change: no PATCH
			return err
		}
		if err := c.SetCustomBackupAndRestore(ctx, false); err != nil {
			return err
		}
		if srv.ILO.CustomBackupAndRestore() {
			t.Fatal("flag still set")
		}
		if n := srv.ILO.Stats.Snapshot().Calls[ilo.EndpointServicePatch]; n != 2 {
			t.Fatalf("PATCHes = %d, want 2", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimFlagRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ilo.Config
		want []string
	}{
		{"old firmware", ilo.Config{Name: "old", Generation: ilo.ILO5, OldFirmware: true}, []string{"no CustomBackupandRestore property", "2.72"}},
		{"FIPS", ilo.Config{Name: "fips", FIPS: true}, []string{"HTTP 400", "security state", "iLO.2.18.UnsupportedSecurityState"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startSim(t, tc.cfg)
			ctx := testCtx(t)
			err := client.With(ctx, c.Session(), func(ctx context.Context) error {
				return c.SetCustomBackupAndRestore(ctx, true)
			})
			if de := deviceErr(t, err); de.Step != "set CustomBackupandRestore" {
				t.Fatalf("step %q", de.Step)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// backupToFile downloads the current backup into dir and returns its path, name,
// size and SHA-256.
func backupToFile(ctx context.Context, t *testing.T, c *Client, dir, password string) (file, name string, size int64, sum string, pushURI string) {
	t.Helper()
	svc, err := c.ReadBackupService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name = path.Base(svc.BackupFileLocation)
	file = filepath.Join(dir, name)
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sum, size, _, err = download(ctx, c, svc.BackupFileLocation, password, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return file, name, size, sum, svc.HttpPushUri
}

func openFile(p string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(p) }
}

func TestSimRestoreRoundTrip(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "rt", Generation: ilo.ILO5, BackupSize: 2 << 20, ResetDuration: 400 * time.Millisecond})
	ctx := testCtx(t)
	dir := t.TempDir()
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		file, name, size, sum, push := backupToFile(ctx, t, c, dir, "")
		if err := c.Restore(ctx, push, openFile(file), size, file, ""); err != nil {
			return err
		}
		if !srv.ILO.InReset() {
			t.Error("the simulator is not resetting after an accepted restore")
		}
		if err := c.WaitReady(ctx, 50*time.Millisecond); err != nil {
			return err
		}
		r := srv.ILO.LastRestore()
		if r == nil || r.SHA256 != sum || r.Size != size || r.MatchedBackup != name || r.Serial != srv.ILO.Serial() || r.PasswordProtected {
			t.Fatalf("restore = %+v, want sha %s size %d of %s", r, sum, size, name)
		}
		// The client works again after the reset (it logs in anew).
		_, err := c.Discover(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.ILO.Stats.Snapshot()
	if st.Calls[ilo.EndpointRestoreUpload] != 1 || st.ExpiredSessions < 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSimRestoreWithPassword(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "rtpw", BackupSize: 512 << 10, ResetDuration: 300 * time.Millisecond})
	ctx := testCtx(t)
	dir := t.TempDir()
	const pw = "correct horse battery"
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		file, _, size, sum, push := backupToFile(ctx, t, c, dir, pw)
		for _, wrong := range []string{"", "incorrect"} {
			err := c.Restore(ctx, push, openFile(file), size, file, wrong)
			if de := deviceErr(t, err); de.Step != "restore upload" || !strings.Contains(err.Error(), "backup password is wrong or missing") {
				t.Fatalf("wrong password %q: %v", wrong, err)
			}
			assertNoSecrets(t, err.Error(), pw)
		}
		if srv.ILO.Restores() != 0 {
			t.Fatal("a restore with a wrong password was accepted")
		}
		if err := c.Restore(ctx, push, openFile(file), size, file, pw); err != nil {
			return err
		}
		if err := c.WaitReady(ctx, 50*time.Millisecond); err != nil {
			return err
		}
		if r := srv.ILO.LastRestore(); r == nil || r.SHA256 != sum || !r.PasswordProtected {
			t.Fatalf("restore = %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimWaitReadyTimeout(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "slow", BackupSize: 64 << 10, ResetDuration: 5 * time.Second})
	ctx := testCtx(t)
	dir := t.TempDir()
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		file, _, size, _, push := backupToFile(ctx, t, c, dir, "")
		if err := c.Restore(ctx, push, openFile(file), size, file, ""); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
		defer cancel()
		return c.WaitReady(wctx, 50*time.Millisecond)
	})
	de := deviceErr(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || de.Step != "wait for reset" || !strings.Contains(err.Error(), "did not come back") {
		t.Fatalf("error = %v", err)
	}
	if !srv.ILO.InReset() {
		t.Fatal("expected the simulator to be still resetting")
	}
}

func TestSimSessionExpiresMidway(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "exp"})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		if _, err := c.Discover(ctx); err != nil {
			return err
		}
		srv.ILO.ExpireAllSessions()
		_, err := c.ReadBackupService(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.ILO.Stats.Snapshot(); st.Logins != 2 || st.ExpiredSessions != 1 || st.Logouts != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSimSessionLimitAndRelativeLocation(t *testing.T) {
	srv, a := startSim(t, ilo.Config{Name: "limit", MaxSessions: 1, RelativeLocation: true})
	ctx := testCtx(t)
	b := simClient(t, srv, srv.ILO.Password())
	err := client.With(ctx, a.Session(), func(ctx context.Context) error {
		err := b.Session().Open(ctx)
		de := deviceErr(t, err)
		if de.Step != "log in" || de.HTTPStatus != 503 || !strings.Contains(err.Error(), "all session slots") {
			t.Fatalf("second session: %v", err)
		}
		_, err = a.Discover(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" || a.sessionPath != "" {
		t.Fatal("session state kept after logout")
	}
}

func TestSimLoginFailures(t *testing.T) {
	srv, _ := startSim(t, ilo.Config{Name: "creds", LoginDelay: 200 * time.Millisecond})
	c := simClient(t, srv, "wrong-password-1")
	ctx := testCtx(t)
	var last error
	for i := 0; i < 3; i++ {
		last = c.Session().Open(ctx)
		if last == nil {
			t.Fatal("login with a wrong password succeeded")
		}
		assertNoSecrets(t, last.Error(), "wrong-password-1", srv.ILO.Password())
		if i == 0 && !strings.Contains(last.Error(), "check the ilo username and password") {
			t.Fatalf("first failure: %v", last)
		}
	}
	if !strings.Contains(last.Error(), "delaying logins") || !strings.Contains(last.Error(), "wait") {
		t.Fatalf("third failure: %v", last)
	}
}

func TestSimUnsafeBackupLocation(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "evil", BackupLocation: "/bkupdata/../../etc/shadow"})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		_, _, err = c.OpenBackup(ctx, svc.BackupFileLocation, "")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `unsafe backup location "/bkupdata/../../etc/shadow"`) {
		t.Fatalf("error = %v", err)
	}
	st := srv.ILO.Stats.Snapshot()
	if st.Calls[ilo.EndpointDownloadGet]+st.Calls[ilo.EndpointDownloadPost] != 0 {
		t.Fatal("followed an unsafe location")
	}
}

func TestSimDownloadCutIsAnError(t *testing.T) {
	_, c := startSim(t, ilo.Config{Name: "cut", BackupSize: 1 << 20, ResetDownloadAfter: 100_000})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		_, n, _, err := download(ctx, c, svc.BackupFileLocation, "", io.Discard)
		if err == nil {
			t.Fatalf("a download cut after %d bytes read as complete", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimFaults(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "faults"})
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		srv.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultMalformedJSON, PathPrefix: "/redfish/v1/Managers/1/BackupRestoreService", Method: "GET", Times: 1})
		_, err := c.ReadBackupService(ctx)
		if de := deviceErr(t, err); de.Step != "read backup service" || !strings.Contains(err.Error(), "malformed JSON") {
			t.Fatalf("malformed JSON: %v", err)
		}
		srv.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: "/redfish/v1/Managers/1/BackupRestoreService", Method: "GET"})
		_, err = c.ReadBackupService(ctx)
		if de := deviceErr(t, err); de.HTTPStatus != 500 || !strings.Contains(err.Error(), "500 Internal Server Error") {
			t.Fatalf("HTML error: %v", err)
		}
		srv.ILO.Faults.Clear()
		// A transient 503 on a GET is retried by the transport.
		srv.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultServerError, PathPrefix: "/redfish/v1/Systems", Times: 1})
		_, err = c.Discover(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The upload CGI refuses an expired session before reading the body: the client must
// see that answer (not a broken pipe), log in again and upload the file anew.
func TestSimRestoreAfterSessionExpired(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "rtexp", BackupSize: 4 << 20, ResetDuration: 300 * time.Millisecond})
	ctx := testCtx(t)
	dir := t.TempDir()
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		file, _, size, sum, push := backupToFile(ctx, t, c, dir, "")
		srv.ILO.ExpireAllSessions()
		opens := 0
		open := func() (io.ReadCloser, error) { opens++; return os.Open(file) }
		if err := c.Restore(ctx, push, open, size, file, ""); err != nil {
			return err
		}
		if opens != 2 {
			t.Errorf("backup opened %d times, want 2 (one re-login)", opens)
		}
		if err := c.WaitReady(ctx, 50*time.Millisecond); err != nil {
			return err
		}
		if r := srv.ILO.LastRestore(); r == nil || r.SHA256 != sum {
			t.Fatalf("restore = %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
