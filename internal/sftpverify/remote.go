package sftpverify

// Beyond checking uploads: running one command over the same SSH connection, and
// fetching and removing a file the command wrote (Apstra's aos_backup leaves its
// snapshot on the server, to be fetched over SFTP and removed).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// maxCommandOutput is how much of a command's stdout and of its stderr is kept.
const maxCommandOutput = 64 << 10

// limitedBuffer keeps the first max bytes written to it and drops the rest, so a
// command that prints without end cannot fill memory.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// CommandError is a command that ran and exited with a non-zero status.
type CommandError struct {
	Addr     string
	Command  string
	Status   int
	Stderr   string // what the command wrote to stderr, trimmed (device text)
	password string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("ssh %s: %q exited with status %d", e.Addr, e.Command, e.Status)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	if len(e.password) >= 4 {
		msg = strings.ReplaceAll(msg, e.password, "[redacted]")
	}
	return msg
}

// Run runs command in a new SSH session on the connection, with stdin as its input,
// and returns what it wrote to stdout (its first 64 KiB). A non-zero exit status is a
// *CommandError with the command's stderr. The session ends when ctx does. Neither
// the command nor stdin is ever part of an error except the command as given:
// callers put secrets in stdin only.
func (c *Client) Run(ctx context.Context, command string, stdin []byte) ([]byte, error) {
	var stdout []byte
	err := c.do(ctx, fmt.Sprintf("run %q", command), func() error {
		sess, err := c.ssh.NewSession()
		if err != nil {
			return fmt.Errorf("open an SSH session: %w", err)
		}
		defer func() { _ = sess.Close() }() // the command's outcome is already known
		out := &limitedBuffer{max: maxCommandOutput}
		errOut := &limitedBuffer{max: maxCommandOutput}
		sess.Stdin, sess.Stdout, sess.Stderr = bytes.NewReader(stdin), out, errOut
		err = sess.Run(command)
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			return &CommandError{Addr: c.addr, Command: command, Status: exit.ExitStatus(),
				Stderr: strings.TrimSpace(errOut.buf.String()), password: c.password}
		}
		if err != nil {
			return err
		}
		stdout = out.buf.Bytes()
		return nil
	})
	return stdout, err
}

// Fetch opens the remote regular file at path and hands its content to consume as a
// stream (read concurrently from the server, as Hash does). It fails when consume
// fails, or when consume did not read the whole file. It returns the file's size.
func (c *Client) Fetch(ctx context.Context, path string, consume func(io.Reader) error) (int64, error) {
	var size int64
	err := c.do(ctx, fmt.Sprintf("fetch %q", path), func() error {
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
		pr, pw := io.Pipe()
		sent := make(chan error, 1)
		var n int64
		go func() {
			var err error
			n, err = f.WriteTo(pw)
			_ = pw.CloseWithError(err) // nil: the reader sees io.EOF
			sent <- err
		}()
		cerr := consume(pr)
		_ = pr.CloseWithError(errors.New("the fetch was stopped")) // ends WriteTo when consume stopped early
		serr := <-sent
		switch {
		case cerr != nil:
			return cerr
		case serr != nil:
			return fmt.Errorf("failed after %d bytes: %w", n, serr)
		case n != fi.Size():
			return fmt.Errorf("read %d bytes of a file of %d bytes", n, fi.Size())
		}
		size = n
		return nil
	})
	return size, err
}

// Remove deletes the remote file at path.
func (c *Client) Remove(ctx context.Context, path string) error {
	return c.do(ctx, fmt.Sprintf("remove %q", path), func() error { return c.sftp.Remove(path) })
}

// RemoveDir deletes the remote folder at path, which must be empty.
func (c *Client) RemoveDir(ctx context.Context, path string) error {
	return c.do(ctx, fmt.Sprintf("remove folder %q", path), func() error { return c.sftp.RemoveDirectory(path) })
}

// List returns the entries of the remote folder at path (a missing folder is an
// error that matches fs.ErrNotExist).
func (c *Client) List(ctx context.Context, path string) ([]os.FileInfo, error) {
	var entries []os.FileInfo
	err := c.do(ctx, fmt.Sprintf("list %q", path), func() (err error) {
		entries, err = c.sftp.ReadDir(path)
		return err
	})
	return entries, err
}

// Lost reports why the connection can no longer be used (a step's context ended
// during an exchange, the server stopped answering keepalives or closed the
// connection), or nil while it can. A cleanup after a failure checks it to know
// whether it needs a new connection.
func (c *Client) Lost() error { return c.lostReason() }
