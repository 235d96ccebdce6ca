package apstra

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func startSSH(t *testing.T, c *tc, cfg SSHConfig) *SSHServer {
	t.Helper()
	cfg.RootDir = t.TempDir()
	s, err := c.a.StartSSH(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sshDial(t *testing.T, s *SSHServer, pass string, key ssh.PublicKey) (*ssh.Client, error) {
	t.Helper()
	cc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User: s.cfg.Username, Auth: []ssh.AuthMethod{ssh.Password(pass)}, HostKeyCallback: ssh.FixedHostKey(key), Timeout: 5 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { _ = cc.Close() })
	}
	return cc, err
}

// runCmd runs a command line with stdin and returns stdout, stderr and the exit status.
func runCmd(t *testing.T, cc *ssh.Client, cmd, stdin string) (string, string, int) {
	t.Helper()
	sess, err := cc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader(stdin), &out, &errOut
	err = sess.Run(cmd)
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitStatus()
	}
	t.Fatalf("%s: %v", cmd, err)
	return "", "", -1
}

// `sudo -S aos_backup` with the account's password writes a snapshot tarball under
// /var/lib/aos/snapshot/<time>/ that SFTP can fetch and remove; sudo without a way to
// read the password, a wrong password, and other commands fail as a shell does.
func TestAOSBackupOverSSH(t *testing.T) {
	c := start(t, Config{Username: "admin", Password: "ssh-Pass1", Blueprints: []BlueprintConfig{{Label: "dc-a", Nodes: 300}, {Label: "dc-b"}}})
	s := startSSH(t, c, SSHConfig{})
	cc, err := sshDial(t, s, "ssh-Pass1", s.HostKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, stdin, stderr string }{
		{"sudo aos_backup", "", "a terminal is required"},
		{"sudo -n aos_backup", "", "a password is required"},
		{"sudo -S aos_backup", "wrong\n", "incorrect password"},
		{"aos_backup", "", "must be run as root"},
		{"sudo -S rm -rf /", "ssh-Pass1\n", "command not found"},
	} {
		if _, stderr, status := runCmd(t, cc, tc.cmd, tc.stdin); status == 0 || !strings.Contains(stderr, tc.stderr) {
			t.Fatalf("%s: status %d, stderr %q", tc.cmd, status, stderr)
		}
	}
	if n := len(c.a.Snapshots()); n != 0 {
		t.Fatalf("%d snapshots after failed commands", n)
	}
	stdout, stderr, status := runCmd(t, cc, "sudo -S -p '' aos_backup", "ssh-Pass1\n")
	if status != 0 || !strings.Contains(stdout, "Backup operation completed successfully") || !strings.Contains(stdout, "New AOS snapshot: 2025-03-14_09-26-53") ||
		strings.Contains(stdout+stderr, "ssh-Pass1") {
		t.Fatalf("status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	snaps := c.a.Snapshots()
	if len(snaps) != 1 || snaps[0].Path != "/var/lib/aos/snapshot/2025-03-14_09-26-53/aos.data.tar.gz" || !s.Exists(snaps[0].Path) {
		t.Fatalf("snapshots %+v", snaps)
	}
	sc, err := sftp.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	f, err := sc.Open(snaps[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil || int64(len(data)) != snaps[0].Size {
		t.Fatalf("read %d bytes (%v), recorded %d", len(data), err, snaps[0].Size)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != snaps[0].SHA256 {
		t.Fatal("the tarball's SHA-256 differs from the recorded one")
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	names := map[string]int64{}
	var manifest struct{ Blueprints []struct{ ID, Label string } }
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		names[h.Name] = int64(len(body))
		if h.Name == "aos.data/manifest.json" {
			_ = json.Unmarshal(body, &manifest)
		}
		if strings.HasPrefix(h.Name, "aos.data/db/blueprints/") && !json.Valid(body) {
			t.Fatalf("%s is not JSON", h.Name)
		}
	}
	infos := c.a.Blueprints()
	if len(manifest.Blueprints) != 2 || manifest.Blueprints[0].ID != infos[0].ID || names["aos.data/db/journal.bin"] != DefaultSnapshotExtra ||
		names["aos.data/db/blueprints/"+infos[1].ID+".json"] == 0 || names["aos.data/secrets/aos.key"] != 64 {
		t.Fatalf("tarball holds %v, manifest %+v", names, manifest)
	}
	if err := sc.Remove(snaps[0].Path); err != nil || s.Exists(snaps[0].Path) {
		t.Fatalf("remove: %v", err)
	}
}

// With a NOPASSWD sudoers entry, `sudo aos_backup` needs no password; a client that
// pins another host key fails before anything runs.
func TestAOSBackupNoPasswordAndHostKey(t *testing.T) {
	c := start(t, Config{})
	s := startSSH(t, c, SSHConfig{SudoNoPassword: true, SnapshotExtra: 1 << 20})
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	if _, err := sshDial(t, s, "admin", other); err == nil {
		t.Fatal("a client pinning another host key connected")
	}
	cc, err := sshDial(t, s, "admin", s.HostKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := runCmd(t, cc, "sudo aos_backup", ""); status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if snaps := c.a.Snapshots(); len(snaps) != 1 || snaps[0].Size < 1<<20 || !s.Exists(snaps[0].Path) {
		t.Fatalf("snapshots %+v", snaps)
	}
}

// A held aos_backup waits at its stage; one whose client has gone goes on when
// released and still leaves its snapshot, as the real command does.
func TestAOSBackupHold(t *testing.T) {
	c := start(t, Config{})
	s := startSSH(t, c, SSHConfig{SudoNoPassword: true})
	for _, stage := range []BackupStage{BeforeSnapshot, AfterSnapshot} {
		before := len(c.a.Snapshots())
		hold := s.HoldBackup(stage)
		cc, err := sshDial(t, s, "admin", s.HostKey())
		if err != nil {
			t.Fatal(err)
		}
		sess, err := cc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Start("sudo aos_backup"); err != nil {
			t.Fatal(err)
		}
		<-hold.Reached()
		if got, want := len(c.a.Snapshots()), before+map[BackupStage]int{BeforeSnapshot: 0, AfterSnapshot: 1}[stage]; got != want {
			t.Fatalf("stage %d: %d snapshots while held, want %d", stage, got, want)
		}
		_ = cc.Close() // the client gives up
		hold.Release()
		for deadline := time.Now().Add(10 * time.Second); len(c.a.Snapshots()) == before && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if snaps := c.a.Snapshots(); len(snaps) != before+1 || !s.Exists(snaps[len(snaps)-1].Path) {
			t.Fatalf("stage %d: snapshots %+v after the release, want one more on the server", stage, snaps)
		}
		c.clock.Advance(time.Second) // the next snapshot gets a folder of its own
	}
}
