// Package sftpserver is the SCP/SFTP server simulated Mobility Conductors upload their
// backups to: an SSH server on loopback with password authentication and the "sftp"
// subsystem, rooted at a directory like a chroot. With Config.Exec it also runs
// commands, for simulated servers reached over SSH.
//
// Tests can make it stall (SetStall) at a chosen point, to check that clients give up
// in time, and give it several host keys (Config.HostKeyTypes), as real servers have.
//
// Real conductors push files with scp (the "scp -t" exec request). This server speaks
// SFTP only, and the simulated conductors upload with an SFTP client, which gives the
// same observable result: the file lands under the SCP user's home. Like scp, an upload
// never creates missing parent directories; a client that wants a directory tree
// creates it first with SFTP mkdir calls, which this server supports.
package sftpserver

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
	// HostKeyTypes lists the host keys to generate, by type: "ssh-ed25519",
	// "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	// "ssh-rsa". Default: one Ed25519 key.
	HostKeyTypes []string
	// Exec, when set, runs exec requests (the command line ssh sends): it reads
	// stdin, writes stdout and stderr, and returns the exit status. nil: exec
	// requests are refused. (Simulated servers that run commands over SSH, such as
	// Apstra's aos_backup, set it.)
	Exec func(command string, stdin io.Reader, stdout, stderr io.Writer) uint32
}

// Stats are the server's counters.
type Stats struct {
	Logins       int64 // successful password authentications
	FailedLogins int64 // refused password authentications
	Uploads      int64 // files opened for writing and closed again
	Stalls       int64 // requests (or logins, for StallAfterLogin) left unanswered by SetStall
}

// StallPoint is where a stalling server stops answering (see SetStall).
type StallPoint int

const (
	// StallNone answers everything (the default).
	StallNone StallPoint = iota
	// StallAfterLogin completes the SSH handshake and the login, then answers
	// nothing more on that connection: no channel, no SFTP, no keepalive.
	StallAfterLogin
	// StallMkdir never answers a mkdir request.
	StallMkdir
	// StallRead answers reads of a file's first StallReadAfter bytes and never
	// answers a read beyond them.
	StallRead
)

// StallReadAfter is how many bytes of a file StallRead delivers.
const StallReadAfter = 64 << 10

