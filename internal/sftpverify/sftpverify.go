// Package sftpverify checks files on an SFTP/SCP server: after an Aruba conductor
// pushes a backup by SCP, the provider connects over SFTP to confirm the file arrived
// with a plausible size and to record its SHA-256. It also creates the remote folders
// beforehand, since SCP does not.
//
// The server's host key is checked unless the caller explicitly opts out. Every
// network step ends when its context does, and keepalives give up on a server that
// stops answering. Errors never contain the password. The package has no Terraform
// types.
package sftpverify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultKeepaliveCountMax = 3
)

// closeTimeout bounds Close when the server no longer reads what it is sent.
const closeTimeout = 5 * time.Second

// Config says how to reach and trust an SFTP server.
type Config struct {
	Addr               string // host:port; port 22 when omitted
	Username, Password string
	// HostKey is the server's known public key in authorized_keys format
	// ("ssh-ed25519 AAAA... comment"); a known_hosts line is accepted too.
	HostKey string
	// HostKeyFingerprint is the SHA-256 fingerprint as printed by ssh-keygen -l
	// ("SHA256:...").
	HostKeyFingerprint string
	// InsecureIgnoreHostKey accepts any host key. It must be set explicitly;
	// otherwise HostKey or HostKeyFingerprint is required.
	InsecureIgnoreHostKey bool
	// Timeout bounds connecting, the SSH handshake and starting SFTP
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// KeepaliveInterval is how often the connection asks the server whether it is
	// alive (a keepalive@openssh.com request, like OpenSSH's ServerAliveInterval):
	// DefaultKeepaliveInterval when zero, never when negative.
	KeepaliveInterval time.Duration
	// KeepaliveCountMax is how many intervals a keepalive may stay unanswered
	// before the connection is given up (DefaultKeepaliveCountMax when zero).
	KeepaliveCountMax int
}

// HostKeyMismatchError is returned when the server presents no key that matches
// the configured one.
type HostKeyMismatchError struct {
	Addr      string
	Expected  string // fingerprint(s) expected, SHA256:...
	Presented string // fingerprint of the (first) presented key, SHA256:...
	KeyType   string // type of that key, e.g. ssh-ed25519
	// Others are the server's other keys, tried in turn when only a fingerprint is
	// pinned, as "<type> key SHA256:...".
	Others []string
}

func (e *HostKeyMismatchError) Error() string {
	presented := fmt.Sprintf("%s key %s", e.KeyType, e.Presented)
	if len(e.Others) > 0 {
		presented = "its keys " + presented + ", " + strings.Join(e.Others, ", ")
	}
	return fmt.Sprintf("SSH host key mismatch for %s: expected %s, but the server presented %s. "+
		"If the server's key was changed on purpose, verify the new key out of band (e.g. on the server's console: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) "+
		"and update host_key / host_key_fingerprint; otherwise do not connect: someone may be intercepting the connection",
		e.Addr, e.Expected, presented)
}

// Client is one SSH connection with an SFTP session. Its methods may be called from
// several goroutines.
type Client struct {
	addr     string
	password string
	conn     net.Conn // the TCP connection: closing it ends every blocked read and write
	ssh      *ssh.Client
	sftp     *sftp.Client
	done     chan struct{} // closed by Close: ends the keepalives

	mu   sync.Mutex
	lost error // why the connection was closed under the client, or nil

	once     sync.Once
	closeErr error
}

// Dial connects, checks the host key, logs in with the password and starts SFTP.
// It gives up when ctx is done or after cfg.Timeout. The connection then sends
// keepalives until Close.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, redact(err, cfg.Password)
	}
	return c, nil
}

func dial(ctx context.Context, cfg Config) (*Client, error) {
	addr, err := normaliseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		return nil, fmt.Errorf("sftp %s: a username is required", addr)
	}
	check, err := newHostKeyCheck(addr, cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := connect(ctx, addr, cfg, check)
		if err == nil {
			c.startKeepalives(cfg.KeepaliveInterval, cfg.KeepaliveCountMax)
			return c, nil
		}
		if !check.tryAnotherKey(err) {
			return nil, err
		}
	}
}

