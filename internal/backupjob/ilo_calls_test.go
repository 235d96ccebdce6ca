package backupjob

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// ILOBackupCalls is every request an iLO backup makes, in order, once each: what a
// backup needs and nothing more. The bench reports their number.
var iloBackupCalls = []string{
	ilosim.EndpointLogin,      // one session
	ilosim.EndpointManager,    // the link to the backup service; generation and firmware
	ilosim.EndpointSystem,     // the serial number: the backup's folder, and what a restore checks
	ilosim.EndpointServiceGet, // makes the iLO write a backup; BackupFileLocation
	ilosim.EndpointDownloadGet,
	ilosim.EndpointLogout,
}

// wantCalls compares what the simulated iLO saw with want, endpoint by endpoint.
func wantCalls(t *testing.T, d *ilosim.ILO, want []string) {
	t.Helper()
	wanted := map[string]int64{}
	for _, e := range want {
		wanted[e]++
	}
	got := d.Stats.Snapshot().Calls
	var diff []string
	for e, n := range got {
		if wanted[e] != n {
			diff = append(diff, fmt.Sprintf("%s: %d, want %d", e, n, wanted[e]))
		}
	}
	for e, n := range wanted {
		if _, ok := got[e]; !ok {
			diff = append(diff, fmt.Sprintf("%s: 0, want %d", e, n))
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		t.Fatalf("the iLO saw other calls than a backup needs:\n%s", strings.Join(diff, "\n"))
	}
}

func TestRunILOMakesOnlyTheCallsABackupNeeds(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		f := newILOFixture(t, ilosim.Config{Name: "ilo-calls"})
		if _, err := f.run(t, "", ""); err != nil {
			t.Fatal(err)
		}
		wantCalls(t, f.Server.ILO, iloBackupCalls)
	})
	t.Run("password", func(t *testing.T) {
		f := newILOFixture(t, ilosim.Config{Name: "ilo-calls-pw"})
		if _, err := f.run(t, "", "Backup-Pw-1"); err != nil {
			t.Fatal(err)
		}
		calls := append([]string(nil), iloBackupCalls...)
		for i, c := range calls {
			if c == ilosim.EndpointDownloadGet {
				calls[i] = ilosim.EndpointDownloadPost // a protected backup is a multipart POST
			}
		}
		wantCalls(t, f.Server.ILO, calls)
	})
}

// An iLO that links its BackupFiles collection but does not serve it (404) is backed
// up all the same: a backup does not need the collection.
func TestRunILOWithUnservedBackupFiles(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-nofiles", BackupFilesMissing: true})
	res, err := f.run(t, "", "")
	if err != nil {
		t.Fatal(err)
	}
	bf, ok := res.Backup.File(KindILOBackup)
	if want := f.Server.ILO.ServedBackups()[res.DeviceFileName]; !ok || want == "" || bf.SHA256 != want {
		t.Fatalf("stored %+v, served %v", bf, f.Server.ILO.ServedBackups())
	}
	for k, v := range map[string]string{AttrSerial: f.Server.ILO.Serial(), AttrGeneration: f.Server.ILO.Generation(), AttrFirmware: f.Server.ILO.Firmware()} {
		if res.Backup.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, res.Backup.Attributes[k], v)
		}
	}
}
