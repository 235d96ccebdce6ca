package apstra

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
)

// SnapshotDir is where aos_backup writes its snapshots, one folder per run named by
// its time (YYYY-MM-DD_hh-mm-ss), each holding SnapshotFile.
const (
	SnapshotDir  = "/var/lib/aos/snapshot"
	SnapshotFile = "aos.data.tar.gz"
)

// DefaultSnapshotExtra is how many bytes of database journal a snapshot holds beside
// the blueprints.
const DefaultSnapshotExtra = 64 << 10

// SSHConfig configures the server's SSH side: `sudo aos_backup` over exec and the
// server's files over SFTP.
type SSHConfig struct {
	// RootDir is the server's filesystem as SFTP shows it (required; it must exist).
	RootDir string
	// Username and Password are the SSH account's (default: the API's).
	Username, Password string
	// SudoNoPassword models a NOPASSWD sudoers entry: sudo asks for no password.
	// By default sudo needs the account's password on stdin (sudo -S).
	SudoNoPassword bool
	// SnapshotExtra is how many bytes of journal a snapshot holds beside the
	// blueprints (default DefaultSnapshotExtra).
	SnapshotExtra int64
	// Addr is the listen address ("" means 127.0.0.1:0).
	Addr string
}

// Snapshot is one aos_backup run's result.
type Snapshot struct {
	Path    string // as on the server: /var/lib/aos/snapshot/<time>/aos.data.tar.gz
	Size    int64
	SHA256  string
	Created time.Time
}

// SSHServer is the server's SSH side; Close it when done (the API keeps serving).
type SSHServer struct {
	*sftpserver.Server
	a   *Apstra
	cfg SSHConfig

	mu   sync.Mutex
	hold *BackupHold // nil: aos_backup runs straight through
}

// BackupStage is a point of an aos_backup run where HoldBackup can hold it.
type BackupStage int

const (
	// BeforeSnapshot: sudo accepted the password; no snapshot folder exists yet.
	BeforeSnapshot BackupStage = iota + 1
	// AfterSnapshot: the snapshot is in place; aos_backup has not printed its name.
	AfterSnapshot
)

// BackupHold makes aos_backup slow: runs wait at its stage until Release, so that a
// test can end the client's side while the command runs. A held run goes on once
// released, whether or not its client is still there, as the real command goes on
// when the SSH session that started it ends.
type BackupHold struct {
	stage           BackupStage
	reached         chan struct{}
	release         chan struct{}
	reachedOnce, rn sync.Once
}

// HoldBackup holds every aos_backup run at stage from now on, until the hold is
// released (Close releases it too).
func (s *SSHServer) HoldBackup(stage BackupStage) *BackupHold {
	h := &BackupHold{stage: stage, reached: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
	return h
}

// Reached is closed when a run has reached the hold's stage and waits there.
func (h *BackupHold) Reached() <-chan struct{} { return h.reached }

// Release lets the held runs go on, and later ones run straight through.
func (h *BackupHold) Release() { h.rn.Do(func() { close(h.release) }) }

// wait holds the run at stage if a hold says so.
func (s *SSHServer) wait(stage BackupStage) {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h == nil || h.stage != stage {
		return
	}
	h.reachedOnce.Do(func() { close(h.reached) })
	<-h.release
}

// Close releases a hold (a held run would keep the server from closing) and stops
// the SSH side.
func (s *SSHServer) Close() error {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h != nil {
		h.Release()
	}
	return s.Server.Close()
}

// StartSSH starts the server's SSH side.
func (a *Apstra) StartSSH(cfg SSHConfig) (*SSHServer, error) {
	if cfg.Username == "" {
		cfg.Username = a.cfg.Username
	}
	if cfg.Password == "" {
		cfg.Password = a.cfg.Password
	}
	if cfg.SnapshotExtra <= 0 {
		cfg.SnapshotExtra = DefaultSnapshotExtra
	}
	s := &SSHServer{a: a, cfg: cfg}
	srv, err := sftpserver.Start(sftpserver.Config{
		Username: cfg.Username, Password: cfg.Password, RootDir: cfg.RootDir, Addr: cfg.Addr, Exec: s.exec,
	})
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
}

// Exists reports whether a file is on the server (p as on the server).
func (s *SSHServer) Exists(p string) bool {
	_, err := os.Stat(s.local(p))
	return err == nil
}

func (s *SSHServer) local(p string) string {
	return filepath.Join(s.cfg.RootDir, filepath.FromSlash(path.Clean("/"+p)))
}

// Snapshots lists the snapshots aos_backup wrote, oldest first (whether or not they
// are still on the server).
func (a *Apstra) Snapshots() []Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Snapshot(nil), a.snapshots...)
}

// Texts of the shell, sudo and aos_backup (the last one's wording is ours).
const (
	sudoNeedsTerminal = "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n"
	sudoNeedsPassword = "sudo: a password is required\n"
	sudoWrongPassword = "sudo: 1 incorrect password attempt\n"
	aosBackupNotRoot  = "aos_backup: this command must be run as root (use sudo)\n"
	aosBackupBanner   = "====================================================================\n"
)

