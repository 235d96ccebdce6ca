package provider

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// iLO credentials used against the simulators; tests assert that they never reach
// a state file or a log.
const (
	testILOUser = "tf-backup"
	testILOPass = "iLO-S3cret-Pw!"
)

// testILOBackupSize keeps simulated backups small: the tests are about behaviour,
// throughput lives in the benchmarks.
const testILOBackupSize = 256 << 10

// iloSim is one simulated iLO of a test.
type iloSim struct {
	Host string
	Port int
	ILO  *ilosim.ILO
}

func (e *simEnv) iloConfig(name string, tweak func(*ilosim.Config)) ilosim.Config {
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
	s, err := ilosim.Start(e.ca, e.iloConfig(name, tweak))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	e.ilos = append(e.ilos, s.ILO)
	return &iloSim{Host: s.Host, Port: s.Port, ILO: s.ILO}
}

// addILOWrapped starts a simulated iLO whose handler is wrapped by wrap, to observe
// or disturb the conversation (e.g. change the ETag between a read and a write).
func (e *simEnv) addILOWrapped(name string, tweak func(*ilosim.Config), wrap func(d *ilosim.ILO, next http.Handler) http.Handler) *iloSim {
	e.t.Helper()
	d := ilosim.New(e.iloConfig(name, tweak))
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
	host, portText, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(portText)
	return &iloSim{Host: host, Port: port, ILO: d}
}

// tokenRecorder wraps an iLO handler and remembers every session token it hands out.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (tr *tokenRecorder) wrap(_ *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&headerSpy{ResponseWriter: w, seen: tr.add}, r)
	})
}

func (tr *tokenRecorder) add(token string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.tokens = append(tr.tokens, token)
}

func (tr *tokenRecorder) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.tokens...)
}

type headerSpy struct {
	http.ResponseWriter
	seen func(string)
}

func (h *headerSpy) WriteHeader(code int) {
	if tok := h.Header().Get("X-Auth-Token"); tok != "" {
		h.seen(tok)
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerSpy) Write(b []byte) (int, error) { return h.ResponseWriter.Write(b) }

func (h *headerSpy) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *headerSpy) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// iloHTTP is a plain HTTPS client trusting the simulators' CA, for tests that act on
// an iLO behind Terraform's back (another tool's session, for instance).
func (e *simEnv) iloHTTP() *http.Client {
	e.t.Helper()
	hc, err := newTestHTTPClient(e.ca.CertPEM)
	if err != nil {
		e.t.Fatal(err)
	}
	return hc
}

// openOtherSession logs in to the iLO as another tool would and returns a function
// that logs that session out.
func (e *simEnv) openOtherSession(d *iloSim) (logout func()) {
	e.t.Helper()
	hc := e.iloHTTP()
	base := "https://" + net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	body := fmt.Sprintf(`{"UserName":%q,"Password":%q}`, testILOUser, testILOPass)
	resp, err := hc.Post(base+"/redfish/v1/SessionService/Sessions/", "application/json", strings.NewReader(body))
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
		req, _ := http.NewRequest(http.MethodDelete, base+loc.RequestURI(), nil)
		req.Header.Set("X-Auth-Token", token)
		resp, err := hc.Do(req)
		if err != nil {
			e.t.Errorf("log out the other session: %v", err)
			return
		}
		_ = resp.Body.Close()
	}
}

// regularFilesUnder lists every regular file (temporary ones included) under root;
// a missing root holds none.
func regularFilesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// assertNoSecrets fails when any secret occurs in text (what names where it was read).
func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret (%d characters, starting %q)", what, len(s), s[:min(3, len(s))])
		}
	}
}

// readTree concatenates every regular file named name under root.
func readTree(t *testing.T, root, name string) (string, int) {
	t.Helper()
	var b strings.Builder
	n := 0
	for _, p := range regularFilesUnder(t, root) {
		if filepath.Base(p) != name {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		n++
	}
	return b.String(), n
}

func newTestHTTPClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the simulators' CA PEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// providerConfigWithoutCredentials is the provider block with no device credentials:
// they come from the environment (ILO_USERNAME, ILO_PASSWORD, ...).
func (e *simEnv) providerConfigWithoutCredentials() string {
	return fmt.Sprintf(`
provider "infrabackup" {
  backup_dir     = %q
  ca_cert_pem    = <<-EOT
%s
  EOT
  max_retries    = 1
  retry_wait_min = "100ms"
  retry_wait_max = "200ms"
}
`, e.backupDir, strings.TrimSpace(string(e.ca.CertPEM)))
}
