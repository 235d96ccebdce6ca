// Package sftpserver is the SCP/SFTP server simulated Mobility Conductors upload their
// backups to: an SSH server on loopback with password authentication and the "sftp"
// subsystem, rooted at a directory like a chroot.
//
// Real conductors push files with scp (the "scp -t" exec request). This server speaks
// SFTP only, and the simulated conductors upload with an SFTP client, which gives the
// same observable result: the file lands under the SCP user's home. Like scp, an upload
// never creates missing parent directories; a client that wants a directory tree
// creates it first with SFTP mkdir calls, which this server supports.
package sftpserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Config configures a Server.
type Config struct {
	// Username and Password are the only credentials the server accepts.
	Username string
	Password string
	// RootDir is the directory clients see as "/" and as their home. It must exist.
	RootDir string
	// Addr is the listen address; "" means 127.0.0.1:0 (a free loopback port).
	Addr string
}

// Stats are the server's counters.
type Stats struct {
	Logins       int64 // successful password authentications
	FailedLogins int64 // refused password authentications
	Uploads      int64 // files opened for writing and closed again
}

// Server is a running SFTP server. Close it when done.
type Server struct {
	cfg      Config
	root     *os.Root
	listener net.Listener
	signer   ssh.Signer
	sshCfg   *ssh.ServerConfig

	refuseAll atomic.Bool
	logins    atomic.Int64
	failed    atomic.Int64
	uploads   atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on cfg.Addr (default 127.0.0.1:0) and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("sftpserver: username and password are required")
	}
	if cfg.RootDir == "" {
		return nil, errors.New("sftpserver: RootDir is required")
	}
	root, err := os.OpenRoot(cfg.RootDir)
	if err != nil {
		return nil, fmt.Errorf("sftpserver: open root: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		_ = root.Close()
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		_ = root.Close()
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("sftpserver: listen %s: %w", addr, err)
	}
	s := &Server{cfg: cfg, root: root, listener: l, signer: signer, conns: map[net.Conn]struct{}{}}
	s.sshCfg = &ssh.ServerConfig{
		PasswordCallback: s.checkPassword,
		ServerVersion:    "SSH-2.0-devicesim_sftp",
	}
	s.sshCfg.AddHostKey(signer)
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *Server) checkPassword(md ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	userOK := subtle.ConstantTimeCompare([]byte(md.User()), []byte(s.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare(password, []byte(s.cfg.Password)) == 1
	if s.refuseAll.Load() || !userOK || !passOK {
		s.failed.Add(1)
		return nil, errors.New("permission denied")
	}
	s.logins.Add(1)
	return &ssh.Permissions{}, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Port is the TCP port the server listens on.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// HostKey is the server's ed25519 public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.signer.PublicKey() }

// AuthorizedKey is the host key as one authorized_keys / known_hosts key line
// ("ssh-ed25519 AAAA..."), without a trailing newline.
func (s *Server) AuthorizedKey() string {
	return strings.TrimRight(string(ssh.MarshalAuthorizedKey(s.HostKey())), "\n")
}

// Fingerprint is the SHA256 fingerprint of the host key ("SHA256:...").
func (s *Server) Fingerprint() string { return ssh.FingerprintSHA256(s.HostKey()) }

// RootDir is the directory clients see as "/".
func (s *Server) RootDir() string { return s.cfg.RootDir }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{Logins: s.logins.Load(), FailedLogins: s.failed.Load(), Uploads: s.uploads.Load()}
}

// SetRefuseAll makes every authentication fail while on (models an SCP server that
// refuses the conductor).
func (s *Server) SetRefuseAll(refuse bool) { s.refuseAll.Store(refuse) }

// Close stops the listener, drops every connection and waits for all goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.listener.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	_ = s.root.Close()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(ch, chReqs)
		}()
	}
	// chans is closed: the connection is gone; session goroutines end with it.
	wg.Wait()
}

// serveSession answers channel requests; only the "sftp" subsystem is served.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	done := make(chan struct{})
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				if started {
					<-done
				}
				return
			}
			if req.Type == "subsystem" && !started && subsystemName(req.Payload) == "sftp" {
				started = true
				_ = req.Reply(true, nil)
				go func() {
					defer close(done)
					rs := sftp.NewRequestServer(ch, s.handlers())
					_ = rs.Serve()
					_ = rs.Close()
				}()
				continue
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		case <-done:
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			// Drain the remaining requests until the peer closes the channel.
			_ = ch.Close()
			for req := range reqs {
				if req.WantReply {
					_ = req.Reply(false, nil)
				}
			}
			return
		}
	}
}

func subsystemName(payload []byte) string {
	var msg struct{ Name string }
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return ""
	}
	return msg.Name
}

// ensure the writer wrapper satisfies the interfaces the request server looks for.
var (
	_ io.WriterAt = (*uploadFile)(nil)
	_ io.Closer   = (*uploadFile)(nil)
)
