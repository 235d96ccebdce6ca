package sftpverify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// startSim starts the simulated SCP server with the given host key types.
func startSim(t *testing.T, keyTypes ...string) *sftpserver.Server {
	t.Helper()
	s, err := sftpserver.Start(sftpserver.Config{Username: testUser, Password: testPass, RootDir: t.TempDir(), HostKeyTypes: keyTypes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func simConfig(s *sftpserver.Server) Config {
	return Config{Addr: s.Addr(), Username: testUser, Password: testPass, HostKey: s.AuthorizedKey(), Timeout: 5 * time.Second}
}

// Every step honours its context when the server stops answering: after the
// login (Dial), at mkdir (MkdirAll), in the middle of a file (Hash); and Close never
// blocks. The context is made once the connection is up, so that the step is what
// it ends.
func TestStalledServerEndsWithTheContext(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte{7}, 4*sftpserver.StallReadAfter)
	type newCtx func() (context.Context, context.CancelFunc)
	steps := []struct {
		name string
		run  func(t *testing.T, s *sftpserver.Server, newCtx newCtx) error
	}{
		{"after login", func(t *testing.T, s *sftpserver.Server, newCtx newCtx) error {
			s.SetStall(sftpserver.StallAfterLogin, true)
			cfg := simConfig(s)
			cfg.Timeout = time.Minute // the context ends first
			ctx, cancel := newCtx()
			defer cancel()
			c, err := Dial(ctx, cfg)
			if err == nil {
				_ = c.Close()
			}
			return err
		}},
		{"mkdir", func(t *testing.T, s *sftpserver.Server, newCtx newCtx) error {
			c := dialOK(t, simConfig(s))
			s.SetStall(sftpserver.StallMkdir, false)
			ctx, cancel := newCtx()
			defer cancel()
			err := c.MkdirAll(ctx, "a/b")
			testkit.Returns(t, "Close", func() { _ = c.Close() })
			return err
		}},
		{"mid-hash", func(t *testing.T, s *sftpserver.Server, newCtx newCtx) error {
			c := dialOK(t, simConfig(s))
			s.SetStall(sftpserver.StallRead, false)
			ctx, cancel := newCtx()
			defer cancel()
			_, _, err := c.Hash(ctx, "f.bin")
			testkit.Returns(t, "Close", func() { _ = c.Close() })
			return err
		}},
		{"mid-copy", func(t *testing.T, s *sftpserver.Server, newCtx newCtx) error {
			c := dialOK(t, simConfig(s))
			s.SetStall(sftpserver.StallRead, false)
			ctx, cancel := newCtx()
			defer cancel()
			_, _, err := c.Read(ctx, "f.bin", func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
			testkit.Returns(t, "Close", func() { _ = c.Close() })
			return err
		}},
	}
	ends := []struct {
		name   string
		want   error
		newCtx newCtx
	}{
		{"deadline", context.DeadlineExceeded, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}},
		{"cancel", context.Canceled, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}},
	}
	for _, step := range steps {
		for _, end := range ends {
			t.Run(step.name+"/"+end.name, func(t *testing.T) {
				s := startSim(t)
				if err := os.WriteFile(filepath.Join(s.RootDir(), "f.bin"), data, 0o600); err != nil {
					t.Fatal(err)
				}
				var err error
				testkit.Returns(t, step.name, func() { err = step.run(t, s, end.newCtx) })
				if !errors.Is(err, end.want) {
					t.Errorf("error = %v, want %v", err, end.want)
				}
				if err != nil && !strings.Contains(err.Error(), s.Addr()) {
					t.Errorf("error does not name the server: %v", err)
				}
				noPassword(t, err)
				if s.Stats().Stalls == 0 {
					t.Error("the server never stalled: the test did not reach its stall")
				}
			})
		}
	}
}

// A server that drops off the network (answers nothing, keepalives included) is
// given up on after the keepalives go unanswered, even without a deadline.
func TestKeepaliveEndsASilentServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		point sftpserver.StallPoint
		op    func(context.Context, *Client) error
	}{
		{"mkdir", sftpserver.StallMkdir, func(ctx context.Context, c *Client) error { return c.MkdirAll(ctx, "x") }},
		{"mid-hash", sftpserver.StallRead, func(ctx context.Context, c *Client) error { _, _, err := c.Hash(ctx, "f.bin"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t)
			if err := os.WriteFile(filepath.Join(s.RootDir(), "f.bin"), make([]byte, 4*sftpserver.StallReadAfter), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := simConfig(s)
			cfg.KeepaliveInterval = 100 * time.Millisecond
			cfg.KeepaliveCountMax = 3
			c := dialOK(t, cfg)
			s.SetStall(tc.point, true)
			var err error
			testkit.Returns(t, tc.name, func() { err = tc.op(context.Background(), c) })
			if err == nil || !strings.Contains(err.Error(), "keepalive") || !strings.Contains(err.Error(), s.Addr()) {
				t.Errorf("error = %v, want one naming the server and the unanswered keepalives", err)
			}
			noPassword(t, err)
			testkit.Returns(t, "Close", func() { _ = c.Close() })
		})
	}
	// A server that is merely slow answers keepalives: the connection stays up.
	t.Run("slow but alive", func(t *testing.T) {
		s := startSim(t)
		cfg := simConfig(s)
		cfg.KeepaliveInterval = 50 * time.Millisecond
		cfg.KeepaliveCountMax = 2
		c := dialOK(t, cfg)
		s.SetStall(sftpserver.StallMkdir, false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second) // 20 keepalive rounds
		defer cancel()
		if err := c.MkdirAll(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want the deadline (keepalives were answered)", err)
		}
	})
}

