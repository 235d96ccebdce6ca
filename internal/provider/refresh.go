package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// transientFailure reports whether err says nothing about the device's state: it did
// not answer (connection refused or reset, timed out, the operation's own deadline
// passed) or it answered with a server-side failure (5xx, 429). Any other answer
// (401, 404, a property the firmware lacks) is authoritative, and so is a
// certificate the provider does not trust. A cancelled run (Ctrl-C) is not transient.
func transientFailure(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
		return false
	}
	var tlsErr *client.TLSError
	if errors.As(err, &tlsErr) {
		return false
	}
	var de *client.DeviceError
	if errors.As(err, &de) && de.HTTPStatus != 0 {
		return de.HTTPStatus >= 500 || de.HTTPStatus == http.StatusTooManyRequests
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// deadlineAware explains a deadline hit by the operation's own timeout (which: create,
// read, update, delete); other errors are returned as they are.
func deadlineAware(ctx context.Context, err error, which string, limit time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%s\n\nThe operation did not finish within its %s timeout (%s); raise timeouts.%s if the device is slow.", operationError(ctx, err), which, limit, which)
	}
	return operationError(ctx, err)
}
