package sftpserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

const (
	testUser = "backup"
	testPass = "s3cret-pass"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dial(t *testing.T, s *Server, user, pass string) (*ssh.Client, *sftp.Client, error) {
	t.Helper()
	cc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.Password(pass)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	sc, err := sftp.NewClient(cc)
	if err != nil {
		_ = cc.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { _ = sc.Close(); _ = cc.Close() })
	return cc, sc, nil
}

func mustDial(t *testing.T, s *Server) *sftp.Client {
	t.Helper()
	_, sc, err := dial(t, s, testUser, testPass)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return sc
}

func TestStartValidatesConfig(t *testing.T) {
	if _, err := Start(Config{Username: "u", Password: "p"}); err == nil {
		t.Fatal("Start without RootDir succeeded")
	}
	if _, err := Start(Config{RootDir: t.TempDir()}); err == nil {
		t.Fatal("Start without credentials succeeded")
	}
	if _, err := Start(Config{Username: "u", Password: "p", RootDir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("Start with a missing RootDir succeeded")
	}
}

func TestAddressAndHostKey(t *testing.T) {
	s := startServer(t)
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	if port == "0" || s.Port() == 0 || !strings.HasSuffix(s.Addr(), ":"+port) {
		t.Fatalf("Port() = %d, Addr() = %s", s.Port(), s.Addr())
	}
	if s.HostKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("host key type %s, want ed25519", s.HostKey().Type())
	}
	line := s.AuthorizedKey()
	if strings.HasSuffix(line, "\n") || !strings.HasPrefix(line, "ssh-ed25519 ") {
		t.Fatalf("AuthorizedKey() = %q", line)
	}
	parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || !bytes.Equal(parsed.Marshal(), s.HostKey().Marshal()) {
		t.Fatalf("AuthorizedKey does not parse back to the host key: %v", err)
	}
	if !strings.HasPrefix(s.Fingerprint(), "SHA256:") || s.Fingerprint() != ssh.FingerprintSHA256(parsed) {
		t.Fatalf("Fingerprint() = %q", s.Fingerprint())
	}
	// A second server has a different key.
	s2 := startServer(t)
	if s2.Fingerprint() == s.Fingerprint() {
		t.Fatal("two servers share a host key")
	}
}

func TestFixedAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir(), Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Addr() != addr {
		t.Fatalf("Addr() = %s, want %s", s.Addr(), addr)
	}
}

func TestAuth(t *testing.T) {
	s := startServer(t)
	mustDial(t, s)
	if got := s.Stats(); got.Logins != 1 || got.FailedLogins != 0 {
		t.Fatalf("after good login: %+v", got)
	}
	if _, _, err := dial(t, s, testUser, "wrong"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("wrong password: err = %v", err)
	}
	if _, _, err := dial(t, s, "root", testPass); err == nil {
		t.Fatal("wrong user accepted")
	}
	if got := s.Stats(); got.Logins != 1 || got.FailedLogins != 2 {
		t.Fatalf("after two bad logins: %+v", got)
	}

	s.SetRefuseAll(true)
	if _, _, err := dial(t, s, testUser, testPass); err == nil {
		t.Fatal("SetRefuseAll(true): login succeeded")
	}
	s.SetRefuseAll(false)
	mustDial(t, s)
	if got := s.Stats(); got.Logins != 2 || got.FailedLogins != 3 {
		t.Fatalf("final stats: %+v", got)
	}
}

