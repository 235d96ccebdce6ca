// Package sftpverify checks files on an SFTP/SCP server: after an Aruba conductor
// pushes a backup by SCP, the provider connects over SFTP to confirm the file arrived
// with a plausible size and to record its SHA-256. It also creates the remote folders
// beforehand, since SCP does not.
//
// The server's host key is checked unless the caller explicitly opts out. Errors never
// contain the password. The package has no Terraform types.
package sftpverify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// DefaultTimeout applies when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

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
}

// HostKeyMismatchError is returned when the server presents a key other than the
// configured one.
type HostKeyMismatchError struct {
	Addr      string
	Expected  string // fingerprint(s) expected, SHA256:...
	Presented string // fingerprint of the presented key, SHA256:...
	KeyType   string // type of the presented key, e.g. ssh-ed25519
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("SSH host key mismatch for %s: expected %s, but the server presented %s key %s. "+
		"If the server's key was changed on purpose, verify the new key out of band (e.g. on the server's console: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) "+
		"and update host_key / host_key_fingerprint; otherwise do not connect: someone may be intercepting the connection",
		e.Addr, e.Expected, e.KeyType, e.Presented)
}

// Client is one SSH connection with an SFTP session. Its methods may be called from
// several goroutines.
type Client struct {
	addr     string
	password string
	ssh      *ssh.Client
	sftp     *sftp.Client
	once     sync.Once
	closeErr error
}

// Dial connects, checks the host key, logs in with the password and starts SFTP.
// It gives up when ctx is done or after cfg.Timeout.
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
	hostKeyCB, algos, err := hostKeyCheck(addr, cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

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
		HostKeyCallback:   hostKeyCB,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	}
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if err != nil {
		var mm *HostKeyMismatchError
		if errors.As(err, &mm) {
			stop()
			_ = conn.Close()
			return nil, mm
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
	return &Client{addr: addr, password: cfg.Password, ssh: sshClient, sftp: sc}, nil
}

// wrapErr describes a failed step; a cancelled or timed-out context (including the
// connection deadline derived from it) is reported as the context's error.
func wrapErr(ctx context.Context, addr, step string, err error) error {
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cerr = context.DeadlineExceeded
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

// hostKeyCheck builds the host key callback and, for a known key, the algorithms to
// ask for so that the server presents that key rather than another one it has.
func hostKeyCheck(addr string, cfg Config) (ssh.HostKeyCallback, []string, error) {
	if cfg.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	if cfg.HostKey == "" && cfg.HostKeyFingerprint == "" {
		return nil, nil, fmt.Errorf("sftp %s: the server's host key is not configured: set host_key (a line like \"ssh-ed25519 AAAA...\", see ssh-keyscan) "+
			"or host_key_fingerprint (\"SHA256:...\", see ssh-keygen -l), or explicitly accept any key with insecure_ignore_host_key", addr)
	}
	var want ssh.PublicKey
	var algos []string
	var expected []string
	if cfg.HostKey != "" {
		k, err := parseHostKey(cfg.HostKey)
		if err != nil {
			return nil, nil, fmt.Errorf("sftp %s: invalid host_key: %w", addr, err)
		}
		want = k
		algos = algorithmsFor(k.Type())
		expected = append(expected, ssh.FingerprintSHA256(k)+" (host_key)")
	}
	var wantFP string
	if cfg.HostKeyFingerprint != "" {
		fp, err := normaliseFingerprint(cfg.HostKeyFingerprint)
		if err != nil {
			return nil, nil, fmt.Errorf("sftp %s: invalid host_key_fingerprint: %w", addr, err)
		}
		wantFP = fp
		if want != nil && ssh.FingerprintSHA256(want) != fp {
			return nil, nil, fmt.Errorf("sftp %s: host_key (%s) and host_key_fingerprint (%s) name different keys: keep one, or make them agree",
				addr, ssh.FingerprintSHA256(want), fp)
		}
		if want == nil {
			expected = append(expected, fp+" (host_key_fingerprint)")
		}
	}
	cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		got := ssh.FingerprintSHA256(key)
		ok := true
		if want != nil && !bytes.Equal(want.Marshal(), key.Marshal()) {
			ok = false
		}
		if wantFP != "" && got != wantFP {
			ok = false
		}
		if ok {
			return nil
		}
		return &HostKeyMismatchError{Addr: addr, Expected: strings.Join(expected, " / "), Presented: got, KeyType: key.Type()}
	}
	return cb, algos, nil
}

func parseHostKey(s string) (ssh.PublicKey, error) {
	line := []byte(strings.TrimSpace(s))
	if k, _, _, _, err := ssh.ParseAuthorizedKey(line); err == nil {
		return k, nil
	}
	if _, _, k, _, _, err := ssh.ParseKnownHosts(line); err == nil {
		return k, nil
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
func (c *Client) MkdirAll(dir string) error {
	if dir == "" || dir == "." || dir == "/" {
		return nil
	}
	if err := c.sftp.MkdirAll(dir); err != nil {
		return redact(fmt.Errorf("sftp %s: create folder %q: %w", c.addr, dir, err), c.password)
	}
	return nil
}

// Hash reads the remote file at path, streaming, and returns its size and SHA-256
// (lower-case hex). errors.Is(err, fs.ErrNotExist) when it does not exist.
func (c *Client) Hash(path string) (size int64, sha256hex string, err error) {
	f, err := c.sftp.Open(path)
	if err != nil {
		return 0, "", redact(fmt.Errorf("sftp %s: open %q: %w", c.addr, path, err), c.password)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", redact(fmt.Errorf("sftp %s: stat %q: %w", c.addr, path, err), c.password)
	}
	if !fi.Mode().IsRegular() {
		return 0, "", fmt.Errorf("sftp %s: %q is not a regular file (mode %s)", c.addr, path, fi.Mode())
	}
	h := sha256.New()
	n, err := f.WriteTo(h) // concurrent reads: fast on high-latency links
	if err != nil {
		return 0, "", redact(fmt.Errorf("sftp %s: read %q failed after %d bytes: %w", c.addr, path, n, err), c.password)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Close ends the SFTP session and the SSH connection. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		err1 := c.sftp.Close()
		err2 := c.ssh.Close()
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
