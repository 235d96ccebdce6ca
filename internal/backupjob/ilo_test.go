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
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit/fixture"
)

// iloFixture is a simulated iLO, a client for it and a store (fixture.ILO), with
// this package's operations on them.
type iloFixture struct{ *fixture.ILO }

func newILOFixture(t *testing.T, cfg ilosim.Config) *iloFixture {
	return &iloFixture{fixture.StartILO(t, cfg)}
}

func (f *iloFixture) run(t *testing.T, name, password string) (ILOResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return RunILO(ctx, f.Store, ILORequest{ILO: f.Client, Target: Target{Host: f.Server.Host, Port: f.Server.Port}, Name: name, BackupPassword: password})
}

func TestRunILOStoresTheServedBytes(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-a", Generation: ilosim.ILO5})
	res, err := f.run(t, "", "")
	if err != nil {
		t.Fatal(err)
	}
	d := f.Server.ILO
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
	served := f.Server.ILO.Served()
	if len(served) != 1 || !served[0].PasswordProtected {
		t.Fatalf("want one password-protected image served, got %+v", served)
	}
	if bf, _ := res.Backup.File(KindILOBackup); bf.SHA256 != served[0].SHA256 || res.Backup.Device != "named" {
		t.Errorf("recorded %+v in %q, served %+v", bf, res.Backup.Device, served[0])
	}
	if res.Backup.Attributes[AttrProtected] != "true" {
		t.Errorf("attributes %v must say protected", res.Backup.Attributes)
	}
	sidecar, err := os.ReadFile(f.Store.SidecarPath(res.Backup))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sidecar), "Backup-Pw-0123456789") || strings.Contains(string(sidecar), fixture.ILOPassword) {
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
				tc.setup(f.Server.ILO)
			} else {
				password = strings.Repeat("x", 33)
			}
			_, err := f.run(t, "", password)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			t.Logf("error: %v", err)
			files := testkit.FilesUnder(t, f.Root)
			if password != "" {
				// Refused before the iLO was contacted: nothing was attempted.
				if len(files) != 0 {
					t.Errorf("a refused backup left files behind: %v", files)
				}
			} else if len(files) != 1 || !strings.HasSuffix(files[0], ".failed.json") ||
				!strings.Contains(filepath.ToSlash(files[0]), "ilo/"+f.Server.ILO.Serial()+"/") {
				t.Errorf("a failed backup must leave only its failure record, beside the device's backups: %v", files)
			}
			if _, err := f.Store.Latest(context.Background(), backupstore.FamilyILO, f.Server.ILO.Serial()); err == nil {
				t.Error("a failed backup is listed as complete")
			}
		})
	}
}
