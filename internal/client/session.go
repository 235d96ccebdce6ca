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
	login  func(ctx context.Context) error
	logout func(ctx context.Context) error

	mu       sync.Mutex
	loggedIn bool
}

// NewSession returns a closed session that logs in with login and out with logout.
func NewSession(login, logout func(ctx context.Context) error) *Session {
	return &Session{login: login, logout: logout}
}

// Open logs in.
func (s *Session) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loggedIn {
		return nil
	}
	if err := s.login(ctx); err != nil {
		return err
	}
	s.loggedIn = true
	return nil
}

// Close logs out if the session is open. It is safe to call more than once.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loggedIn {
		return nil
	}
	s.loggedIn = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LogoutTimeout)
	defer cancel()
	return s.logout(ctx)
}

// Call runs one device call. When the device answers that the session expired
// (an error wrapping ErrSessionExpired), Call logs in again once and repeats the call.
// Repeating is safe here because the device refused the call before acting on it;
// calls whose outcome is unknown (transport errors) are never repeated by Call.
func (s *Session) Call(ctx context.Context, call func(ctx context.Context) error) error {
	err := call(ctx)
	if !errors.Is(err, ErrSessionExpired) {
		return err
	}
	tflog.SubsystemInfo(ctx, Subsystem, "session expired; logging in again once")
	s.mu.Lock()
	s.loggedIn = false // the device already dropped it: nothing to log out
	s.mu.Unlock()
	if err := s.Open(ctx); err != nil {
		return err
	}
	return call(ctx)
}

// PanicError is a panic inside an operation, recovered by With. It is a bug in the
// provider (typically a parser meeting device text it did not expect).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error (a bug in the provider, please report it): %v; the device session was closed", e.Value)
}

// With opens a session, runs fn, and always closes the session, also when fn fails.
// A logout failure is reported only when fn succeeded (fn's error matters more).
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
			return cerr
		}
		tflog.SubsystemWarn(ctx, Subsystem, "logout after a failure also failed", map[string]any{"error": SecretsFrom(ctx).Scrub(cerr.Error())})
	}
	return err
}
