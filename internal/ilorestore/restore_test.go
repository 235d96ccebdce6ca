package ilorestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit/fixture"
)

func TestSerialFromHPEFileName(t *testing.T) {
	for name, want := range map[string]string{
		"HPE_TWA22525A7_20221208_1512.bak":     "TWA22525A7",
		"HPE_CZ2D1F0ABC_20250131_2359.bak":     "CZ2D1F0ABC",
		"HPE_TWA22525A7_20221308_1512.bak":     "", // month 13
		"HPE_TWA22525A7_20221208_2512.bak":     "", // hour 25
		"HPE_TWA22525A7_20221208_1512.bin":     "",
		"HPE__20221208_1512.bak":               "",
		"HPE_TWA/2525A7_20221208_1512.bak":     "",
		"HPE_TWA22525A7_20221208_1512.bak.gz":  "",
		"20261125T101500.123Z-ilo-backup.bak":  "",
		"HPE_TWA22525A7_20221208_1512 (1).bak": "",
		"":                                     "",
	} {
		if got := SerialFromHPEFileName(name); got != want {
			t.Errorf("SerialFromHPEFileName(%q) = %q, want %q", name, got, want)
		}
	}
}

// iloFixture is a simulated iLO, a client for it and a store (fixture.ILO), with
// this package's operations on them.
type iloFixture struct{ *fixture.ILO }

func newILOFixture(t *testing.T, cfg ilosim.Config) *iloFixture {
	return &iloFixture{fixture.StartILO(t, cfg)}
}

// backup takes a backup of the iLO into the fixture's store, as infrabackup_ilo_backup does.
func (f *iloFixture) backup(t *testing.T, password string) (backupjob.ILOResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return backupjob.RunILO(ctx, f.Store, backupjob.ILORequest{ILO: f.Client, Target: backupjob.Target{Host: f.Server.Host, Port: f.Server.Port}, BackupPassword: password})
}

func (f *iloFixture) restore(t *testing.T, file, password string, allow bool) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, Request{
		ILO: f.Client, Store: f.Store, File: file, BackupPassword: password,
		AllowDifferentServer: allow, Poll: 20 * time.Millisecond,
	})
}

// writeImage writes a simulator image of serial to dir/name and returns its path and SHA-256.
func writeImage(t *testing.T, dir, name, serial string, size int64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	h := sha256.New()
	data, err := io.ReadAll(io.TeeReader(ilosim.GenerateImage(ilosim.ImageInfo{Serial: serial, ManagerType: ilosim.ILO6, Firmware: "1.70", BackupID: 7, Size: size}, ""), h))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

func refusedErr(t *testing.T, err error, want ...string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want a RefusedError, got %T: %v", err, err)
	}
	t.Logf("refused: %v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestRunILORestoreRoundTrip(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-rt", ResetDuration: 100 * time.Millisecond})
	b, err := f.backup(t, "")
	if err != nil {
		t.Fatal(err)
	}
	bf, _ := b.Backup.File(backupjob.KindILOBackup)
	before := f.Server.ILO.Stats.Snapshot()
	res, err := f.restore(t, bf.Path, "", false)
	if err != nil {
		t.Fatal(err)
	}
	d := f.Server.ILO
	r := d.LastRestore()
	if d.Restores() != 1 || r == nil || r.SHA256 != bf.SHA256 || r.MatchedBackup != b.DeviceFileName || r.Serial != d.Serial() {
		t.Fatalf("restore %+v (count %d), want the backed-up bytes %s of %s", r, d.Restores(), bf.SHA256, b.DeviceFileName)
	}
	if !res.File.Recorded || res.File.SHA256 != bf.SHA256 || res.File.Serial != d.Serial() || res.File.SerialSource != SerialFromRecord ||
		res.File.UploadName != b.DeviceFileName || res.Manager.Serial != d.Serial() || res.AcceptedAt.IsZero() || res.ReadyAt.Before(res.AcceptedAt) {
		t.Errorf("result %+v", res)
	}
	if d.InReset() {
		t.Error("Run returned while the iLO was still resetting")
	}
	st := d.Stats.Snapshot()
	if n := st.Calls[ilosim.EndpointRestoreUpload] - before.Calls[ilosim.EndpointRestoreUpload]; n != 1 {
		t.Errorf("%d uploads, want 1", n)
	}
	// One session for the restore (ended by the iLO), at least one probe (logged out).
	if st.Logins-before.Logins < 2 || st.Logouts-before.Logouts < 1 {
		t.Errorf("sessions before %+v after %+v", before, st)
	}
}

