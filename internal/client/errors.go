package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrSessionExpired is wrapped by device clients when a device answers that the
// session is no longer valid (idle timeout, reset, forced logout).
var ErrSessionExpired = errors.New("session expired or invalid")

// DeviceError says which device failed, in which step, and what the device said.
// Message is the device's own text (already redacted); Hint says what to do next.
type DeviceError struct {
	Device     string // host or name the user knows the device by
	Step       string // e.g. "log in", "flash backup", "download backup"
	HTTPStatus int    // 0 when no HTTP answer was received
	Message    string
	Hint       string
	Err        error // underlying cause, if any
}

func (e *DeviceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s failed", e.Device, e.Step)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	switch {
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, ". %s", e.Hint)
	}
	return b.String()
}

func (e *DeviceError) Unwrap() error { return e.Err }

// transportError rewrites a transport failure so it never carries secret query
// parameters (net/http puts the whole URL into *url.Error) and, for certificate
// problems, says how to fix them.
func transportError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil {
			uerr = &url.Error{Op: uerr.Op, URL: RedactURL(u), Err: uerr.Err}
			err = uerr
		}
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var verifyErr *tls.CertificateVerificationError
	// The name check comes first: *tls.CertificateVerificationError wraps every
	// verification failure, a name mismatch included.
	switch {
	case errors.As(err, &hostErr):
		return &TLSError{Err: err, Hint: "the device's TLS certificate does not name the address used: connect by a name or address the certificate lists, " +
			"or reissue the certificate"}
	case errors.As(err, &unknownCA), errors.As(err, &verifyErr):
		return &TLSError{Err: err, Hint: "the device's TLS certificate is not trusted: set ca_cert_pem to the PEM of the CA that signed it " +
			"(for a self-signed device certificate, the certificate itself); only for a lab device, set insecure = true to skip verification"}
	}
	return err
}

// TLSError is a certificate verification failure with advice on how to fix it.
type TLSError struct {
	Err  error
	Hint string
}

func (e *TLSError) Error() string { return fmt.Sprintf("%v; %s", e.Err, e.Hint) }
func (e *TLSError) Unwrap() error { return e.Err }
