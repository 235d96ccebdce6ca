package aruba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// upload pushes data to host:SCPPort as dest (relative to the user's home), the way
// the conductor's copy_flash_scp does. Like scp, it creates no directories: a missing
// parent directory fails the upload. Real conductors run scp; the simulator speaks SFTP
// (see package sftpserver), which lands the same bytes in the same place.
//
// The returned error never contains the password.
func (c *Conductor) upload(ctx context.Context, host, user, pass, dest string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SCPTimeout)
	defer cancel()
	addr := net.JoinHostPort(host, strconv.Itoa(c.cfg.SCPPort))

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return dialError(host, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// The connection, SSH client and SFTP client only carry the upload: the file's
	// own Close, checked below, says whether it arrived.
	defer func() { _ = conn.Close() }()

	sshConn, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.Password(pass)},
		// The conductor's scp client does not pin the server's host key.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // simulates the device
		ClientVersion:   "SSH-2.0-ArubaOS_scp",
	})
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("connection timed out")
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return errors.New("authentication failed (permission denied)")
		}
		return fmt.Errorf("ssh session failed: %v", err)
	}
	client := ssh.NewClient(sshConn, chans, reqs)
	defer func() { _ = client.Close() }()

	sc, err := sftp.NewClient(client)
	if err != nil {
		return fmt.Errorf("scp session failed: %v", err)
	}
	defer func() { _ = sc.Close() }()

	f, err := sc.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("%s: %s", dest, fileErrorText(err))
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("%s: write failed: %s", dest, fileErrorText(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close failed: %s", dest, fileErrorText(err))
	}
	return nil
}

func dialError(host string, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused by %s (no SCP server listening)", host)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("connection to %s timed out", host)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("host %s is unreachable", host)
	}
	return fmt.Errorf("connection to %s failed: %v", host, err)
}

func fileErrorText(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, os.ErrPermission):
		return "Permission denied"
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return strings.TrimPrefix(se.Error(), "sftp: ")
	}
	return err.Error()
}
