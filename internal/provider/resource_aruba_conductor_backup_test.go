package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

const arubaRes = "infrabackup_aruba_conductor_backup.mc"

func arubaConfig(e *simEnv, c *arubasim.Server, trigger, extra string) string {
	return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_aruba_conductor_backup" "mc" {
  host    = %q
  port    = %d
  trigger = %q
%s
}
`, c.Host, c.Port, trigger, extra)
}

// stateAttr reads one attribute of a resource from state.
func stateAttr(s *terraform.State, res, key string) string {
	rs, ok := s.RootModule().Resources[res]
	if !ok {
		return ""
	}
	return rs.Primary.Attributes[key]
}

// checkLocalFile asserts that the state's file entry i is on disk with the recorded
// size and SHA-256, mode 0600, and (when want is non-nil) exactly the bytes want.
func checkLocalFile(res string, i int, want func() []byte) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		p := stateAttr(s, res, fmt.Sprintf("files.%d.path", i))
		if p == "" {
			return fmt.Errorf("files.%d.path is empty", i)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if got, rec := hex.EncodeToString(sum[:]), stateAttr(s, res, fmt.Sprintf("files.%d.sha256", i)); got != rec {
			return fmt.Errorf("%s: sha256 on disk %s, recorded %s", p, got, rec)
		}
		if rec := stateAttr(s, res, fmt.Sprintf("files.%d.size", i)); rec != fmt.Sprint(len(data)) {
			return fmt.Errorf("%s: %d bytes on disk, recorded %s", p, len(data), rec)
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm() != 0o600 {
			return fmt.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
		if want != nil && string(data) != string(want()) {
			return fmt.Errorf("%s does not hold the device's bytes:\n%q\nwant\n%q", p, data, want())
		}
		return nil
	}
}

func TestAccArubaBackup_localOnlyNewTriggerAndDataSource(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-lab-01", nil)
	runningConfig := func() []byte { return []byte(c.Conductor.RunningConfig()) }
	var firstID, firstPath string
	var callsAfterApply int64

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: arubaConfig(e, c, "week-1", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "name", "mc-lab-01"),
					resource.TestCheckResourceAttr(arubaRes, "hostname", "mc-lab-01"),
					resource.TestCheckResourceAttr(arubaRes, "flash_backup", "false"),
					resource.TestCheckResourceAttr(arubaRes, "config_path", "/md"),
					resource.TestCheckResourceAttr(arubaRes, "running_config_changed", "true"),
					resource.TestCheckResourceAttr(arubaRes, "files.#", "1"),
					resource.TestCheckResourceAttr(arubaRes, "files.0.kind", "running-config"),
					resource.TestMatchResourceAttr(arubaRes, "files.0.path", regexp.MustCompile(`/aruba/mc-lab-01/\d{8}T\d{6}\.\d{3}Z-running-config\.cfg$`)),
					resource.TestCheckResourceAttrPair(arubaRes, "running_config_path", arubaRes, "files.0.path"),
					checkLocalFile(arubaRes, 0, runningConfig),
					func(s *terraform.State) error {
						firstID, firstPath = stateAttr(s, arubaRes, "id"), stateAttr(s, arubaRes, "files.0.path")
						st := c.Conductor.Stats.Snapshot()
						if st.Logins != 1 || st.Logouts != 1 {
							return fmt.Errorf("want exactly one login and one logout, got %+v", st)
						}
						callsAfterApply = st.TotalCalls()
						return nil
					},
				),
			},
			{
				// Plan and refresh of an existing backup make no device call.
				Config:   arubaConfig(e, c, "week-1", ""),
				PlanOnly: true,
			},
			{
				PreConfig: func() {
					if got := c.Conductor.Stats.Snapshot().TotalCalls(); got != callsAfterApply {
						t.Errorf("plan/refresh made %d device calls, want 0", got-callsAfterApply)
					}
				},
				// A new trigger is a new backup; the running config did not change.
				Config: arubaConfig(e, c, "week-2", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "running_config_changed", "false"),
					checkLocalFile(arubaRes, 0, runningConfig),
					func(s *terraform.State) error {
						if id := stateAttr(s, arubaRes, "id"); id == firstID {
							return fmt.Errorf("a new trigger kept backup id %s", id)
						}
						if p := stateAttr(s, arubaRes, "files.0.path"); p == firstPath {
							return fmt.Errorf("a new trigger overwrote %s", p)
						}
						if _, err := os.Stat(firstPath); err != nil {
							return fmt.Errorf("the previous backup must stay: %v", err)
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					c.Conductor.SetRunningConfig(string(runningConfig()) + "ap-group \"new-floor\"\n!\n")
				},
				Config: arubaConfig(e, c, "week-3", "") + `
