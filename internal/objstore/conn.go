package objstore

import (
	"net"
	"time"
)

// idleConn fails a read or a write that makes no progress for timeout. A server that
// stops reading in the middle of a part (or stops answering) then costs one timeout
// and a retry, not a request hung until the whole operation's deadline.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
