package provider

import (
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"time"

	apstrasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

// Credentials of the simulated Apstra servers (never in state or logs).
const (
	testApstraUser = "fabric-backup"
	testApstraPass = "Apstra-S3cret pw&1"
)

const apstraRes = "infrabackup_apstra_backup.fabric"

// apstraSim is one simulated Apstra server of a test.
type apstraSim struct {
	Host   string
	Port   int
	Apstra *apstrasim.Apstra
}

// addApstra starts a simulated Apstra server; tweak adjusts its configuration. When
// the test ends, the server must have no open session.
func (e *simEnv) addApstra(name string, tweak func(*apstrasim.Config)) *apstraSim {
	e.t.Helper()
	return e.addApstraWrapped(name, tweak, nil)
}

// addApstraWrapped is addApstra with the server's handler wrapped by wrap (nil: not
// wrapped), to observe the conversation.
func (e *simEnv) addApstraWrapped(name string, tweak func(*apstrasim.Config), wrap func(next http.Handler) http.Handler) *apstraSim {
	e.t.Helper()
	e.requireAcceptance()
	cfg := apstrasim.Config{Name: name, Username: testApstraUser, Password: testApstraPass}
	if tweak != nil {
		tweak(&cfg)
	}
	a := apstrasim.New(cfg)
	h := a.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	l, err := e.ca.Listen("")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	e.t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	e.t.Cleanup(func() { // runs before the server closes
		if n := a.OpenSessions(); n != 0 {
			e.t.Errorf("Apstra %s ends the test with %d open sessions (stats %+v)", name, n, a.Stats.Snapshot())
		}
	})
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		e.t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	return &apstraSim{Host: addr.IP.String(), Port: addr.Port, Apstra: a}
}

// addApstraSSH starts the server's SSH side (aos_backup and SFTP).
func (e *simEnv) addApstraSSH(s *apstraSim) *apstrasim.SSHServer {
	e.t.Helper()
	ssh, err := s.Apstra.StartSSH(apstrasim.SSHConfig{RootDir: filepath.Join(e.t.TempDir())})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = ssh.Close() })
	return ssh
}

// apstraBackup is the backup apstraRes of the server s, with trigger "1".
func apstraBackup(s *apstraSim, opts ...option) *block {
	return resourceBlock(apstraRes, append([]option{set("host", s.Host), set("port", s.Port), set("trigger", "1")}, opts...)...)
}

// apstraSnapshot is the snapshot argument for the server's SSH side.
func apstraSnapshot(ssh *apstrasim.SSHServer, opts ...option) option {
	return set("snapshot", object(append([]option{
		set("host", "127.0.0.1"),
		set("port", ssh.Port()),
		set("username", testApstraUser),
		set("password_wo", testApstraPass),
		set("host_key", ssh.AuthorizedKey()),
	}, opts...)...))
}

// threeBlueprints is a server with three small blueprints: managed, unmanaged and
// staging-only systems in the first, managed and unmanaged in the second, managed
// only in the third.
func threeBlueprints(c *apstrasim.Config) {
	c.Blueprints = []apstrasim.BlueprintConfig{
		{Label: "dc-east", ManagedSystems: 3, UnmanagedSystems: 1, StagingOnlySystems: 1, Nodes: 200, ConfigSize: 1 << 10},
		{Label: "dc-west", ManagedSystems: 2, UnmanagedSystems: 2, Nodes: 300, ConfigSize: 1 << 10},
		{Label: "lab", ManagedSystems: 4, Nodes: 100, ConfigSize: 1 << 10},
	}
	c.CatalogItems = 2
}
