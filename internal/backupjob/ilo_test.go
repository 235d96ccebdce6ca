package backupjob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

const (
	testILOUser = "backup-operator"
	testILOPass = "iLO-S3cret-Pw!"
)

type iloFixture struct {
	srv   *ilosim.Server
	store *backupstore.Store
	root  string
	rc    *redfish.Client
	caPEM []byte
}

func newILOFixture(t *testing.T, cfg ilosim.Config) *iloFixture {
	t.Helper()
	ca := testkit.CA(t)
	cfg.Username, cfg.Password = testILOUser, testILOPass
	if cfg.BackupSize == 0 {
		cfg.BackupSize = 300 << 10
	}
	srv, err := ilosim.Start(ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if n := srv.ILO.OpenSessions(); n != 0 {
			t.Errorf("%d sessions left open on the iLO", n)
		}
	})
	hc, err := client.New(client.Config{CACertPEM: string(ca.CertPEM), RetryMax: 1, RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := redfish.New(hc, redfish.Config{Host: srv.Host, Port: srv.Port, Username: testILOUser, Password: testILOPass})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "store")
	store, err := backupstore.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return &iloFixture{srv: srv, store: store, root: root, rc: rc, caPEM: ca.CertPEM}
}

func (f *iloFixture) run(t *testing.T, name, password string) (ILOResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return RunILO(ctx, f.store, ILORequest{ILO: f.rc, Target: Target{Host: f.srv.Host, Port: f.srv.Port}, Name: name, BackupPassword: password})
}

func TestRunILOStoresTheServedBytes(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-a", Generation: ilosim.ILO5})
	res, err := f.run(t, "", "")
	if err != nil {
		t.Fatal(err)
	}
	d := f.srv.ILO
	if res.Backup.Device != d.Serial() {
		t.Errorf("default folder %q, want the serial %q", res.Backup.Device, d.Serial())
	}
	bf, ok := res.Backup.File(KindILOBackup)
	if !ok {
		t.Fatalf("no %s file in %+v", KindILOBackup, res.Backup.Files)
	}
	want, served := d.ServedBackups()[res.DeviceFileName]
	if !served {
		t.Fatalf("the simulator did not serve %q completely (served: %v)", res.DeviceFileName, d.ServedBackups())
	}
	data, err := os.ReadFile(bf.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want || bf.SHA256 != want {
		t.Errorf("sha256 on disk %s, recorded %s, served %s", got, bf.SHA256, want)
	}
	if !strings.HasPrefix(res.DeviceFileName, "HPE_"+d.Serial()+"_") || strings.Contains(bf.Path, res.DeviceFileName) {
		t.Errorf("device file name %q must be recorded as data only (local path %s)", res.DeviceFileName, bf.Path)
	}
	for k, v := range map[string]string{AttrSerial: d.Serial(), AttrGeneration: "iLO 5", AttrFirmware: d.Firmware(), AttrProtected: "false"} {
		if res.Backup.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, res.Backup.Attributes[k], v)
		}
	}
	if st := d.Stats.Snapshot(); st.Logins != 1 || st.Logouts != 1 {
		t.Errorf("want one login and one logout, got %+v", st)
	}
}

func TestRunILOPasswordProtected(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-p"})
	res, err := f.run(t, "named", "Backup-Pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	served := f.srv.ILO.Served()
	if len(served) != 1 || !served[0].PasswordProtected {
		t.Fatalf("want one password-protected image served, got %+v", served)
	}
	if bf, _ := res.Backup.File(KindILOBackup); bf.SHA256 != served[0].SHA256 || res.Backup.Device != "named" {
		t.Errorf("recorded %+v in %q, served %+v", bf, res.Backup.Device, served[0])
	}
	if res.Backup.Attributes[AttrProtected] != "true" {
		t.Errorf("attributes %v must say protected", res.Backup.Attributes)
	}
	sidecar, err := os.ReadFile(f.store.SidecarPath(res.Backup))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sidecar), "Backup-Pw-0123456789") || strings.Contains(string(sidecar), testILOPass) {
		t.Error("the backup record holds a password")
	}
}

func TestRunILOFailuresLeaveNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*ilosim.ILO)
		want  string
	}{
		{"traversal", func(d *ilosim.ILO) { d.SetBackupLocation("/bkupdata/../../x") }, "unsafe backup location"},
		{"other host", func(d *ilosim.ILO) { d.SetBackupLocation("//other-host/x") }, "unsafe backup location"},
		{"absolute URL", func(d *ilosim.ILO) { d.SetBackupLocation("https://other-host/bkupdata/x.bak") }, "unsafe backup location"},
		{"reset mid-download", func(d *ilosim.ILO) { d.SetResetDownloadAfter(100 << 10) }, "download backup failed"},
		{"too long password", nil, "at most 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newILOFixture(t, ilosim.Config{Name: "ilo-f"})
			password := ""
			if tc.setup != nil {
				tc.setup(f.srv.ILO)
			} else {
				password = strings.Repeat("x", 33)
			}
			_, err := f.run(t, "", password)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			t.Logf("error: %v", err)
			files := testkit.FilesUnder(t, f.root)
			if password != "" {
				// Refused before the iLO was contacted: nothing was attempted.
				if len(files) != 0 {
					t.Errorf("a refused backup left files behind: %v", files)
				}
			} else if len(files) != 1 || !strings.HasSuffix(files[0], ".failed.json") ||
				!strings.Contains(filepath.ToSlash(files[0]), "ilo/"+f.srv.ILO.Serial()+"/") {
				t.Errorf("a failed backup must leave only its failure record, beside the device's backups: %v", files)
			}
			if _, err := f.store.Latest(context.Background(), backupstore.FamilyILO, f.srv.ILO.Serial()); err == nil {
				t.Error("a failed backup is listed as complete")
			}
		})
	}
}
