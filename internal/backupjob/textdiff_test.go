package backupjob

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

const diffDevice = "mc1"

func diffConfig(stamp, vlan string) string {
	return "version 8.10\n! generated " + stamp + "\nhostname mc1\ninterface gigabitethernet 0/0/0\n    switchport access vlan " + vlan + "\n!\nend\n"
}

var stampLine = regexp.MustCompile(`^! generated `)

// backupText commits one backup whose running config is text, diffed against the
// latest backup before it, and returns the diff and the committed backup.
func backupText(t *testing.T, store *backupstore.Store, at time.Time, text string, readBack bool, ignore ...*regexp.Regexp) (TextDiff, backupstore.Backup) {
	t.Helper()
	ctx := t.Context()
	previous, prevErr := store.Latest(ctx, backupstore.FamilyAruba, diffDevice)
	run, err := store.Begin(ctx, backupstore.FamilyAruba, diffDevice, at)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = run.Abort() }()
	f, err := run.WriteFile(ctx, KindRunningConfig, "cfg", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var content []byte
	if !readBack {
		content = []byte(text)
	}
	d, err := diffText(ctx, store, run, previous, prevErr, f, content, ignore)
	if err != nil {
		t.Fatalf("diffText: %v", err)
	}
	b, err := run.Commit(ctx, "192.0.2.1", 4343, nil, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func TestDiffTextAgainstThePreviousBackup(t *testing.T) {
	store, err := backupstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	d, b := backupText(t, store, t0, diffConfig("monday", "10"), false)
	if !d.Changed || d.Compared || d.File.Key != "" || d.Skipped != "" || len(b.Files) != 1 {
		t.Fatalf("first backup: %+v, %d files; want changed, nothing compared, no diff file", d, len(b.Files))
	}

	// The same bytes: no diff file.
	d, b = backupText(t, store, t0.Add(time.Hour), diffConfig("monday", "10"), false)
	if d.Changed || !d.Compared || d.Added+d.Removed != 0 || d.File.Key != "" || len(b.Files) != 1 {
		t.Fatalf("unchanged: %+v, %d files", d, len(b.Files))
	}

	// Only the ignored line changed.
	d, b = backupText(t, store, t0.Add(2*time.Hour), diffConfig("tuesday", "10"), false, stampLine)
	if d.Changed || !d.Compared || d.Added+d.Removed != 0 || d.File.Key != "" || len(b.Files) != 1 {
		t.Fatalf("only the ignored line changed: %+v, %d files", d, len(b.Files))
	}

	// A real change, the current text read back from the store (as a caller that
	// streamed it does): the diff is a file of the run with its SHA-256 recorded.
	d, b = backupText(t, store, t0.Add(3*time.Hour), diffConfig("wednesday", "20"), true, stampLine)
	if !d.Changed || !d.Compared || d.Added != 1 || d.Removed != 1 || d.Skipped != "" {
		t.Fatalf("one changed line: %+v", d)
	}
	rec, ok := b.File(KindRunningConfigDiff)
	if !ok || rec != d.File {
		t.Fatalf("the committed backup records the diff as %+v (found %v), the run wrote %+v", rec, ok, d.File)
	}
	data, err := os.ReadFile(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != rec.SHA256 || int64(len(data)) != rec.Size {
		t.Errorf("diff file: SHA-256 %x, %d bytes; recorded %s, %d", sum, len(data), rec.SHA256, rec.Size)
	}
	diff := string(data)
	for _, want := range []string{"-    switchport access vlan 10\n", "+    switchport access vlan 20\n",
		"--- aruba/mc1/20261125T120000.000Z-running-config.cfg\n", "+++ aruba/mc1/20261125T130000.000Z-running-config.cfg\n"} {
		if !strings.Contains(diff, want) {
			t.Errorf("the diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "generated") {
		t.Errorf("the ignored line shows in the diff:\n%s", diff)
	}
	if !strings.HasSuffix(rec.Key, "-running-config-diff.diff") {
		t.Errorf("diff key %s", rec.Key)
	}

	// The previous file damaged after its backup: not compared, said why, and the
	// backup stands.
	prev, _ := b.File(KindRunningConfig)
	damaged := []byte(strings.Replace(diffConfig("wednesday", "20"), "vlan 20", "vlan 99", 1))
	if err := os.WriteFile(prev.Path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	d, b = backupText(t, store, t0.Add(4*time.Hour), diffConfig("thursday", "20"), false, stampLine)
	if !d.Changed || d.Compared || d.File.Key != "" || !strings.Contains(d.Skipped, "changed or damaged after the backup") || len(b.Files) != 1 {
		t.Errorf("damaged previous file: %+v, %d files; want changed, not compared, a reason", d, len(b.Files))
	}
	if strings.Contains(d.Skipped, "vlan") {
		t.Errorf("the reason holds configuration text: %s", d.Skipped)
	}
}

// A text too large to compare in bounded memory is stored, not compared, and the
// reason says so.
func TestDiffTextTooLargeIsNotCompared(t *testing.T) {
	store, err := backupstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	backupText(t, store, t0, diffConfig("monday", "10"), false)
	padding := strings.Repeat("! padding line\n", maxDiffInput/15+1)
	for i, readBack := range []bool{false, true} {
		huge := diffConfig(fmt.Sprint("day ", i), "10") + padding
		d, b := backupText(t, store, t0.Add(time.Hour), huge, readBack)
		if !d.Changed || d.Compared || d.File.Key != "" || !strings.Contains(d.Skipped, "larger than the 16 MiB") || len(b.Files) != 1 {
			t.Errorf("read back %v: %+v, %d files; want changed, not compared, a reason", readBack, d, len(b.Files))
		}
		t0 = t0.Add(2 * time.Hour)
	}
}