// Server is a running SFTP server. Close it when done.
type Server struct {
	cfg      Config
	root     *os.Root
	listener net.Listener
	signers  []ssh.Signer
	sshCfg   *ssh.ServerConfig

	refuseAll atomic.Bool
	logins    atomic.Int64
	failed    atomic.Int64
	uploads   atomic.Int64
	stalls    atomic.Int64

	stallMu     sync.Mutex
	stallAt     StallPoint
	stallSilent bool

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	closing chan struct{} // closed by Close: stalled requests end
	wg      sync.WaitGroup
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
	types := cfg.HostKeyTypes
	if len(types) == 0 {
		types = []string{ssh.KeyAlgoED25519}
	}
	signers := make([]ssh.Signer, 0, len(types))
	for _, typ := range types {
		signer, err := newHostKey(typ)
		if err != nil {
			_ = root.Close()
			return nil, err
		}
		signers = append(signers, signer)
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
	s := &Server{cfg: cfg, root: root, listener: l, signers: signers, conns: map[net.Conn]struct{}{}, closing: make(chan struct{})}
	s.sshCfg = &ssh.ServerConfig{
		PasswordCallback: s.checkPassword,
		ServerVersion:    "SSH-2.0-devicesim_sftp",
	}
	for _, signer := range signers {
		s.sshCfg.AddHostKey(signer)
	}
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

// newHostKey generates a host key of the given type.
func newHostKey(typ string) (ssh.Signer, error) {
	var key any
	var err error
	switch typ {
	case ssh.KeyAlgoED25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case ssh.KeyAlgoECDSA256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ssh.KeyAlgoECDSA384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ssh.KeyAlgoECDSA521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case ssh.KeyAlgoRSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("sftpserver: unknown host key type %q", typ)
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(key)
}

// HostKey is the server's first public host key (Ed25519 unless
// Config.HostKeyTypes says otherwise).
func (s *Server) HostKey() ssh.PublicKey { return s.signers[0].PublicKey() }

// HostKeys are all the server's public host keys, in Config.HostKeyTypes order.
func (s *Server) HostKeys() []ssh.PublicKey {
	keys := make([]ssh.PublicKey, len(s.signers))
	for i, signer := range s.signers {
		keys[i] = signer.PublicKey()
	}
	return keys
}

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
	return Stats{Logins: s.logins.Load(), FailedLogins: s.failed.Load(), Uploads: s.uploads.Load(), Stalls: s.stalls.Load()}
}

// SetStall makes the server stop answering at point p, on every connection, from now
// on; a stalled request stays unanswered until its connection ends or the server
// closes. With silent, the stalled connection also stops reading and sending
// altogether, keepalives included: a server that dropped off the network. Otherwise
// only the stalled request hangs, and the connection answers keepalives: a server
// stuck on a slow disk.
func (s *Server) SetStall(p StallPoint, silent bool) {
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	s.stallAt, s.stallSilent = p, silent
}

// stallsAt reports whether the server stalls at p, and if so whether silently.
func (s *Server) stallsAt(p StallPoint) (stall, silent bool) {
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	return s.stallAt == p, s.stallSilent
}

// stall leaves one request on cs unanswered until the connection ends or the server
// closes; silent freezes the whole connection first.
func (s *Server) stall(cs *connState, silent bool) {
	s.stalls.Add(1)
	if silent {
		cs.conn.freeze()
	}
	select {
	case <-cs.gone:
	case <-s.closing:
	}
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
	close(s.closing)
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
		fc := &freezableConn{Conn: c, frozen: make(chan struct{})}
		s.conns[fc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(fc)
	}
}

// connState is what handlers know about their connection.
type connState struct {
	conn *freezableConn
	gone chan struct{} // closed when the client has gone
}

func (s *Server) serveConn(c *freezableConn) {
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
	// The connection ends here whatever happened on it; a failed close has no one to
	// tell.
	defer func() { _ = sc.Close() }()
	cs := &connState{conn: c, gone: make(chan struct{})}
	if stall, _ := s.stallsAt(StallAfterLogin); stall {
		s.stalls.Add(1)
		c.freeze() // nothing more is read or answered; the client's close still ends it
	}
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
			s.serveSession(ch, chReqs, cs)
		}()
	}
	// chans is closed: the connection is gone; session goroutines (and stalled
	// requests) end with it.
	close(cs.gone)
	wg.Wait()
}

// serveSession answers channel requests: the "sftp" subsystem, and exec requests
// when Config.Exec is set.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, cs *connState) {
	defer func() { _ = ch.Close() }() // the session ends here; a failed close has no one to tell
	started := false
	done := make(chan struct{})
	var status uint32 // the exit status, set before done closes
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
					rs := sftp.NewRequestServer(ch, s.handlers(cs))
					_ = rs.Serve()
					_ = rs.Close()
				}()
				continue
			}
			if req.Type == "exec" && !started && s.cfg.Exec != nil {
				var msg struct{ Command string }
				if ssh.Unmarshal(req.Payload, &msg) == nil {
					started = true
					_ = req.Reply(true, nil)
					go func() {
						defer close(done)
						status = s.cfg.Exec(msg.Command, ch, ch, ch.Stderr())
						_ = ch.CloseWrite()
					}()
					continue
				}
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		case <-done:
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
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

// freezableConn is a connection that can be frozen: from then on it reads and
// discards whatever the client sends and sends nothing, like a host that dropped off
// the network. The client closing its side still ends it.
type freezableConn struct {
	net.Conn
	frozen chan struct{}
	once   sync.Once
}

func (c *freezableConn) freeze() { c.once.Do(func() { close(c.frozen) }) }

func (c *freezableConn) isFrozen() bool {
	select {
	case <-c.frozen:
		return true
	default:
		return false
	}
}

func (c *freezableConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !c.isFrozen() || err != nil {
			if c.isFrozen() {
				n = 0
			}
			return n, err
		}
	}
}

func (c *freezableConn) Write(p []byte) (int, error) {
	if c.isFrozen() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}
