package sftpverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const (
	testUser = "backup"
	testPass = "S3cret-Pa55word!"
)

// testServer is a minimal SSH server with the SFTP subsystem, rooted in a temporary
// folder, on 127.0.0.1. It is self-contained on purpose.
type testServer struct {
	addr    string
	dir     string
	keys    []ssh.Signer
	logins  atomic.Int32
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
	stopped atomic.Bool
}

func ed25519Signer(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ecdsaSigner(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startServer(t *testing.T, keys ...ssh.Signer) *testServer {
	t.Helper()
	if len(keys) == 0 {
		keys = []ssh.Signer{ed25519Signer(t)}
	}
	ts := &testServer{dir: t.TempDir(), keys: keys}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pw) == testPass {
				ts.logins.Add(1)
				return nil, nil
			}
			return nil, errors.New("access denied")
		},
	}
	for _, k := range keys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ln = ln
	ts.addr = ln.Addr().String()
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.mu.Lock()
			ts.conns = append(ts.conns, c)
			ts.mu.Unlock()
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				ts.serve(c, cfg)
			}()
		}
	}()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.stopped.Swap(true) {
		return
	}
	_ = ts.ln.Close()
	ts.mu.Lock()
	for _, c := range ts.conns {
		_ = c.Close()
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}

func (ts *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			defer ch.Close()
			for req := range creqs {
				ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if !ok {
					continue
				}
				srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(ts.dir))
				if err != nil {
					return
				}
				_ = srv.Serve()
				_ = srv.Close()
				return
			}
		}()
	}
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " root@sftp-test"
}

func (ts *testServer) cfg() Config {
	return Config{Addr: ts.addr, Username: testUser, Password: testPass, Timeout: 5 * time.Second}
}

