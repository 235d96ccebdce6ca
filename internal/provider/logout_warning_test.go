package provider

import (
	"fmt"
	tfjson "github.com/hashicorp/terraform-json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// TestAccBackups_logoutRefusedAfterCommitIsAWarning: a device that refuses the
// logout after the backup was committed fails neither backup: the apply succeeds,
// state and store hold the backups, and the refused logout is a warning diagnostic.
func TestAccBackups_logoutRefusedAfterCommitIsAWarning(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)

	e := newSimEnv(t)
	c := e.addConductor("mc-logout", nil)
	d := e.addILO("ilo-logout", nil)
	c.Conductor.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, PathPrefix: "/v1/api/logout"})
	d.ILO.Faults.Add(devicesim.Fault{Kind: devicesim.FaultHTMLError, Method: "DELETE", PathPrefix: "/redfish/v1/SessionService/Sessions/"})

	config := e.config(
		arubaBackup(c, set("trigger", "1")),
		iloBackup(d, set("trigger", "1")),
	)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(arubaRes, at("name"), knownvalue.StringExact("mc-logout")),
				fileOnDisk(arubaRes, nil),
				fileOnDisk(iloRes, nil),
				checkFunc(func(s *tfjson.State) error {
					store := mustStore(t, e.backupDir)
					arubaID, err := attrText(s, arubaRes, "id")
					if err != nil {
						return err
					}
					b, err := store.Latest(t.Context(), backupstore.FamilyAruba, "mc-logout")
					if err != nil || "mc-logout/"+b.ID != arubaID {
						return fmt.Errorf("the store's latest conductor backup (%v, %v) is not the one in state (%s)", b.ID, err, arubaID)
					}
					sha, err := attrText(s, iloRes, "sha256")
					if err != nil {
						return err
					}
					ib, err := store.Latest(t.Context(), backupstore.FamilyILO, d.ILO.Serial())
					if f, ok := ib.File("ilo-backup"); err != nil || !ok || f.SHA256 != sha {
						return fmt.Errorf("the store's latest iLO backup (%+v, %v) is not the one in state (%s)", ib, err, sha)
					}
					return nil
				}),
			},
		}},
	})
	logData, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each warning diagnostic, with the lines of its (multi-line) detail.
	var warnings []string
	for _, chunk := range strings.Split(string(logData), "Response contains warning diagnostic")[1:] {
		warnings = append(warnings, chunk[:min(len(chunk), 3000)])
	}
	for _, want := range []string{"conductor " + c.Host, "iLO " + d.Host} {
		found := false
		for _, w := range warnings {
			if strings.Contains(w, want) && strings.Contains(w, "log out failed") && strings.Contains(w, "idle timeout") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning diagnostic about the refused logout of %s; warnings:\n%s", want, strings.Join(warnings, "\n----\n"))
		}
	}
	// The refused logouts left the sessions open: the devices' idle timeouts end them.
	c.Conductor.ExpireAllSessions()
	d.ILO.ExpireAllSessions()
}
