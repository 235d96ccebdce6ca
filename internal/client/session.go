package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// LogoutTimeout bounds a logout. Logout runs on a context detached from the caller's,
// so a cancelled or timed-out operation still frees its session slot on the device.
const LogoutTimeout = 30 * time.Second

// Session is one logged-in conversation with a device, for one operation. Device
// clients provide the protocol's login and logout; Session makes sure that login
// happens once, that an expired session is re-established once, and that a session
// that was opened is always closed.
type Session struct {
	device string
	login  func(ctx context.Context) error
	logout func(ctx context.Context) error

	mu       sync.Mutex
	loggedIn bool
	gen      int // counts logins: tells a call which session it used
}

// NewSession returns a closed session with device (named as in errors) that logs in
// with login and out with logout.
func NewSession(device string, login, logout func(ctx context.Context) error) *Session {
	return &Session{device: device, login: login, logout: logout}
}

// Open logs in. A login is repeated by the transport when its answer is lost; the
// device may then hold a session whose token never arrived, which nobody can log
// out: each such attempt is counted and reported in a warning.
func (s *Session) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loggedIn {
		return nil
	}
	lctx, lost := trackLostAnswers(ctx)
	err := s.login(lctx)
	if n := lost.Load(); n > 0 {
		tflog.SubsystemWarn(ctx, Subsystem, "a login was sent but its answer was lost: the device may hold a session this provider "+
			"cannot log out, which stays open until the device's idle timeout (it counts against the device's session limit)",
			map[string]any{"device": s.device, "lost_answers": n})
	}
	if err != nil {
		return err
	}
	s.loggedIn = true
	s.gen++
	return nil
}

// Close logs out if the session is open. It is safe to call more than once.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked(ctx)
}

// closeLocked logs out on a context detached from ctx and bounded by LogoutTimeout.
// It runs under s.mu, so no login can replace the session it logs out.
func (s *Session) closeLocked(ctx context.Context) error {
	if !s.loggedIn {
		return nil
	}
	s.loggedIn = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LogoutTimeout)
	defer cancel()
	return s.logout(ctx)
}

// Call runs one device call. When the device answers that the session expired
// (an error wrapping ErrSessionExpired), Call logs the old session out (the device
// may still hold it: a proxy, or a device that says "expired" for a session it keeps;
// a failure is only logged), logs in again once and repeats the call. Repeating is
// safe here because the device refused the call before acting on it; calls whose
// outcome is unknown (transport errors) are never repeated by Call. When calls run
// concurrently, only the first to see the expiry of a session replaces it.
func (s *Session) Call(ctx context.Context, call func(ctx context.Context) error) error {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	err := call(ctx)
	if !errors.Is(err, ErrSessionExpired) {
		return err
	}
	s.closeExpired(ctx, gen)
	if err := s.Open(ctx); err != nil {
		return err
	}
	return call(ctx)
}

// closeExpired logs out the session of login number gen, unless another call already
// replaced it. A failure is only logged: the device may have dropped it already.
func (s *Session) closeExpired(ctx context.Context, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loggedIn || s.gen != gen {
		return
	}
	tflog.SubsystemInfo(ctx, Subsystem, "the device says the session expired; logging it out and in again once")
	if err := s.closeLocked(ctx); err != nil {
		tflog.SubsystemWarn(ctx, Subsystem, "logging out the expired session failed", map[string]any{"error": SecretsFrom(ctx).Scrub(err.Error())})
	}
}

// PanicError is a panic inside an operation, recovered by With. It is a bug in the
// provider (typically a parser meeting device text it did not expect).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error (a bug in the provider, please report it): %v; the operation was stopped and its device session closed", e.Value)
}

// LogoutError is a failed logout after the operation itself succeeded. Its text is
// the logout's. Callers whose work is already done and recorded (a committed backup)
// report it as a warning: failing would make the record and the result disagree.
type LogoutError struct{ Err error }

func (e *LogoutError) Error() string { return e.Err.Error() }
func (e *LogoutError) Unwrap() error { return e.Err }

// With opens a session, runs fn, and always closes the session, also when fn fails.
// A logout failure is reported only when fn succeeded (fn's error matters more), as
// a *LogoutError.
//
// A panic in fn (or in the login) is recovered: the session is logged out on a
// detached, bounded context and the panic is returned as a *PanicError. Re-panicking
// would end the provider process, and with it every other backup running in
// parallel, each leaving its session open and its temporary files behind; as an
// error it fails only this operation, and the stack is logged for the bug report.
func With(ctx context.Context, s *Session, fn func(ctx context.Context) error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		perr := &PanicError{Value: v, Stack: debug.Stack()}
		secrets := SecretsFrom(ctx)
		tflog.SubsystemError(ctx, Subsystem, "recovered from a panic; closing the device session", map[string]any{
			"panic": secrets.Scrub(fmt.Sprint(v)), "stack": string(perr.Stack),
		})
		if cerr := s.Close(ctx); cerr != nil {
			tflog.SubsystemWarn(ctx, Subsystem, "logout after a panic failed", map[string]any{"error": secrets.Scrub(cerr.Error())})
		}
		err = secrets.ScrubError(perr)
	}()
	if err := s.Open(ctx); err != nil {
		return err
	}
	err = fn(ctx)
	if cerr := s.Close(ctx); cerr != nil {
		if err == nil {
			return &LogoutError{Err: cerr}
		}
		tflog.SubsystemWarn(ctx, Subsystem, "logout after a failure also failed", map[string]any{"error": SecretsFrom(ctx).Scrub(cerr.Error())})
	}
	return err
}