func dialOK(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func noPassword(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testPass) {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestDialWithAuthorizedKeyLine(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.HostKey = authorizedLine(ts.keys[0].PublicKey())
	c := dialOK(t, cfg)
	if err := c.MkdirAll(context.Background(), "probe"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if ts.logins.Load() != 1 {
		t.Errorf("logins = %d", ts.logins.Load())
	}
}

func TestDialWithKnownHostsLine(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.HostKey = knownHostsLine(ts.addr, ts.keys[0].PublicKey())
	if !strings.HasPrefix(cfg.HostKey, "[127.0.0.1]:") {
		t.Fatalf("not a known_hosts line: %s", cfg.HostKey)
	}
	dialOK(t, cfg)
}

func knownHostsLine(addr string, k ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, k)
}

func TestDialWithFingerprint(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.HostKeyFingerprint = ssh.FingerprintSHA256(ts.keys[0].PublicKey())
	dialOK(t, cfg)
	cfg.HostKeyFingerprint += "=" // padded form as some tools print it
	dialOK(t, cfg)
	// both settings, agreeing
	cfg.HostKey = authorizedLine(ts.keys[0].PublicKey())
	dialOK(t, cfg)
}

// A server with several host keys presents the configured one.
func TestDialPicksConfiguredKeyType(t *testing.T) {
	ts := startServer(t, ed25519Signer(t), ecdsaSigner(t))
	for _, k := range ts.keys {
		cfg := ts.cfg()
		cfg.HostKey = authorizedLine(k.PublicKey())
		dialOK(t, cfg)
	}
}

func TestDialRefusesMismatchedKey(t *testing.T) {
	ts := startServer(t)
	other := ed25519Signer(t).PublicKey()
	presented := ssh.FingerprintSHA256(ts.keys[0].PublicKey())
	for name, cfg := range map[string]Config{
		"host_key":             func() Config { c := ts.cfg(); c.HostKey = authorizedLine(other); return c }(),
		"host_key_fingerprint": func() Config { c := ts.cfg(); c.HostKeyFingerprint = ssh.FingerprintSHA256(other); return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Dial(context.Background(), cfg)
			var mm *HostKeyMismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("error = %v, want a HostKeyMismatchError", err)
			}
			msg := err.Error()
			for _, want := range []string{"host key mismatch", ts.addr, ssh.FingerprintSHA256(other), presented, "ssh-ed25519", "update host_key / host_key_fingerprint", "verify"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			noPassword(t, err)
		})
	}
	if ts.logins.Load() != 0 {
		t.Errorf("the password was sent to a server with the wrong key (%d logins)", ts.logins.Load())
	}
}

func TestDialRequiresHostKeyConfig(t *testing.T) {
	ts := startServer(t)
	_, err := Dial(context.Background(), ts.cfg())
	if err == nil || !strings.Contains(err.Error(), "host key is not configured") ||
		!strings.Contains(err.Error(), "host_key_fingerprint") || !strings.Contains(err.Error(), "insecure_ignore_host_key") {
		t.Errorf("error = %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"bad host_key":      func(c *Config) { c.HostKey = "not a key" },
		"md5 fingerprint":   func(c *Config) { c.HostKeyFingerprint = "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48" },
		"short fingerprint": func(c *Config) { c.HostKeyFingerprint = "SHA256:abc" },
		"disagreeing": func(c *Config) {
			c.HostKey = authorizedLine(ts.keys[0].PublicKey())
			c.HostKeyFingerprint = ssh.FingerprintSHA256(ed25519Signer(t).PublicKey())
		},
		"no user":    func(c *Config) { c.InsecureIgnoreHostKey = true; c.Username = "" },
		"no address": func(c *Config) { c.InsecureIgnoreHostKey = true; c.Addr = "" },
	} {
		cfg := ts.cfg()
		mut(&cfg)
		if _, err := Dial(context.Background(), cfg); err == nil {
			t.Errorf("%s: Dial succeeded", name)
		} else {
			noPassword(t, err)
		}
	}
	if ts.logins.Load() != 0 {
		t.Errorf("config errors still logged in %d times", ts.logins.Load())
	}
}

func TestDialInsecureOptIn(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.InsecureIgnoreHostKey = true
	dialOK(t, cfg)
}

func TestDialWrongPassword(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.InsecureIgnoreHostKey = true
	cfg.Password = "wrong-" + testPass
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), testUser) {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Errorf("error reveals the password: %v", err)
	}
	t.Logf("wrong password: %v", err)
}

func TestMkdirAllAndHash(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.HostKey = authorizedLine(ts.keys[0].PublicKey())
	c := dialOK(t, cfg)

	if err := c.MkdirAll(context.Background(), "backups/aruba/mc1"); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(context.Background(), "backups/aruba/mc1/"); err != nil { // existing: fine
		t.Fatal(err)
	}
	abs := filepath.Join(ts.dir, "abs", "x")
	if err := c.MkdirAll(context.Background(), abs); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(ts.dir, "backups", "aruba", "mc1"), abs} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "backups", "file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(context.Background(), "backups/file/sub"); err == nil {
		t.Error("MkdirAll through a file succeeded")
	}

	data := make([]byte, 3<<20+17) // several SFTP packets, uneven end
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "backups", "aruba", "mc1", "flash.tar.gz"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	size, sum, err := c.Hash(context.Background(), "backups/aruba/mc1/flash.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Errorf("Hash = %d %s, want %d %x", size, sum, len(data), want)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if size, sum, err := c.Hash(context.Background(), "empty"); err != nil || size != 0 || sum != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Hash(empty) = %d %s %v", size, sum, err)
	}
	if _, _, err := c.Hash(context.Background(), "backups/missing.tar.gz"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.tar.gz") {
		t.Errorf("Hash(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, _, err := c.Hash(context.Background(), "backups"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Hash(folder) = %v", err)
	}
}

func TestDialTimesOutOnSilentListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() { // accept and never say a word
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	})
	cfg := Config{Addr: ln.Addr().String(), Username: testUser, Password: testPass, InsecureIgnoreHostKey: true, Timeout: time.Minute}

	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Dial(ctx, cfg)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer in time") {
			t.Errorf("error = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %s despite a 200ms deadline", d)
		}
		t.Logf("timeout: %v", err)
		noPassword(t, err)
	})
	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Dial(ctx, cfg)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %s after cancel", d)
		}
	})
	t.Run("config timeout", func(t *testing.T) {
		cfg := cfg
		cfg.Timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := Dial(context.Background(), cfg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %s despite a 200ms timeout", d)
		}
	})
}

func TestDialConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = Dial(context.Background(), Config{Addr: addr, Username: testUser, Password: testPass, InsecureIgnoreHostKey: true, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "connect") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error = %v", err)
	}
}

func TestNormaliseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:2222": "10.0.0.1:2222",
		"10.0.0.1":      "10.0.0.1:22",
		"host.example":  "host.example:22",
		"[::1]:22":      "[::1]:22",
		"::1":           "[::1]:22",
		"[::1]":         "[::1]:22",
	} {
		if got, err := normaliseAddr(in); err != nil || got != want {
			t.Errorf("normaliseAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a b", "[]"} {
		if got, err := normaliseAddr(in); err == nil {
			t.Errorf("normaliseAddr(%q) = %q, want error", in, got)
		}
	}
}

func TestRedact(t *testing.T) {
	base := io.ErrUnexpectedEOF
	err := redact(errors.Join(errors.New("oops "+testPass), base), testPass)
	if strings.Contains(err.Error(), testPass) || !strings.Contains(err.Error(), "[redacted]") || !errors.Is(err, base) {
		t.Errorf("redact = %v", err)
	}
	if got := redact(base, testPass); got != base {
		t.Errorf("redact changed an error without the secret: %v", got)
	}
}

// Read hands the file to its consumer once and returns the SHA-256 of exactly what
// the consumer was given; a consumer's own failure comes back unchanged (so the
// caller can tell it from a failed read), and a consumer that stops early fails.
func TestReadCopiesWhileHashing(t *testing.T) {
	ts := startServer(t)
	cfg := ts.cfg()
	cfg.HostKey = authorizedLine(ts.keys[0].PublicKey())
	c := dialOK(t, cfg)
	data := make([]byte, 2<<20+5) // several SFTP packets, uneven end
	for i := range data {
		data[i] = byte(i * 13)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "flash.tar.gz"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var copied []byte
	size, sum, err := c.Read(context.Background(), "flash.tar.gz", func(r io.Reader) error {
		var err error
		copied, err = io.ReadAll(r)
		return err
	})
	want := sha256.Sum256(data)
	if err != nil || size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("Read = %d %s %v, want %d %x", size, sum, err, len(data), want)
	}
	if got := sha256.Sum256(copied); got != want {
		t.Errorf("the consumer was given %d bytes with SHA-256 %x, want the file's %x", len(copied), got, want)
	}

	storeDown := errors.New("the store refused the copy")
	_, _, err = c.Read(context.Background(), "flash.tar.gz", func(r io.Reader) error {
		if _, err := io.CopyN(io.Discard, r, 100<<10); err != nil {
			return err
		}
		return storeDown
	})
	if err != storeDown {
		t.Errorf("a failing consumer: Read = %v, want its own error unchanged", err)
	}
	_, _, err = c.Read(context.Background(), "flash.tar.gz", func(r io.Reader) error {
		_, err := io.CopyN(io.Discard, r, 10)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 bytes") {
		t.Errorf("a consumer that stops early: Read = %v, want an error", err)
	}
	if _, _, err := c.Read(context.Background(), "missing.tar.gz", func(io.Reader) error {
		t.Error("the consumer was called for a missing file")
		return nil
	}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.tar.gz") {
		t.Errorf("Read(missing) = %v, want fs.ErrNotExist", err)
	}
}
