package backupjob

import (
	"errors"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// Once the backup is committed (in the store, visible to data sources), a failed
// logout must not fail the run: store, state and remote would disagree and the next
// apply would back up again. It comes back as LogoutFailed, for a warning.
func TestILOLogoutFailureAfterCommitIsNotAnError(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "lo"})
	f.Server.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, Method: "DELETE", PathPrefix: "/redfish/v1/SessionService/Sessions/"})
	res, err := f.run(t, "", "")
	if err != nil {
		t.Fatalf("the run failed although the backup was stored: %v", err)
	}
	var le *client.LogoutError
	if !errors.As(res.LogoutFailed, &le) {
		t.Fatalf("LogoutFailed = %v, want the logout error", res.LogoutFailed)
	}
	latest, lerr := f.Store.Latest(t.Context(), backupstore.FamilyILO, res.Backup.Device)
	if lerr != nil || latest.ID != res.Backup.ID {
		t.Fatalf("the backup is not the store's latest: %+v %v", latest, lerr)
	}
	f.Server.ILO.ExpireAllSessions() // the idle timeout, for the end-of-test check
}

// A logout failure after a failed run stays behind the run's own error.
func TestILOLogoutFailureAfterFailedRun(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "lo2"})
	f.Server.ILO.SetBackupLocation("https://elsewhere.example/x.bak")
	f.Server.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, Method: "DELETE", PathPrefix: "/redfish/v1/SessionService/Sessions/"})
	res, err := f.run(t, "", "")
	var le *client.LogoutError
	if err == nil || errors.As(err, &le) || res.LogoutFailed != nil {
		t.Fatalf("err = %v, LogoutFailed = %v; want the run's own error only", err, res.LogoutFailed)
	}
	f.Server.ILO.ExpireAllSessions()
}