// connect makes one connection attempt: TCP, SSH handshake with the host key check,
// login, SFTP.
func connect(ctx context.Context, addr string, cfg Config, check *hostKeyCheck) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, wrapErr(ctx, addr, "connect", err)
	}
	// The SSH and SFTP handshakes take no context: bound them with a deadline, and
	// close the connection if ctx is cancelled meanwhile.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(step string, err error) (*Client, error) {
		stop()
		_ = conn.Close()
		return nil, wrapErr(ctx, addr, step, err)
	}

	sshCfg := &ssh.ClientConfig{
		User:              cfg.Username,
		Auth:              []ssh.AuthMethod{ssh.Password(cfg.Password)},
		HostKeyCallback:   check.callback,
		HostKeyAlgorithms: check.algorithms,
	}
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if err != nil {
		var mm *HostKeyMismatchError
		var an *ssh.AlgorithmNegotiationError
		switch {
		case errors.As(err, &mm):
			stop()
			_ = conn.Close()
			return nil, mm
		case errors.As(err, &an) && an.What == "host key" && check.mismatch != nil:
			// The server has no key of the types not yet tried.
			stop()
			_ = conn.Close()
			return nil, check.mismatch
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return fail("login", fmt.Errorf("user %q was refused (check username and password): %w", cfg.Username, err))
		}
		return fail("SSH handshake", err)
	}
	sshClient := ssh.NewClient(sconn, chans, reqs)
	sc, err := sftp.NewClient(sshClient)
	if err != nil {
		_ = sshClient.Close()
		return fail("start SFTP (is the SFTP subsystem enabled on the server?)", err)
	}
	if !stop() { // ctx ended just now and the connection is being closed
		_ = sc.Close()
		_ = sshClient.Close()
		return fail("start SFTP", ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{addr: addr, password: cfg.Password, conn: conn, ssh: sshClient, sftp: sc, done: make(chan struct{})}, nil
}

// startKeepalives asks the server every interval whether it is alive, and closes
// the connection when an answer is countMax intervals late: a server that dropped
// off the network then fails the step that waits for it instead of hanging it.
func (c *Client) startKeepalives(interval time.Duration, countMax int) {
	if interval < 0 {
		return
	}
	if interval == 0 {
		interval = DefaultKeepaliveInterval
	}
	if countMax <= 0 {
		countMax = DefaultKeepaliveCountMax
	}
	patience := interval * time.Duration(countMax)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-tick.C:
			}
			answered := make(chan error, 1)
			go func() { // returns at the latest when the connection is closed
				_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				answered <- err
			}()
			late := time.NewTimer(patience)
			select {
			case err := <-answered:
				late.Stop()
				if err != nil {
					c.abandon(fmt.Errorf("the connection was lost: %w", err))
					return
				}
			case <-late.C:
				c.abandon(fmt.Errorf("the server answered no keepalive for %s: the connection was given up (check that the server and the network are up)", patience))
				return
			case <-c.done:
				late.Stop()
				return
			}
		}
	}()
}

// abandon closes the connection under the client, which makes every blocked read
// and write return; reason is what later errors report.
func (c *Client) abandon(reason error) {
	c.mu.Lock()
	if c.lost == nil {
		c.lost = reason
	}
	c.mu.Unlock()
	_ = c.conn.Close()
}