// A pinned fingerprint is found among a server's several host keys, whichever key
// it names; no password is sent to a server that has none of them.
func TestFingerprintOnServerWithSeveralKeys(t *testing.T) {
	s := startSim(t, ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519, ssh.KeyAlgoRSA)
	for _, k := range s.HostKeys() {
		t.Run(k.Type(), func(t *testing.T) {
			before := s.Stats().Logins
			cfg := simConfig(s)
			cfg.HostKey = ""
			cfg.HostKeyFingerprint = ssh.FingerprintSHA256(k)
			c := dialOK(t, cfg)
			if err := c.MkdirAll(context.Background(), "d"); err != nil {
				t.Fatal(err)
			}
			if got := s.Stats().Logins - before; got != 1 {
				t.Errorf("%d logins, want 1", got)
			}
		})
	}
	t.Run("none matches", func(t *testing.T) {
		before := s.Stats()
		cfg := simConfig(s)
		cfg.HostKey = ""
		other := ed25519Signer(t).PublicKey()
		cfg.HostKeyFingerprint = ssh.FingerprintSHA256(other)
		_, err := Dial(context.Background(), cfg)
		var mm *HostKeyMismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("error = %v, want a HostKeyMismatchError", err)
		}
		for _, k := range s.HostKeys() { // every key the server showed is named
			if !strings.Contains(err.Error(), ssh.FingerprintSHA256(k)) {
				t.Errorf("error does not name the server's %s key: %v", k.Type(), err)
			}
		}
		if after := s.Stats(); after.Logins != before.Logins || after.FailedLogins != before.FailedLogins {
			t.Errorf("the password was sent to a server without the pinned key: %+v -> %+v", before, after)
		}
	})
}

// A known_hosts line that revokes a key (or names a CA) never makes it trusted.
func TestKnownHostsMarkersRefused(t *testing.T) {
	s := startSim(t)
	line := knownHostsLine(s.Addr(), s.HostKey())
	for _, marker := range []string{"@revoked", "@cert-authority"} {
		t.Run(marker, func(t *testing.T) {
			cfg := simConfig(s)
			cfg.HostKey = marker + " " + line
			_, err := Dial(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), marker) {
				t.Errorf("error = %v, want a refusal naming %s", err, marker)
			}
		})
	}
	if got := s.Stats().Logins; got != 0 {
		t.Errorf("%d logins with a revoked key", got)
	}
}

// List shows a folder's entries, a missing folder as fs.ErrNotExist; Lost stays nil
// until a step's context ends during an exchange, which closes the connection.
func TestListAndLost(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	if err := os.MkdirAll(filepath.Join(s.RootDir(), "snap", "2025-01-02_03-04-05"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.RootDir(), "snap", "f.bin"), bytes.Repeat([]byte{1}, 4*sftpserver.StallReadAfter), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dialOK(t, simConfig(s))
	entries, err := c.List(t.Context(), "snap")
	if err != nil || len(entries) != 2 || entries[0].Name() != "2025-01-02_03-04-05" || !entries[0].IsDir() || entries[1].Name() != "f.bin" {
		t.Fatalf("List = %v, %v", entries, err)
	}
	if _, err := c.List(t.Context(), "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) = %v, want fs.ErrNotExist", err)
	}
	if err := c.Lost(); err != nil {
		t.Fatalf("Lost = %v on a working connection", err)
	}
	s.SetStall(sftpserver.StallRead, false)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for s.Stats().Stalls == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, _, err := c.Hash(ctx, "snap/f.bin"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash = %v, want context.Canceled", err)
	}
	if err := c.Lost(); !errors.Is(err, context.Canceled) {
		t.Errorf("Lost = %v after the context ended mid-read, want context.Canceled", err)
	}
	if _, err := c.List(t.Context(), "snap"); err == nil {
		t.Error("List worked on a lost connection")
	}
}

// A connection the server closed is reported lost once an exchange found it so.
func TestLostAfterTheServerClosed(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	c := dialOK(t, simConfig(s))
	_ = s.Close()
	if _, err := c.List(t.Context(), "."); err == nil {
		t.Fatal("List worked after the server closed")
	}
	if err := c.Lost(); err == nil {
		t.Error("Lost = nil after the server closed the connection")
	}
}