// exec runs one command line: `[sudo [-S] [-n] [-p PROMPT]] aos_backup`; anything
// else is unknown to the shell.
func (s *SSHServer) exec(command string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
	args := strings.Fields(command)
	sudo, readStdin, noPrompt := false, false, false
	prompt := "[sudo] password for " + s.cfg.Username + ": "
	if len(args) > 0 && args[0] == "sudo" {
		sudo = true
		args = args[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "-") {
			switch args[0] {
			case "-S":
				readStdin = true
			case "-n":
				noPrompt = true
			case "-p":
				if len(args) > 1 {
					prompt = strings.Trim(args[1], `'"`)
					args = args[1:]
				}
			}
			args = args[1:]
		}
	}
	if len(args) != 1 || args[0] != "aos_backup" {
		name := "(nothing)"
		if len(args) > 0 {
			name = args[0]
		}
		_, _ = fmt.Fprintf(stderr, "bash: %s: command not found\n", name)
		return 127
	}
	if !sudo {
		_, _ = io.WriteString(stderr, aosBackupNotRoot)
		return 1
	}
	if !s.cfg.SudoNoPassword {
		switch {
		case noPrompt:
			_, _ = io.WriteString(stderr, sudoNeedsPassword)
			return 1
		case !readStdin:
			_, _ = io.WriteString(stderr, sudoNeedsTerminal)
			return 1
		}
		_, _ = io.WriteString(stderr, prompt)
		line, _ := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if subtle.ConstantTimeCompare([]byte(line), []byte(s.cfg.Password)) != 1 {
			_, _ = io.WriteString(stderr, "\n"+sudoWrongPassword)
			return 1
		}
		_, _ = io.WriteString(stderr, "\n")
	}
	s.wait(BeforeSnapshot)
	snap, err := s.writeSnapshot()
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "aos_backup: backup failed: %v\n", err)
		return 1
	}
	s.wait(AfterSnapshot)
	_, _ = fmt.Fprintf(stdout, "%s  Backup operation completed successfully.\n%sNew AOS snapshot: %s\n",
		aosBackupBanner, aosBackupBanner, path.Base(path.Dir(snap.Path)))
	return 0
}

// writeSnapshot writes a tar.gz of the server's state (a manifest, every blueprint's
// graph, the secret keys Apstra's snapshots include, and a journal) under a temporary
// name, then renames it into place: a reader never sees half of one.
func (s *SSHServer) writeSnapshot() (Snapshot, error) {
	a := s.a
	now := a.Now().UTC()
	p := path.Join(SnapshotDir, now.Format("2006-01-02_15-04-05"), SnapshotFile)
	final := s.local(p)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Snapshot{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), ".aos_backup-*")
	if err != nil {
		return Snapshot{}, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone once renamed into place
	sum := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(tmp, sum)}
	gz := gzip.NewWriter(counted)
	tw := tar.NewWriter(gz)

	a.mu.Lock()
	bps := make([]blueprint, 0, len(a.blueprints))
	for _, bp := range a.blueprints {
		bps = append(bps, bp.clone())
	}
	a.mu.Unlock()
	manifest := map[string]any{"server": a.cfg.Name, "version": a.cfg.Version, "created_at": now.Format(timeFormat)}
	var list []map[string]any
	for _, bp := range bps {
		list = append(list, map[string]any{"id": bp.id, "label": bp.cfg.Label, "version": bp.version})
	}
	manifest["blueprints"] = list
	mb, _ := json.MarshalIndent(manifest, "", "  ")
	err = errors.Join(
		addFile(tw, "aos.data/manifest.json", now, int64(len(mb)), func(w io.Writer) error { _, err := w.Write(mb); return err }),
		addFile(tw, "aos.data/secrets/aos.key", now, 64, func(w io.Writer) error {
			_, err := io.WriteString(w, hex.EncodeToString(a.jwtKey))
			return err
		}),
	)
	for i := range bps {
		bp := &bps[i]
		if err != nil {
			break
		}
		var n countingWriter // generation is cheap: write once to measure, once for real
		gw := newGraphWriter(&n, 0)
		bp.writeGraph(gw)
		_ = gw.flush()
		err = addFile(tw, "aos.data/db/blueprints/"+bp.id+".json", now, n.n, func(w io.Writer) error {
			gw := newGraphWriter(w, 0)
			bp.writeGraph(gw)
			return gw.flush()
		})
	}
	if err == nil {
		err = addFile(tw, "aos.data/db/journal.bin", now, s.cfg.SnapshotExtra, func(w io.Writer) error {
			_, err := io.CopyN(w, &keystream{state: seedFor(a.serverID, "journal", now.String())}, s.cfg.SnapshotExtra)
			return err
		})
	}
	err = errors.Join(err, tw.Close(), gz.Close(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Path: p, Size: counted.n, SHA256: hex.EncodeToString(sum.Sum(nil)), Created: now}
	a.mu.Lock()
	a.snapshots = append(a.snapshots, snap)
	a.mu.Unlock()
	a.Logf("aos_backup wrote %s (%d bytes)", p, snap.Size)
	return snap, nil
}

func addFile(tw *tar.Writer, name string, mod time.Time, size int64, write func(io.Writer) error) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	return write(tw)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// keystream is deterministic pseudo-random bytes (mix of a counter).
type keystream struct{ state uint64 }

func (k *keystream) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		k.state++
		v := mix(k.state)
		for b := 0; b < 8 && i+b < len(p); b++ {
			p[i+b] = byte(v >> (8 * b))
		}
	}
	return len(p), nil
}