func TestUploadReadStatList(t *testing.T) {
	s := startServer(t)
	c := mustDial(t, s)

	if err := c.MkdirAll("site/conductor-01"); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB, several packets
	f, err := c.Create("site/conductor-01/flash.tar.gz")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := f.Write(payload); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(s.RootDir(), "site", "conductor-01", "flash.tar.gz"))
	if err != nil || !bytes.Equal(onDisk, payload) {
		t.Fatalf("file on disk: err=%v, %d bytes, want %d", err, len(onDisk), len(payload))
	}
	if got := s.Stats().Uploads; got != 1 {
		t.Fatalf("Uploads = %d, want 1", got)
	}

	// Absolute and relative names are the same file (home is the root).
	rf, err := c.Open("/site/conductor-01/flash.tar.gz")
	if err != nil {
		t.Fatalf("Open absolute: %v", err)
	}
	back, err := io.ReadAll(rf)
	_ = rf.Close()
	if err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("read back: err=%v, %d bytes", err, len(back))
	}
	if got := s.Stats().Uploads; got != 1 {
		t.Fatalf("reading counted as upload: Uploads = %d", got)
	}
	st, err := c.Stat("site/conductor-01/flash.tar.gz")
	if err != nil || st.Size() != int64(len(payload)) || st.IsDir() {
		t.Fatalf("Stat: %v %v", st, err)
	}
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Fatalf("Getwd = %q, %v; want /", wd, err)
	}

	if err := c.Mkdir("site/conductor-02"); err != nil {
		t.Fatal(err)
	}
	entries, err := c.ReadDir("/site")
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "conductor-01,conductor-02" {
		t.Fatalf("ReadDir names = %v", names)
	}

	// Overwrite truncates; rename and remove work.
	if err := writeFile(c, "site/conductor-01/flash.tar.gz", []byte("short")); err != nil {
		t.Fatal(err)
	}
	onDisk, _ = os.ReadFile(filepath.Join(s.RootDir(), "site", "conductor-01", "flash.tar.gz"))
	if string(onDisk) != "short" {
		t.Fatalf("overwrite left %q", onDisk)
	}
	if err := c.Rename("site/conductor-01/flash.tar.gz", "site/conductor-02/moved.tar.gz"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if err := c.Remove("site/conductor-02/moved.tar.gz"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := c.RemoveDirectory("site/conductor-02"); err != nil {
		t.Fatalf("RemoveDirectory: %v", err)
	}
	if _, err := c.Stat("site/conductor-02"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat removed dir: %v", err)
	}
	if got := s.Stats().Uploads; got != 2 {
		t.Fatalf("Uploads = %d, want 2", got)
	}
}

func writeFile(c *sftp.Client, name string, data []byte) error {
	f, err := c.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func TestUploadDoesNotCreateParents(t *testing.T) {
	s := startServer(t)
	c := mustDial(t, s)
	err := writeFile(c, "missing/dir/file.cfg", []byte("x"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("upload into a missing directory: err = %v, want not-exist", err)
	}
	if _, err := os.Stat(filepath.Join(s.RootDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("upload created a parent directory")
	}
}

func TestChrootCannotBeEscaped(t *testing.T) {
	base := t.TempDir()
	rootDir := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{rootDir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Symlinks planted inside the root that point outside it.
	if err := os.Symlink(outside, filepath.Join(rootDir, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside/secret.txt", filepath.Join(rootDir, "rel-link")); err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: rootDir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := mustDial(t, s)

	// ".." is clamped at the root: these names address files inside the root.
	if _, err := c.Stat("../outside/secret.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat ../outside/secret.txt: %v (want not-exist: path clamped to the root)", err)
	}
	if err := writeFile(c, "../../escape.txt", []byte("x")); err != nil {
		t.Fatalf("write ../../escape.txt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootDir, "escape.txt")); err != nil {
		t.Fatalf("../../escape.txt did not land in the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "escape.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a write escaped the root through ..")
	}

	// Symlinks out of the root are refused for reading, writing and listing.
	for _, name := range []string{"link-out/secret.txt", "/rel-link", "rel-link"} {
		if f, err := c.Open(name); err == nil {
			data, _ := io.ReadAll(f)
			_ = f.Close()
			t.Fatalf("read through symlink %s succeeded: %q", name, data)
		}
	}
	if err := writeFile(c, "link-out/new.txt", []byte("x")); err == nil {
		t.Fatal("write through an escaping symlink succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a write escaped the root through a symlink")
	}
	if _, err := c.ReadDir("link-out"); err == nil {
		t.Fatal("listing through an escaping symlink succeeded")
	}
	if err := c.Mkdir("link-out/sub"); err == nil {
		t.Fatal("mkdir through an escaping symlink succeeded")
	}
	// Clients cannot create links.
	if err := c.Symlink("/etc/passwd", "pw"); err == nil {
		t.Fatal("Symlink succeeded")
	}
	if err := c.Link("escape.txt", "hard"); err == nil {
		t.Fatal("Link succeeded")
	}
	if err := c.Rename("escape.txt", "link-out/moved.txt"); err == nil {
		t.Fatal("rename through an escaping symlink succeeded")
	}
	if err := c.RemoveDirectory("/"); err == nil {
		t.Fatal("removing the root succeeded")
	}
}

func TestCloseDropsConnectionsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cc, c, err := dial(t, s, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	// An upload in progress when the server closes.
	f, err := c.Create("partial.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	// A connection that never finishes its handshake.
	raw, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Stat("partial.bin"); err == nil {
		t.Fatal("client still works after Close")
	}
	_ = c.Close()
	_ = cc.Close()
	_ = raw.Close()
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("listener still accepts after Close")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNonSFTPRequestsRefused(t *testing.T) {
	s := startServer(t)
	cc, _, err := dial(t, s, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := cc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Run("scp -t /tmp"); err == nil {
		t.Fatal("exec request accepted")
	}
	if _, _, err := cc.OpenChannel("direct-tcpip", nil); err == nil {
		t.Fatal("direct-tcpip channel accepted")
	}
}

func TestHostKeyTypes(t *testing.T) {
	types := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSA}
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir(), HostKeyTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys := s.HostKeys()
	if len(keys) != len(types) || !bytes.Equal(s.HostKey().Marshal(), keys[0].Marshal()) {
		t.Fatalf("HostKeys() = %d keys, want %d with HostKey() first", len(keys), len(types))
	}
	// A client asking for one algorithm is shown the key of that type.
	for i, algo := range []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSASHA512} {
		cc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
			User: testUser, Auth: []ssh.AuthMethod{ssh.Password(testPass)},
			HostKeyCallback: ssh.FixedHostKey(keys[i]), HostKeyAlgorithms: []string{algo}, Timeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		_ = cc.Close()
	}
	if _, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir(), HostKeyTypes: []string{"ssh-dss"}}); err == nil {
		t.Fatal("an unknown host key type was accepted")
	}
}

// answersKeepalive reports whether the server replies to a keepalive within a second.
func answersKeepalive(cc *ssh.Client) bool {
	done := make(chan error, 1)
	go func() {
		_, _, err := cc.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(time.Second):
		return false
	}
}

// returnsWithin runs f and reports whether it returned within d.
func returnsWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func TestStalls(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*StallReadAfter)/16)
	readFile := func(c *sftp.Client) error {
		f, err := c.Open("f.bin")
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	}
	for _, tc := range []struct {
		name   string
		point  StallPoint
		silent bool
		op     func(*sftp.Client) error
	}{
		{"mkdir", StallMkdir, false, func(c *sftp.Client) error { return c.Mkdir("d") }},
		{"mkdir silent", StallMkdir, true, func(c *sftp.Client) error { return c.Mkdir("d") }},
		{"read", StallRead, false, readFile},
		{"read silent", StallRead, true, readFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			if err := os.WriteFile(filepath.Join(s.RootDir(), "f.bin"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			cc, c, err := dial(t, s, testUser, testPass)
			if err != nil {
				t.Fatal(err)
			}
			// The first StallReadAfter bytes still come.
			if tc.point == StallRead {
				s.SetStall(tc.point, tc.silent)
				f, err := c.Open("f.bin")
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, StallReadAfter)
				if _, err := io.ReadFull(io.NewSectionReader(f, 0, StallReadAfter), buf); err != nil || !bytes.Equal(buf, data[:StallReadAfter]) {
					t.Fatalf("the bytes before the stall: %v", err)
				}
				_ = f.Close()
			}
			s.SetStall(tc.point, tc.silent)
			var opErr error
			if returnsWithin(300*time.Millisecond, func() { opErr = tc.op(c) }) {
				t.Fatalf("the request was answered despite the stall: %v", opErr)
			}
			if got := s.Stats().Stalls; got == 0 {
				t.Errorf("Stats().Stalls = 0 after a stall")
			}
			if alive := answersKeepalive(cc); alive == tc.silent {
				t.Errorf("keepalive answered = %v, want %v (silent = %v)", alive, !tc.silent, tc.silent)
			}
			// The client's close ends the stalled request on both sides.
			if !returnsWithin(5*time.Second, func() { _ = cc.Close() }) {
				t.Fatal("closing the client hangs")
			}
			s.SetStall(StallNone, false)
			mustDial(t, s) // the server still serves new connections
		})
	}
	t.Run("after login", func(t *testing.T) {
		s := startServer(t)
		s.SetStall(StallAfterLogin, true)
		cc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
			User: testUser, Auth: []ssh.AuthMethod{ssh.Password(testPass)},
			HostKeyCallback: ssh.FixedHostKey(s.HostKey()), Timeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatalf("the handshake and login must complete: %v", err)
		}
		if returnsWithin(300*time.Millisecond, func() { _, _ = sftp.NewClient(cc) }) {
			t.Fatal("SFTP started despite the stall")
		}
		if answersKeepalive(cc) {
			t.Error("a keepalive was answered after the stall")
		}
		if s.Stats().Stalls != 1 || s.Stats().Logins != 1 {
			t.Errorf("stats %+v, want one login and one stall", s.Stats())
		}
		_ = cc.Close()
	})
}

// With Config.Exec, exec requests run it: the command line, stdin, stdout, stderr and
// the exit status go where ssh puts them; SFTP still works beside it.
func TestExec(t *testing.T) {
	s, err := Start(Config{Username: testUser, Password: testPass, RootDir: t.TempDir(),
		Exec: func(cmd string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
			line, _ := io.ReadAll(io.LimitReader(stdin, 64))
			_, _ = io.WriteString(stdout, "ran "+cmd+" with "+strings.TrimSpace(string(line)))
			_, _ = io.WriteString(stderr, "a warning")
			if cmd == "fail" {
				return 3
			}
			return 0
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cc, sc, err := dial(t, s, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd    string
		status int
	}{{"sudo -S aos_backup", 0}, {"fail", 3}} {
		sess, err := cc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader("pw\n"), &out, &errOut
		err = sess.Run(tc.cmd)
		sess.Close()
		var exit *ssh.ExitError
		if tc.status == 0 && err != nil || tc.status != 0 && (!errors.As(err, &exit) || exit.ExitStatus() != tc.status) {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if out.String() != "ran "+tc.cmd+" with pw" || errOut.String() != "a warning" {
			t.Fatalf("%s: stdout %q stderr %q", tc.cmd, out.String(), errOut.String())
		}
	}
	if _, err := sc.Getwd(); err != nil {
		t.Fatalf("SFTP beside exec: %v", err)
	}
}