func (c *Client) lostReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// do runs one SFTP exchange. The SFTP client takes no context: when ctx ends, the
// connection is closed, which ends the exchange; the client is unusable afterwards,
// as the operation it served has ended too.
func (c *Client) do(ctx context.Context, step string, exchange func() error) error {
	err := ctx.Err()
	if err == nil {
		stop := context.AfterFunc(ctx, func() { c.abandon(ctx.Err()) })
		err = exchange()
		stop()
		if errors.Is(err, sftp.ErrSSHFxConnectionLost) {
			c.abandon(errors.New("the connection was lost"))
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("sftp %s: %s: %w: the server did not answer before the deadline (check the server, or raise the timeout): %w", c.addr, step, ctx.Err(), err)
	case ctx.Err() != nil:
		err = fmt.Errorf("sftp %s: %s: %w: %w", c.addr, step, ctx.Err(), err)
	case c.lostReason() != nil:
		err = fmt.Errorf("sftp %s: %s: %w (%w)", c.addr, step, c.lostReason(), err)
	default:
		err = fmt.Errorf("sftp %s: %s: %w", c.addr, step, err)
	}
	return redact(err, c.password)
}

// wrapErr describes a failed step; a cancelled or timed-out context (including the
// connection deadline derived from it) is reported as the context's error.
func wrapErr(ctx context.Context, addr, step string, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		// The connection's deadline (ctx's) can pass a moment before ctx says so;
		// the failure it causes may read as a plain EOF.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) || errors.Is(err, os.ErrDeadlineExceeded) {
			cerr = context.DeadlineExceeded
		}
	}
	switch {
	case cerr == nil:
		return fmt.Errorf("sftp %s: %s: %w", addr, step, err)
	case errors.Is(cerr, context.DeadlineExceeded):
		return fmt.Errorf("sftp %s: %s: %w: the server did not answer in time (check the address, port and firewalls, or raise the timeout): %w", addr, step, cerr, err)
	default:
		return fmt.Errorf("sftp %s: %s: %w: %w", addr, step, cerr, err)
	}
}

func normaliseAddr(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("sftp: the server address is required (host:port)")
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if host == "" || strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("sftp: invalid server address %q: use host:port", addr)
	}
	return net.JoinHostPort(host, "22"), nil
}

// hostKeyCheck checks the server's host key against the configured one, and says
// which host key algorithms to ask for.
type hostKeyCheck struct {
	addr       string
	insecure   bool
	want       ssh.PublicKey // host_key, or nil
	wantFP     string        // host_key_fingerprint, or ""
	expected   string        // what an error says was expected
	algorithms []string      // to ask the server for; nil: the library's default
	// mismatch is the last mismatch; its keys are not asked for again.
	mismatch *HostKeyMismatchError
}

func newHostKeyCheck(addr string, cfg Config) (*hostKeyCheck, error) {
	if cfg.InsecureIgnoreHostKey {
		return &hostKeyCheck{addr: addr, insecure: true}, nil
	}
	if cfg.HostKey == "" && cfg.HostKeyFingerprint == "" {
		return nil, fmt.Errorf("sftp %s: the server's host key is not configured: set host_key (a line like \"ssh-ed25519 AAAA...\", see ssh-keyscan) "+
			"or host_key_fingerprint (\"SHA256:...\", see ssh-keygen -l), or explicitly accept any key with insecure_ignore_host_key", addr)
	}
	check := &hostKeyCheck{addr: addr}
	var expected []string
	if cfg.HostKey != "" {
		k, err := parseHostKey(cfg.HostKey)
		if err != nil {
			return nil, fmt.Errorf("sftp %s: invalid host_key: %w", addr, err)
		}
		check.want = k
		// Ask for the pinned key's type, so that a server with several keys
		// presents that one.
		check.algorithms = algorithmsFor(k.Type())
		expected = append(expected, ssh.FingerprintSHA256(k)+" (host_key)")
	}
	if cfg.HostKeyFingerprint != "" {
		fp, err := normaliseFingerprint(cfg.HostKeyFingerprint)
		if err != nil {
			return nil, fmt.Errorf("sftp %s: invalid host_key_fingerprint: %w", addr, err)
		}
		check.wantFP = fp
		if check.want != nil && ssh.FingerprintSHA256(check.want) != fp {
			return nil, fmt.Errorf("sftp %s: host_key (%s) and host_key_fingerprint (%s) name different keys: keep one, or make them agree",
				addr, ssh.FingerprintSHA256(check.want), fp)
		}
		if check.want == nil {
			// A fingerprint does not say the key's type: every plain key type is
			// asked for, and the server's other keys are tried after a mismatch.
			check.algorithms = plainKeyAlgorithms()
			expected = append(expected, fp+" (host_key_fingerprint)")
		}
	}
	check.expected = strings.Join(expected, " / ")
	return check, nil
}