func TestRunILORestorePassword(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-rpw", ResetDuration: 50 * time.Millisecond})
	const pw = "Restore-Pw-1234"
	b, err := f.backup(t, pw)
	if err != nil {
		t.Fatal(err)
	}
	bf, _ := b.Backup.File(backupjob.KindILOBackup)
	d := f.Server.ILO

	// The record says protected: no password is refused before any device call.
	calls := d.Stats.Snapshot().TotalCalls()
	_, err = f.restore(t, bf.Path, "", false)
	refusedErr(t, err, "taken with a backup password", "backup_password_wo")
	if got := d.Stats.Snapshot().TotalCalls(); got != calls {
		t.Errorf("a local refusal made %d device calls", got-calls)
	}
	// A wrong password reaches the iLO, which refuses it.
	_, err = f.restore(t, bf.Path, "wrong-password", false)
	if err == nil || !strings.Contains(err.Error(), "refused the backup password") {
		t.Fatalf("want the iLO's password refusal, got %v", err)
	}
	if d.Restores() != 0 {
		t.Fatal("a wrong password restored")
	}
	if _, err := f.restore(t, bf.Path, pw, false); err != nil {
		t.Fatal(err)
	}
	if r := d.LastRestore(); r == nil || r.SHA256 != bf.SHA256 || !r.PasswordProtected {
		t.Errorf("restore %+v", r)
	}
}

