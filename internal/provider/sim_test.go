package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
)

// Credentials used against the simulators. Tests assert that none of them ever
// reaches a state file or a log.
const (
	testArubaUser = "api-backup"
	testArubaPass = "Aruba-S3cret-Pw!"
	testSCPUser   = "mcbackup"
	testSCPPass   = "Scp-S3cret-Pw!"
)

// simEnv is a set of simulated devices for one test, with an SFTP server and a
// backup folder. When the test ends it checks that every device has zero open
// sessions: a backup must always log out, failures included.
type simEnv struct {
	t          *testing.T
	ca         *devicesim.CA
	sftp       *sftpserver.Server
	conductors []*arubasim.Server
	ilos       []*ilosim.ILO // started by addILO (sim_ilo_test.go)
	backupDir  string
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	ca, err := devicesim.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	e := &simEnv{t: t, ca: ca, backupDir: filepath.Join(t.TempDir(), "backups")}
	t.Cleanup(e.assertNoOpenSessions)
	return e
}

func (e *simEnv) startSFTP() *sftpserver.Server {
	e.t.Helper()
	root := filepath.Join(e.t.TempDir(), "sftp-root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		e.t.Fatal(err)
	}
	s, err := sftpserver.Start(sftpserver.Config{Username: testSCPUser, Password: testSCPPass, RootDir: root})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	e.sftp = s
	return s
}

// addConductor starts a conductor named name; tweak adjusts its configuration.
func (e *simEnv) addConductor(name string, tweak func(*arubasim.Config)) *arubasim.Server {
	e.t.Helper()
	cfg := arubasim.Config{Name: name, Username: testArubaUser, Password: testArubaPass}
	if e.sftp != nil {
		cfg.SCPPort = e.sftp.Port()
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := arubasim.Start(e.ca, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	e.conductors = append(e.conductors, s)
	return s
}

func (e *simEnv) assertNoOpenSessions() {
	for _, c := range e.conductors {
		if n := c.Conductor.OpenSessions(); n != 0 {
			e.t.Errorf("conductor %s ends the test with %d open sessions (stats %+v)", c.Conductor.Name(), n, c.Conductor.Stats.Snapshot())
		}
	}
	for _, d := range e.ilos {
		if n := d.OpenSessions(); n != 0 {
			e.t.Errorf("iLO %s ends the test with %d open sessions (stats %+v)", d.Name(), n, d.Stats.Snapshot())
		}
	}
}

// providerConfig is the provider block trusting the simulators' CA.
func (e *simEnv) providerConfig() string {
	return fmt.Sprintf(`
provider "infrabackup" {
  backup_dir    = %q
  ca_cert_pem   = <<-EOT
%s
  EOT
  max_retries    = 1
  retry_wait_min = "100ms"
  retry_wait_max = "200ms"
  aruba = {
    username = %q
    password = %q
  }
  ilo = {
    username = %q
    password = %q
  }
}
`, e.backupDir, strings.TrimSpace(string(e.ca.CertPEM)), testArubaUser, testArubaPass, testILOUser, testILOPass)
}

// scpBlock is an scp argument pointing at the simulator's SFTP server.
func (e *simEnv) scpBlock() string {
	return fmt.Sprintf(`
  scp = {
    host        = "127.0.0.1"
    port        = %d
    username    = %q
    password_wo = %q
    remote_dir  = "conductors"
    host_key    = %q
  }
`, e.sftp.Port(), testSCPUser, testSCPPass, e.sftp.AuthorizedKey())
}