func (c *hostKeyCheck) callback(_ string, _ net.Addr, key ssh.PublicKey) error {
	if c.insecure {
		return nil
	}
	got := ssh.FingerprintSHA256(key)
	if (c.want == nil || bytes.Equal(c.want.Marshal(), key.Marshal())) && (c.wantFP == "" || got == c.wantFP) {
		return nil
	}
	if c.mismatch == nil {
		c.mismatch = &HostKeyMismatchError{Addr: c.addr, Expected: c.expected, Presented: got, KeyType: key.Type()}
	} else {
		c.mismatch.Others = append(c.mismatch.Others, key.Type()+" key "+got)
	}
	return c.mismatch
}

// tryAnotherKey reports, after a failed connection attempt, whether another attempt
// may find the pinned fingerprint among the server's other host keys; it stops
// asking for the key type just refused. With nothing left to try, the attempt's
// error is the mismatch, naming every key the server showed.
func (c *hostKeyCheck) tryAnotherKey(err error) bool {
	var mm *HostKeyMismatchError
	if c.want != nil || c.wantFP == "" || !errors.As(err, &mm) {
		return false
	}
	refused := mm.lastKeyType()
	before := len(c.algorithms)
	c.algorithms = slices.DeleteFunc(c.algorithms, func(algo string) bool { return keyTypeOf(algo) == refused })
	// No progress means the server has no key of the types left (see connect).
	return len(c.algorithms) > 0 && len(c.algorithms) < before
}

// lastKeyType is the type of the key most recently presented.
func (e *HostKeyMismatchError) lastKeyType() string {
	if n := len(e.Others); n > 0 {
		typ, _, _ := strings.Cut(e.Others[n-1], " ")
		return typ
	}
	return e.KeyType
}

// keyTypeOf maps a host key algorithm to the type of key it uses (the RSA
// signature algorithms all use "ssh-rsa" keys).
func keyTypeOf(algo string) string {
	switch algo {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	}
	return algo
}

// plainKeyAlgorithms are the host key algorithms of plain keys (not certificates),
// strongest first: the ones a pinned fingerprint can name.
func plainKeyAlgorithms() []string {
	var algos []string
	for _, list := range [][]string{ssh.SupportedAlgorithms().HostKeys, ssh.InsecureAlgorithms().HostKeys} {
		for _, algo := range list {
			if !strings.Contains(algo, "-cert-") && !slices.Contains(algos, algo) {
				algos = append(algos, algo)
			}
		}
	}
	return algos
}

func parseHostKey(s string) (ssh.PublicKey, error) {
	line := []byte(strings.TrimSpace(s))
	if k, _, _, _, err := ssh.ParseAuthorizedKey(line); err == nil {
		return k, nil
	}
	if marker, _, k, _, _, err := ssh.ParseKnownHosts(line); err == nil {
		switch marker {
		case "":
			return k, nil
		case "revoked":
			return nil, errors.New("the known_hosts line is marked @revoked: it says this key must never be trusted; give the server's current key")
		default:
			return nil, fmt.Errorf("the known_hosts line is marked @%s: it names a certificate authority, not the server's own key, which is what host_key needs", marker)
		}
	}
	return nil, errors.New(`expected a public key line like "ssh-ed25519 AAAAC3Nza... comment" (as printed by ssh-keyscan or found in /etc/ssh/ssh_host_ed25519_key.pub)`)
}

// algorithmsFor lists the host key algorithms that make a server present a key of
// the given type.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// normaliseFingerprint accepts "SHA256:<base64>" with or without padding.
func normaliseFingerprint(fp string) (string, error) {
	fp = strings.TrimSpace(fp)
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint: expected \"SHA256:...\" as printed by ssh-keygen -l (MD5 fingerprints are not supported)", fp)
	}
	b64 = strings.TrimRight(b64, "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint: the part after \"SHA256:\" must be 43 base64 characters", fp)
	}
	return "SHA256:" + b64, nil
}

// MkdirAll creates dir and its missing parents on the server (relative paths are
// relative to the user's login folder). An existing folder is fine.
func (c *Client) MkdirAll(ctx context.Context, dir string) error {
	if dir == "" || dir == "." || dir == "/" {
		return nil
	}
	return c.do(ctx, fmt.Sprintf("create folder %q", dir), func() error { return c.sftp.MkdirAll(dir) })
}