func TestRunILORestoreSerialChecks(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-serial", ResetDuration: 50 * time.Millisecond})
	d := f.Server.ILO
	dir := t.TempDir()
	const size = 64 << 10

	// Another server's backup, named by the iLO: refused after discovery, naming both serials.
	other, otherSum := writeImage(t, dir, "HPE_XYZ98765Q1_20250101_1200.bak", "XYZ98765Q1", size)
	_, err := f.restore(t, other, "", false)
	refusedErr(t, err, "XYZ98765Q1", d.Serial(), "allow_different_server")
	if d.Restores() != 0 || d.Stats.Snapshot().Calls[ilosim.EndpointRestoreUpload] != 0 {
		t.Fatal("a refused restore was uploaded")
	}
	// A file name that says nothing: refused before any device call.
	unnamed, _ := writeImage(t, dir, "config.bak", "XYZ98765Q1", size)
	calls := d.Stats.Snapshot().TotalCalls()
	_, err = f.restore(t, unnamed, "", false)
	refusedErr(t, err, "serial number", "unknown", "allow_different_server")
	if got := d.Stats.Snapshot().TotalCalls(); got != calls {
		t.Errorf("a local refusal made %d device calls", got-calls)
	}
	// The opt-in restores it.
	res, err := f.restore(t, other, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.LastRestore(); r == nil || r.SHA256 != otherSum || r.Serial != "XYZ98765Q1" || res.File.SerialSource != SerialFromFileName || res.File.Recorded {
		t.Errorf("restore %+v, result %+v", r, res.File)
	}
	// The same server's image under its iLO name is accepted without the opt-in.
	same, sameSum := writeImage(t, dir, "HPE_"+d.Serial()+"_20250101_1300.bak", d.Serial(), size)
	if _, err := f.restore(t, same, "", false); err != nil {
		t.Fatal(err)
	}
	if r := d.LastRestore(); r == nil || r.SHA256 != sameSum {
		t.Errorf("restore %+v", r)
	}
}

func TestCheckILORestoreFileRefusals(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-check"})
	b, err := f.backup(t, "")
	if err != nil {
		t.Fatal(err)
	}
	bf, _ := b.Backup.File(backupjob.KindILOBackup)
	dir := t.TempDir()
	empty := filepath.Join(dir, "HPE_TWA22525A7_20221208_1512.bak")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(f.Root, "ilo", b.Backup.Device, "20990101T000000.000Z-ilo-backup.bak")
	if err := os.WriteFile(stray, []byte("not recorded"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.bak"), []string{"does not exist", "local_path"}},
		{"folder", dir, []string{"is a folder"}},
		{"empty", empty, []string{"is empty"}},
		{"stray file in the store", stray, []string{"in the backup store, but no complete backup records it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckFile(f.Store, tc.path)
			refusedErr(t, err, tc.want...)
		})
	}

	// Recorded and untouched: the record's facts.
	got, err := CheckFile(f.Store, bf.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Recorded || got.SHA256 != bf.SHA256 || got.Size != bf.Size || got.Serial != f.Server.ILO.Serial() || got.Protected == nil || *got.Protected {
		t.Errorf("check %+v", got)
	}

	// Altered in place (same size): the SHA-256 no longer matches the record.
	data, err := os.ReadFile(bf.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(bf.Path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = CheckFile(f.Store, bf.Path)
	refusedErr(t, err, "changed after the backup", bf.SHA256)

	// Truncated: the record no longer loads, and the file is still refused.
	if err := os.WriteFile(bf.Path, data[:len(data)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = CheckFile(f.Store, bf.Path)
	refusedErr(t, err, "no complete backup records it")
}

// TestRestoreUploadStopsWhenTheFileChanges changes the file between the check and the
// upload: the last chunk is withheld, and the iLO restores nothing.
func TestRestoreUploadStopsWhenTheFileChanges(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-race", ResetDuration: 50 * time.Millisecond})
	d := f.Server.ILO
	p, _ := writeImage(t, t.TempDir(), "HPE_"+d.Serial()+"_20250101_1200.bak", d.Serial(), 200<<10)
	checked, err := CheckFile(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0x01 // still a well-formed form, one wrong byte at the very end
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// The reader alone: never hands out the final, unverified chunk.
	rc, err := openVerified(checked)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	_ = rc.Close()
	if err == nil || !strings.Contains(err.Error(), "changed while it was uploaded") || n >= checked.Size {
		t.Fatalf("read %d of %d bytes, err %v", n, checked.Size, err)
	}

	// Through the client: the upload fails and the iLO restores nothing.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = client.With(ctx, f.Client.Session(), func(ctx context.Context) error {
		svc, err := f.Client.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		return f.Client.Restore(ctx, svc.HttpPushUri, func() (io.ReadCloser, error) { return openVerified(checked) }, checked.Size, filepath.Base(p), "")
	})
	if err == nil {
		t.Fatal("the upload of a changed file succeeded")
	}
	t.Logf("upload of a changed file: %v", err)
	if d.Restores() != 0 {
		t.Fatalf("the iLO restored a changed file: %+v", d.LastRestore())
	}
}

func TestRunILORestoreNotBack(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-slow", ResetDuration: time.Minute})
	b, err := f.backup(t, "")
	if err != nil {
		t.Fatal(err)
	}
	bf, _ := b.Backup.File(backupjob.KindILOBackup)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Request{ILO: f.Client, Store: f.Store, File: bf.Path, Poll: 20 * time.Millisecond})
	var nb *AcceptedNotReadyError
	if !errors.As(err, &nb) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ACCEPTED the restore") {
		t.Fatalf("want a AcceptedNotReadyError wrapping the deadline, got %T: %v", err, err)
	}
	if res.AcceptedAt.IsZero() || res.File.SHA256 != bf.SHA256 || f.Server.ILO.Restores() != 1 {
		t.Errorf("result %+v, restores %d", res, f.Server.ILO.Restores())
	}
}

// A file outside the store is hashed as it is, and an iLO file name gives the serial.
func TestCheckILORestoreFileOutsideStore(t *testing.T) {
	store, err := backupstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	p, sum := writeImage(t, t.TempDir(), "HPE_ABC12345Z9_20240229_0000.bak", "ABC12345Z9", 1000)
	got, err := CheckFile(store, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Recorded || got.SHA256 != sum || got.Size != 1000 || got.Serial != "ABC12345Z9" || got.SerialSource != SerialFromFileName || got.Protected != nil {
		t.Errorf("check %+v", got)
	}
}

// A backup named in the store by its id or its key restores with the record's facts;
// a changed byte in the stored file stops the upload before its end (the iLO
// completes no restore); names the store does not hold, and no name or two, are
// refused before the iLO is contacted.
func TestRunILORestoreFromStore(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-from-store", ResetDuration: 100 * time.Millisecond})
	b, err := f.backup(t, "")
	if err != nil {
		t.Fatal(err)
	}
	bf, _ := b.Backup.File(backupjob.KindILOBackup)
	id := b.Backup.Device + "/" + b.Backup.ID
	d := f.Server.ILO
	run := func(req Request) (Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req.ILO, req.Store, req.Poll = f.Client, f.Store, 20*time.Millisecond
		return Run(ctx, req)
	}
	for i, req := range []Request{{BackupID: id}, {BackupKey: bf.Key}} {
		res, err := run(req)
		if err != nil {
			t.Fatalf("restore %+v: %v", req, err)
		}
		r := d.LastRestore()
		if d.Restores() != i+1 || r == nil || r.SHA256 != bf.SHA256 || r.MatchedBackup != b.DeviceFileName {
			t.Fatalf("restore %+v: the iLO has %d restores, last %+v; want the backed-up bytes %s", req, d.Restores(), r, bf.SHA256)
		}
		if !res.File.Recorded || res.File.Stored == nil || res.File.BackupID != id || res.File.Serial != d.Serial() ||
			res.File.SerialSource != SerialFromRecord || res.File.UploadName != b.DeviceFileName {
			t.Errorf("restore %+v: checked file %+v", req, res.File)
		}
	}

	calls := d.Stats.Snapshot().TotalCalls()
	for _, tc := range []struct {
		req  Request
		want []string
	}{
		{Request{}, []string{"no backup was named", "backup_id"}},
		{Request{BackupID: id, BackupKey: bf.Key}, []string{"2 backups were named"}},
		{Request{BackupID: b.Backup.Device + "/20990101T000000.000Z"}, []string{"holds no such complete iLO backup", f.Root}},
		{Request{BackupID: "no-slash"}, []string{"is not a backup id"}},
		{Request{BackupKey: "ilo/" + b.Backup.Device + "/20990101T000000.000Z-ilo-backup.bak"}, []string{"holds no such complete iLO backup"}},
		{Request{BackupKey: "ilo/" + b.Backup.Device + "/" + b.Backup.ID + ".json"}, []string{"is not the key of a backup file", "e.g. ilo/CZ1234567X/20261125T101500.123Z-ilo-backup.bak"}},
		{Request{BackupKey: "aruba/mc1/" + b.Backup.ID + "-running-config.cfg"}, []string{"is not the key of an iLO backup file"}},
	} {
		_, err := run(tc.req)
		refusedErr(t, err, tc.want...)
	}
	_, err = CheckStored(context.Background(), nil, "", bf.Key)
	refusedErr(t, err, "the provider has none", "backup_dir or s3")
	if got := d.Stats.Snapshot().TotalCalls(); got != calls {
		t.Errorf("refused restores made %d calls to the iLO", got-calls)
	}

	// One byte changed in the store, same size: the upload never completes.
	data, err := os.ReadFile(bf.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 0x01
	if err := os.WriteFile(bf.Path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(Request{BackupID: id})
	if err == nil || !strings.Contains(err.Error(), "was changed or damaged after the backup") || !strings.Contains(err.Error(), "withheld") {
		t.Fatalf("restore of a changed file: %v", err)
	}
	// The upload was cut before its last bytes: the iLO restored nothing more. It
	// may or may not have seen the request begin (a connection reset can drop the
	// headers it had not read yet), so the count of uploads is 2 or 3.
	if n := d.Stats.Snapshot().Calls[ilosim.EndpointRestoreUpload]; d.Restores() != 2 || n < 2 || n > 3 {
		t.Errorf("the changed file: %d restores and %d uploads, want 2 restores and no complete upload", d.Restores(), n)
	}
}
