package provider

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// Credentials used against the simulators. Tests assert that none of them ever
// reaches a state file or a log.
const (
	testArubaUser = "api-backup"
	testArubaPass = "Aruba-S3cret-Pw!"
	testSCPUser   = "mcbackup"
	testSCPPass   = "Scp-S3cret-Pw!"
	testILOUser   = "tf-backup"
	testILOPass   = "iLO-S3cret-Pw!"
)

// testILOBackupSize keeps simulated backups small: the tests are about behaviour,
// throughput lives in the benchmarks.
const testILOBackupSize = 256 << 10

// simEnv is what one acceptance test owns: its simulated devices, an SFTP server
// when it needs one, and a backup folder. Nothing in it is shared with another test,
// so tests run in parallel. When the test ends it checks that every device has no
// open session: a backup must always log out, failures included.
type simEnv struct {
	t          *testing.T
	ca         *devicesim.CA
	sftp       *sftpserver.Server
	conductors []*arubasim.Server
	ilos       []*ilosim.ILO
	backupDir  string
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	e := &simEnv{t: t, ca: testkit.CA(t), backupDir: filepath.Join(t.TempDir(), "backups")}
	t.Cleanup(e.assertNoOpenSessions)
	return e
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

// requireAcceptance skips the test, with terraform-plugin-testing's own message,
// unless acceptance tests are on: a test that starts a simulator is one.
func (e *simEnv) requireAcceptance() {
	e.t.Helper()
	if os.Getenv(resource.EnvTfAcc) == "" {
		e.t.Skipf("Acceptance tests skipped unless env '%s' set", resource.EnvTfAcc)
	}
}

// startSFTP starts the SCP/SFTP server that conductors added afterwards push to.
func (e *simEnv) startSFTP() {
	e.t.Helper()
	e.requireAcceptance()
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
}

// addConductor starts a conductor named name; tweak adjusts its configuration.
func (e *simEnv) addConductor(name string, tweak func(*arubasim.Config)) *arubasim.Server {
	e.t.Helper()
	e.requireAcceptance()
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

// iloSim is one simulated iLO of a test.
type iloSim struct {
	Host string
	Port int
	ILO  *ilosim.ILO
}

func (d *iloSim) baseURL() string { return "https://" + net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

func iloConfig(name string, tweak func(*ilosim.Config)) ilosim.Config {
	cfg := ilosim.Config{
		Name: name, Username: testILOUser, Password: testILOPass,
		BackupSize: testILOBackupSize, ResetDuration: 200 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return cfg
}

// addILO starts a simulated iLO; tweak adjusts its configuration.
func (e *simEnv) addILO(name string, tweak func(*ilosim.Config)) *iloSim {
	e.t.Helper()
	return e.addILOSignedBy(e.ca, name, tweak)
}

// addILOSignedBy starts a simulated iLO whose certificate ca signed.
func (e *simEnv) addILOSignedBy(ca *devicesim.CA, name string, tweak func(*ilosim.Config)) *iloSim {
	e.t.Helper()
	e.requireAcceptance()
	s, err := ilosim.Start(ca, iloConfig(name, tweak))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	e.ilos = append(e.ilos, s.ILO)
	return &iloSim{Host: s.Host, Port: s.Port, ILO: s.ILO}
}

// addILOWrapped starts a simulated iLO whose handler is wrapped by wrap, to observe
// or disturb the conversation (sim_faults_test.go).
func (e *simEnv) addILOWrapped(name string, tweak func(*ilosim.Config), wrap func(d *ilosim.ILO, next http.Handler) http.Handler) *iloSim {
	e.t.Helper()
	e.requireAcceptance()
	d := ilosim.New(iloConfig(name, tweak))
	l, err := e.ca.Listen("")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: wrap(d, d.Handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	e.t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	e.ilos = append(e.ilos, d)
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		e.t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	return &iloSim{Host: addr.IP.String(), Port: addr.Port, ILO: d}
}

// provider is the provider block for e: its backup folder, its CA as the only trust
// root, fast retries, and the credentials of its devices.
func (e *simEnv) provider(opts ...option) *block {
	return build(&block{kind: "provider", labels: []string{"infrabackup"}}, append([]option{
		set("backup_dir", e.backupDir),
		set("ca_cert_pem", string(e.ca.CertPEM)),
		set("max_retries", 1),
		set("retry_wait_min", "100ms"),
		set("retry_wait_max", "200ms"),
		set("aruba", object(set("username", testArubaUser), set("password", testArubaPass))),
		set("ilo", object(set("username", testILOUser), set("password", testILOPass))),
		set("apstra", object(set("username", testApstraUser), set("password", testApstraPass))),
	}, opts...))
}

// config is e's provider block followed by blocks.
func (e *simEnv) config(blocks ...*block) string {
	return hclConfig(append([]*block{e.provider()}, blocks...)...)
}

// scp is a conductor backup's scp argument pointing at e's SFTP server.
func (e *simEnv) scp(opts ...option) option {
	return set("scp", object(append([]option{
		set("host", "127.0.0.1"),
		set("port", e.sftp.Port()),
		set("username", testSCPUser),
		set("password_wo", testSCPPass),
		set("remote_dir", "conductors"),
		set("host_key", e.sftp.AuthorizedKey()),
	}, opts...)...))
}

// openOtherSession logs in to the iLO as another tool would and returns a function
// that logs that session out.
func (e *simEnv) openOtherSession(d *iloSim) (logout func()) {
	e.t.Helper()
	hc := testkit.HTTPClient(e.t, e.ca.CertPEM)
	body := fmt.Sprintf(`{"UserName":%q,"Password":%q}`, testILOUser, testILOPass)
	resp, err := hc.Post(d.baseURL()+"/redfish/v1/SessionService/Sessions/", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("login as another tool: HTTP %d", resp.StatusCode)
	}
	token, location := resp.Header.Get("X-Auth-Token"), resp.Header.Get("Location")
	loc, err := url.Parse(location) // iLO names itself without the port
	if err != nil {
		e.t.Fatal(err)
	}
	return func() {
		req, _ := http.NewRequest(http.MethodDelete, d.baseURL()+loc.RequestURI(), nil)
		req.Header.Set("X-Auth-Token", token)
		resp, err := hc.Do(req)
		if err != nil {
			e.t.Errorf("log out the other session: %v", err)
			return
		}
		_ = resp.Body.Close()
	}
}

// occupySession logs in to the conductor outside Terraform, so that a conductor
// with MaxSessions = 1 is full.
func (e *simEnv) occupySession(c *arubasim.Server) {
	e.t.Helper()
	hc := testkit.HTTPClient(e.t, e.ca.CertPEM)
	form := url.Values{"username": {testArubaUser}, "password": {testArubaPass}}
	resp, err := hc.PostForm(c.URL+"/v1/api/login", form)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = resp.Body.Close()
	if c.Conductor.OpenSessions() != 1 {
		e.t.Fatalf("could not occupy the only session slot")
	}
}