// Hash reads the remote file at path, streaming, and returns its size and SHA-256
// (lower-case hex). errors.Is(err, fs.ErrNotExist) when it does not exist.
func (c *Client) Hash(ctx context.Context, path string) (size int64, sha256hex string, err error) {
	return c.read(ctx, path, func(f *sftp.File, h hash.Hash) (int64, error) {
		n, err := f.WriteTo(h) // concurrent reads: fast on high-latency links
		if err != nil {
			return n, fmt.Errorf("failed after %d bytes: %w", n, err)
		}
		return n, nil
	})
}

// Read streams the remote file at path to consume, once, and returns its size and
// SHA-256 (lower-case hex) computed from exactly the bytes consume was given: one
// read of the file both checks it and copies it elsewhere. consume must read r to
// its end. When reading the file fails, the SFTP error is returned (consume then
// sees it as r's error); when consume fails on its own (its destination, say), its
// error is returned unchanged, so the caller can tell which side failed.
// errors.Is(err, fs.ErrNotExist) when the file does not exist.
func (c *Client) Read(ctx context.Context, path string, consume func(r io.Reader) error) (size int64, sha256hex string, err error) {
	var consumeErr error
	size, sha256hex, err = c.read(ctx, path, func(f *sftp.File, h hash.Hash) (int64, error) {
		src := &hashingReader{r: f, h: h}
		consumeErr = consume(src)
		switch {
		case src.err != nil:
			return src.n, src.err
		case consumeErr != nil:
			return src.n, consumeErr
		case !src.eof:
			return src.n, fmt.Errorf("the copy stopped after %d bytes, before the end of the file", src.n)
		}
		return src.n, nil
	})
	if err != nil && consumeErr != nil && errors.Is(err, consumeErr) && ctx.Err() == nil {
		return 0, "", consumeErr
	}
	return size, sha256hex, err
}

// hashingReader hashes what it passes on, and remembers a failure of the read
// itself (as opposed to one of the reader's consumer).
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	eof bool
	err error
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case err == io.EOF:
		r.eof = true
	case err != nil:
		r.err = fmt.Errorf("failed after %d bytes: %w", r.n, err)
		return n, r.err
	}
	return n, err
}

// read opens the regular file at path and has pass hand every byte of it to h.
func (c *Client) read(ctx context.Context, path string, pass func(f *sftp.File, h hash.Hash) (int64, error)) (size int64, sha256hex string, err error) {
	step := fmt.Sprintf("read %q", path)
	err = c.do(ctx, step, func() error {
		f, err := c.sftp.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }() // only read: closing cannot lose anything
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("not a regular file (mode %s)", fi.Mode())
		}
		h := sha256.New()
		n, err := pass(f, h)
		if err != nil {
			return err
		}
		size, sha256hex = n, hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return size, sha256hex, nil
}

// Close ends the SFTP session and the SSH connection, within closeTimeout even when
// the server stopped answering. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		close(c.done)
		unanswered := time.AfterFunc(closeTimeout, func() { c.abandon(errors.New("close was not answered")) })
		err1 := c.sftp.Close()
		err2 := c.ssh.Close()
		unanswered.Stop()
		if c.lostReason() != nil {
			return // the step that met the lost connection reported it
		}
		if err1 != nil && !errors.Is(err1, io.EOF) && !errors.Is(err1, net.ErrClosed) {
			c.closeErr = err1
		} else if err2 != nil && !errors.Is(err2, io.EOF) && !errors.Is(err2, net.ErrClosed) {
			c.closeErr = err2
		}
		if c.closeErr != nil {
			c.closeErr = redact(fmt.Errorf("sftp %s: close: %w", c.addr, c.closeErr), c.password)
		}
	})
	return c.closeErr
}

// redactedError hides a secret that found its way into an error's text, while
// keeping the chain for errors.Is/As.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "[redacted]")
}

func (e *redactedError) Unwrap() error { return e.err }

// redact guards against a password reaching error text (no known path does; this is
// defence in depth). Only secrets that are long enough to be recognised are replaced.
func redact(err error, secret string) error {
	if err == nil || len(secret) < 4 || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{err: err, secret: secret}
}
