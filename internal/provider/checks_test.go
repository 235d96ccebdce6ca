package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// Checks the standard statecheck and plancheck packages do not have: whether what
// the state records is what is on disk, on the SCP server, or what a simulator saw.

// errorRE compiles the pattern of an expected Terraform error. Terraform wraps
// diagnostic text at word boundaries, so every space matches any run of white
// space, and . matches line breaks too.
func errorRE(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)` + strings.ReplaceAll(pattern, " ", `\s+`))
}

// at is the path of an attribute written as Terraform prints it: "files.0.sha256".
func at(dotted string) tfjsonpath.Path {
	parts := strings.Split(dotted, ".")
	p := tfjsonpath.New(parts[0])
	for _, s := range parts[1:] {
		if i, err := strconv.Atoi(s); err == nil {
			p = p.AtSliceIndex(i)
		} else {
			p = p.AtMapKey(s)
		}
	}
	return p
}

// checkFunc is a state check written as a function, for what the state alone
// cannot tell: files on disk, what a simulator saw.
type checkFunc func(s *tfjson.State) error

func (f checkFunc) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = f(req.State)
}

// deviceCheck is a check of a simulator after the apply; it does not read the state.
func deviceCheck(f func() error) checkFunc {
	return func(*tfjson.State) error { return f() }
}

// afterDestroy adapts a device check to TestCase.CheckDestroy.
func afterDestroy(f checkFunc) resource.TestCheckFunc {
	return func(*terraform.State) error { return f(nil) }
}

// attrText is the value at dotted of the resource or data source at address, as
// text; a null value is "".
func attrText(s *tfjson.State, address, dotted string) (string, error) {
	if s == nil || s.Values == nil || s.Values.RootModule == nil {
		return "", errors.New("the state holds no resources")
	}
	for _, r := range s.Values.RootModule.Resources {
		if r.Address != address {
			continue
		}
		v, err := tfjsonpath.Traverse(r.AttributeValues, at(dotted))
		if err != nil {
			return "", fmt.Errorf("%s: %w", address, err)
		}
		if v == nil {
			return "", nil
		}
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("%s is not in the state", address)
}

// attrs reads several attributes of address at once.
func attrs(s *tfjson.State, address string, dotted ...string) ([]string, error) {
	out := make([]string, len(dotted))
	for i, d := range dotted {
		v, err := attrText(s, address, d)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fileOnDisk checks that the first file entry of res (files.0: the file in the
// store) is on disk with the recorded size and SHA-256 and mode 0600, and, when want
// is not nil, holds exactly want().
func fileOnDisk(res string, want func() []byte) checkFunc {
	return func(s *tfjson.State) error {
		v, err := attrs(s, res, "files.0.path", "files.0.sha256", "files.0.size")
		if err != nil {
			return err
		}
		p, recSHA, recSize := v[0], v[1], v[2]
		if p == "" {
			return fmt.Errorf("%s: files.0.path is empty", res)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if got := sha256Hex(data); got != recSHA {
			return fmt.Errorf("%s: SHA-256 on disk %s, recorded %s", p, got, recSHA)
		}
		if recSize != strconv.Itoa(len(data)) {
			return fmt.Errorf("%s: %d bytes on disk, recorded %s", p, len(data), recSize)
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

// fileOnSCPServer checks that the file entry files.i of arubaRes is on e's SFTP
// server, not empty, with the recorded size and SHA-256.
func (e *simEnv) fileOnSCPServer(i int) checkFunc { return e.fileOnSCPServerOf(arubaRes, i) }

// fileOnSCPServerOf is fileOnSCPServer for the conductor backup at address res.
func (e *simEnv) fileOnSCPServerOf(res string, i int) checkFunc {
	return func(s *tfjson.State) error {
		v, err := attrs(s, res, fmt.Sprintf("files.%d.location", i), fmt.Sprintf("files.%d.sha256", i), fmt.Sprintf("files.%d.size", i))
		if err != nil {
			return err
		}
		loc, recSHA, recSize := v[0], v[1], v[2]
		_, rel, ok := strings.Cut(loc, "127.0.0.1/")
		if !ok {
			return fmt.Errorf("files.%d.location %q is not on the SCP server", i, loc)
		}
		data, err := os.ReadFile(filepath.Join(e.sftp.RootDir(), rel))
		if err != nil {
			return fmt.Errorf("%s is not on the SCP server: %v", loc, err)
		}
		if got := sha256Hex(data); got != recSHA {
			return fmt.Errorf("%s: SHA-256 on the server %s, recorded %s", loc, got, recSHA)
		}
		if recSize != strconv.Itoa(len(data)) || len(data) == 0 {
			return fmt.Errorf("%s: %d bytes on the server, recorded %s", loc, len(data), recSize)
		}
		return nil
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// servedBy checks that the backup iloRes records is one the iLO d served: the same
// device file name, bytes (SHA-256) and size, password protected or not.
func servedBy(d *iloSim, protected bool) checkFunc {
	return func(s *tfjson.State) error {
		v, err := attrs(s, iloRes, "device_file_name", "sha256", "size")
		if err != nil {
			return err
		}
		name, sha, size := v[0], v[1], v[2]
		for _, img := range d.ILO.Served() {
			if img.Name != name || img.SHA256 != sha {
				continue
			}
			if img.PasswordProtected != protected {
				return fmt.Errorf("served image %s: password protected = %t, want %t", name, img.PasswordProtected, protected)
			}
			if strconv.FormatInt(img.Size, 10) != size {
				return fmt.Errorf("served %d bytes, the state records %s", img.Size, size)
			}
			return nil
		}
		return fmt.Errorf("iLO %s never served %s with SHA-256 %s (served: %+v)", d.ILO.Name(), name, sha, d.ILO.Served())
	}
}

// restoredFromBackup checks that the iLO d accepted restores restores in all, the
// last one of exactly the bytes iloRes recorded (matched to that backup when d
// served it itself), that restoreRes records them, and that d is back from its reset.
func restoredFromBackup(d *iloSim, restores int, protected bool) checkFunc {
	return func(s *tfjson.State) error {
		r := d.ILO.LastRestore()
		if n := d.ILO.Restores(); n != restores || r == nil {
			return fmt.Errorf("the simulator accepted %d restores (last %+v), want %d", n, r, restores)
		}
		v, err := attrs(s, iloRes, "sha256", "device_file_name")
		if err != nil {
			return err
		}
		sha, name := v[0], v[1]
		if r.SHA256 != sha {
			return fmt.Errorf("the iLO received %s, the backup recorded %s (%s)", r.SHA256, sha, name)
		}
		if _, served := d.ILO.ServedBackups()[name]; served && r.MatchedBackup != name {
			return fmt.Errorf("the iLO matched the restore to backup %q, want %q", r.MatchedBackup, name)
		}
		if r.PasswordProtected != protected {
			return fmt.Errorf("restored image password protected = %t, want %t", r.PasswordProtected, protected)
		}
		if got, err := attrText(s, restoreRes, "backup_sha256"); err != nil || got != sha {
			return fmt.Errorf("restore state backup_sha256 %s (%v), backup sha256 %s", got, err, sha)
		}
		if d.ILO.InReset() {
			return errors.New("the apply finished while the iLO was still resetting")
		}
		return nil
	}
}

// restoredFromFile checks that the iLO d's last restore was exactly the file at p,
// and that restoreRes records it.
func restoredFromFile(d *iloSim, p string) checkFunc {
	return func(s *tfjson.State) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, sha, _, err := ilosim.VerifyImage(f, "")
		if err != nil {
			return err
		}
		recorded, err := attrText(s, restoreRes, "backup_sha256")
		if err != nil {
			return err
		}
		if r := d.ILO.LastRestore(); r == nil || r.SHA256 != sha || recorded != sha {
			return fmt.Errorf("last restore %+v, state %s, want %s", r, recorded, sha)
		}
		return nil
	}
}

// loginsAndLogouts checks that a device saw exactly logins logins and logouts
// logouts.
func loginsAndLogouts(stats *devicesim.Stats, logins, logouts int64) checkFunc {
	return deviceCheck(func() error {
		if st := stats.Snapshot(); st.Logins != logins || st.Logouts != logouts {
			return fmt.Errorf("want %d logins and %d logouts, got %+v", logins, logouts, st)
		}
		return nil
	})
}

// flagOnDevice checks the iLO's CustomBackupandRestore setting.
func flagOnDevice(d *iloSim, want bool) checkFunc {
	return deviceCheck(func() error {
		if got := d.ILO.CustomBackupAndRestore(); got != want {
			return fmt.Errorf("CustomBackupandRestore on the iLO is %t, want %t", got, want)
		}
		return nil
	})
}

// callMark remembers how many calls a device had answered, so that a later step
// can check that nothing in between (a plan, a refresh) called it.
type callMark struct {
	stats *devicesim.Stats
	mu    sync.Mutex
	calls int64
}

// mark is a check that records the device's calls so far.
func (m *callMark) mark() checkFunc {
	return deviceCheck(func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.calls = m.stats.Snapshot().TotalCalls()
		return nil
	})
}

// assertNoneSince fails the test when the device answered a call since the mark.
func (m *callMark) assertNoneSince(t *testing.T, what string) {
	t.Helper()
	if err := m.none(what)(nil); err != nil {
		t.Error(err)
	}
}

// none is a check that the device answered no call since the mark.
func (m *callMark) none(what string) checkFunc {
	return deviceCheck(func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if got := m.stats.Snapshot().TotalCalls(); got != m.calls {
			return fmt.Errorf("%s made %d device calls, want none", what, got-m.calls)
		}
		return nil
	})
}

// backupsKept checks, at every step it is added to, that the file res records at
// path is on disk and so is every file recorded at the steps before: a new backup
// never replaces an older one.
type backupsKept struct {
	res, path string
	mu        sync.Mutex
	seen      []string
}

func (k *backupsKept) check() checkFunc {
	return func(s *tfjson.State) error {
		p, err := attrText(s, k.res, k.path)
		if err != nil {
			return err
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		k.seen = append(k.seen, p)
		return k.allOnDisk()
	}
}

// allOnDisk returns an error naming the first recorded file that is gone.
func (k *backupsKept) allOnDisk() error {
	for _, p := range k.seen {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("the backup %s must stay: %v", p, err)
		}
	}
	return nil
}

// assertKeptAfterDestroy fails the test when a file recorded at any step is gone.
func (k *backupsKept) assertKeptAfterDestroy(t *testing.T) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.seen) == 0 {
		t.Fatal("no backup file was recorded")
	}
	if err := k.allOnDisk(); err != nil {
		t.Errorf("destroy forgets a backup resource, its files stay: %v", err)
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

// assertNoSecrets fails when any secret occurs in text (what names where it was read).
func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret (%d characters, starting %q)", what, len(s), s[:min(3, len(s))])
		}
	}
}

// captureState keeps in *dump the state a step ends with, every resource attribute
// included, after checking that it holds proof (an attribute the step must have
// written): only then does the absence of a secret from it mean anything.
func captureState(dump *string, proof string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		text := s.String()
		for _, rs := range s.RootModule().Resources {
			for k, v := range rs.Primary.Attributes {
				text += "\n" + k + "=" + v
			}
		}
		if !strings.Contains(text, proof) {
			return fmt.Errorf("the state does not hold %s: it is not the backup's", proof)
		}
		*dump = text
		return nil
	}
}

// assertNamedAbsent fails the test for each value of secrets (what it is => the
// value) that the log or the state holds.
func assertNamedAbsent(t *testing.T, log, state string, secrets map[string]string) {
	t.Helper()
	for what, secret := range secrets {
		if strings.Contains(log, secret) {
			t.Errorf("the trace log contains the %s", what)
		}
		if strings.Contains(state, secret) {
			t.Errorf("the state contains the %s", what)
		}
	}
}

// readTree concatenates every file named name under root and counts them.
func readTree(t *testing.T, root, name string) (string, int) {
	t.Helper()
	var b strings.Builder
	n := 0
	for _, p := range testkit.FilesUnder(t, root) {
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