data "infrabackup_aruba_conductor_backup" "by_host" {
  host       = infrabackup_aruba_conductor_backup.mc.host
  depends_on = [infrabackup_aruba_conductor_backup.mc]
}
data "infrabackup_aruba_conductor_backup" "by_name" {
  name       = infrabackup_aruba_conductor_backup.mc.name
  depends_on = [infrabackup_aruba_conductor_backup.mc]
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(arubaRes, "running_config_changed", "true"),
					checkLocalFile(arubaRes, 0, runningConfig),
					resource.TestCheckResourceAttrPair("data.infrabackup_aruba_conductor_backup.by_host", "id", arubaRes, "id"),
					resource.TestCheckResourceAttrPair("data.infrabackup_aruba_conductor_backup.by_host", "running_config_path", arubaRes, "running_config_path"),
					resource.TestCheckResourceAttrPair("data.infrabackup_aruba_conductor_backup.by_host", "running_config_sha256", arubaRes, "files.0.sha256"),
					resource.TestCheckResourceAttrPair("data.infrabackup_aruba_conductor_backup.by_host", "completed_at", arubaRes, "completed_at"),
					resource.TestCheckResourceAttrPair("data.infrabackup_aruba_conductor_backup.by_name", "id", arubaRes, "id"),
					resource.TestCheckResourceAttr("data.infrabackup_aruba_conductor_backup.by_name", "remote_locations.#", "0"),
				),
			},
		},
	})
	// Destroy forgets the resource; the backups stay.
	b, err := mustStore(t, e.backupDir).Latest(t.Context(), backupstore.FamilyAruba, "mc-lab-01")
	if err != nil {
		t.Fatalf("backups must survive destroy: %v", err)
	}
	if _, err := os.Stat(b.Files[0].Path); err != nil {
		t.Fatal(err)
	}
}

func TestAccArubaBackup_withSCP(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-dc1", nil)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: arubaConfig(e, c, "1", `  name = "mc-dc1-a"`+e.scpBlock()),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr(arubaRes, "flash_backup", "true"),
				resource.TestCheckNoResourceAttr(arubaRes, "scp.password_wo"),
				resource.TestCheckResourceAttr(arubaRes, "files.#", "3"),
				resource.TestCheckResourceAttr(arubaRes, "files.0.kind", "running-config"),
				resource.TestCheckResourceAttr(arubaRes, "files.1.kind", "running-config-scp"),
				resource.TestCheckResourceAttr(arubaRes, "files.2.kind", "flash-archive-scp"),
				resource.TestMatchResourceAttr(arubaRes, "files.2.location",
					regexp.MustCompile(`^scp://mcbackup@127\.0\.0\.1/conductors/mc-dc1-a_\d{8}T\d{6}\.\d{3}Z-flash\.tar\.gz$`)),
				checkLocalFile(arubaRes, 0, func() []byte { return []byte(c.Conductor.RunningConfig()) }),
				checkRemoteFile(e, 1),
				checkRemoteFile(e, 2),
				func(s *terraform.State) error {
					for name := range c.Conductor.FlashFiles() {
						if strings.Contains(name, ".tar") {
							return fmt.Errorf("tar file %s left on flash: tar_flash_clean must run", name)
						}
					}
					st := c.Conductor.Stats.Snapshot()
					if st.Logins != 1 || st.Logouts != 1 {
						return fmt.Errorf("want exactly one login and one logout, got %+v", st)
					}
					return nil
				},
			),
		}},
	})
}

// checkRemoteFile asserts that files.i is on the SFTP server with the recorded SHA-256.
func checkRemoteFile(e *simEnv, i int) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		loc := stateAttr(s, arubaRes, fmt.Sprintf("files.%d.location", i))
		rel := loc[strings.Index(loc, "127.0.0.1/")+len("127.0.0.1/"):]
		data, err := os.ReadFile(filepath.Join(e.sftp.RootDir(), rel))
		if err != nil {
			return fmt.Errorf("%s is not on the SCP server: %v", loc, err)
		}
		sum := sha256.Sum256(data)
		if got, rec := hex.EncodeToString(sum[:]), stateAttr(s, arubaRes, fmt.Sprintf("files.%d.sha256", i)); got != rec {
			return fmt.Errorf("%s: sha256 on server %s, recorded %s", loc, got, rec)
		}
		if rec := stateAttr(s, arubaRes, fmt.Sprintf("files.%d.size", i)); rec != fmt.Sprint(len(data)) || len(data) == 0 {
			return fmt.Errorf("%s: %d bytes on server, recorded %s", loc, len(data), rec)
		}
		return nil
	}
}

func mustStore(t *testing.T, dir string) *backupstore.Store {
	t.Helper()
	s, err := backupstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
