package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// fakeDevice counts logins and logouts and records the context each logout got.
type fakeDevice struct {
	mu         sync.Mutex
	logins     int
	logouts    int
	loginErr   error // returned by every login when set
	failLogins []int // 1-based login numbers that fail with loginErr
	logoutErr  error
	logoutCtx  []context.Context
	open       int // sessions the device holds
	dropped    int // sessions the device ended by itself and not yet logged out
	events     []string
}

func (d *fakeDevice) login(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logins++
	if d.loginErr != nil && (len(d.failLogins) == 0 || contains(d.failLogins, d.logins)) {
		return d.loginErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.open++
	d.events = append(d.events, "login")
	return nil
}

func (d *fakeDevice) logout(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logouts++
	d.logoutCtx = append(d.logoutCtx, ctx)
	if err := ctx.Err(); err != nil {
		return err // a logout on a dead context would never reach the device
	}
	if d.logoutErr != nil {
		return d.logoutErr
	}
	d.events = append(d.events, "logout")
	if d.dropped > 0 { // the device already ended it: "already logged out"
		d.dropped--
		return nil
	}
	d.open--
	return nil
}

// expire models the device dropping the session by itself.
func (d *fakeDevice) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open--
	d.dropped++
}

func (d *fakeDevice) counts() (logins, logouts, open int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logins, d.logouts, d.open
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (d *fakeDevice) session() *client.Session {
	return client.NewSession("fake device", d.login, d.logout)
}

func wantCounts(t *testing.T, d *fakeDevice, logins, logouts, open int) {
	t.Helper()
	l, o, n := d.counts()
	if l != logins || o != logouts || n != open {
		t.Fatalf("logins=%d logouts=%d open=%d, want %d %d %d", l, o, n, logins, logouts, open)
	}
}

// expired is what a device client returns when the device says the session is gone.
func expired() error { return fmt.Errorf("device: call failed: %w", client.ErrSessionExpired) }

func TestWithLogsInRunsAndLogsOut(t *testing.T) {
	d := &fakeDevice{}
	ran := 0
	err := client.With(context.Background(), d.session(), func(context.Context) error {
		ran++
		_, _, open := d.counts()
		if open != 1 {
			t.Errorf("fn ran with %d open sessions", open)
		}
		return nil
	})
	if err != nil || ran != 1 {
		t.Fatalf("err=%v ran=%d", err, ran)
	}
	wantCounts(t, d, 1, 1, 0)
}

func TestWithLogsOutWhenFnFails(t *testing.T) {
	d := &fakeDevice{}
	boom := errors.New("flash backup failed")
	err := client.With(context.Background(), d.session(), func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fn's error", err)
	}
	wantCounts(t, d, 1, 1, 0)
}

func TestWithLogsOutWhenContextCancelled(t *testing.T) {
	d := &fakeDevice{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := client.With(ctx, d.session(), func(ctx context.Context) error {
		cancel() // the user pressed Ctrl-C during the operation
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantCounts(t, d, 1, 1, 0)
	checkDetached(t, d)
}

func TestWithLogsOutWhenContextTimesOut(t *testing.T) {
	d := &fakeDevice{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := client.With(ctx, d.session(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	wantCounts(t, d, 1, 1, 0)
	checkDetached(t, d)
}

// checkDetached checks the logout ran on a live context bounded by LogoutTimeout.
func checkDetached(t *testing.T, d *fakeDevice) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.logoutCtx) != 1 {
		t.Fatalf("%d logouts", len(d.logoutCtx))
	}
	lctx := d.logoutCtx[0]
	dl, ok := lctx.Deadline()
	if !ok || time.Until(dl) > client.LogoutTimeout {
		t.Errorf("logout context deadline %v (set: %v); want one within LogoutTimeout", dl, ok)
	}
	// The logout context ends when the logout returns (its timer is released).
	select {
	case <-lctx.Done():
	default:
		t.Error("the logout context is still live after the logout returned")
	}
}

func TestWithLogoutFailure(t *testing.T) {
	logoutErr := errors.New("logout refused")
	t.Run("fn succeeded: the logout error is reported", func(t *testing.T) {
		d := &fakeDevice{logoutErr: logoutErr}
		err := client.With(context.Background(), d.session(), func(context.Context) error { return nil })
		if !errors.Is(err, logoutErr) {
			t.Fatalf("err = %v, want the logout error", err)
		}
		// Typed, so callers whose work is already done can make it a warning.
		var le *client.LogoutError
		if !errors.As(err, &le) || err.Error() != logoutErr.Error() {
			t.Fatalf("err = %v (%T), want a *client.LogoutError with the logout's text", err, err)
		}
	})
	t.Run("fn failed: fn's error wins", func(t *testing.T) {
		d := &fakeDevice{logoutErr: logoutErr}
		boom := errors.New("upload failed")
		err := client.With(context.Background(), d.session(), func(context.Context) error { return boom })
		if !errors.Is(err, boom) || errors.Is(err, logoutErr) {
			t.Fatalf("err = %v, want only fn's error", err)
		}
	})
}

func TestWithFailedLoginNoLogout(t *testing.T) {
	loginErr := errors.New("authentication failed")
	d := &fakeDevice{loginErr: loginErr}
	ran := false
	err := client.With(context.Background(), d.session(), func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, loginErr) {
		t.Fatalf("err = %v, want the login error", err)
	}
	if ran {
		t.Fatal("fn ran without a session")
	}
	wantCounts(t, d, 1, 0, 0)
}

func TestCallReLogsInOnceOnExpiry(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	calls := 0
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		return s.Call(ctx, func(context.Context) error {
			calls++
			if calls == 1 {
				d.expire()
				return expired()
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("call ran %d times, want 2", calls)
	}
	// Two logins, two logouts: the expired session is logged out before the new login
	// (a device may say "expired" for a session it still holds), then the new one.
	wantCounts(t, d, 2, 2, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	if got := strings.Join(d.events, ","); got != "login,logout,login,logout" {
		t.Fatalf("events %s, want login,logout,login,logout", got)
	}
}

func TestCallGivesUpAfterSecondExpiry(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	calls := 0
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		return s.Call(ctx, func(context.Context) error {
			calls++
			d.expire()
			return expired()
		})
	})
	if !errors.Is(err, client.ErrSessionExpired) {
		t.Fatalf("err = %v, want ErrSessionExpired", err)
	}
	if calls != 2 {
		t.Fatalf("call ran %d times, want 2 (one re-login, then give up)", calls)
	}
	if l, _, _ := d.counts(); l != 2 {
		t.Fatalf("logins=%d, want 2", l)
	}
}

func TestCallDoesNotRepeatOtherErrors(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	calls := 0
	boom := errors.New("connection reset")
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		return s.Call(ctx, func(context.Context) error { calls++; return boom })
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want the error after 1 call", err, calls)
	}
	wantCounts(t, d, 1, 1, 0)
}

func TestCallReLoginFailure(t *testing.T) {
	loginErr := errors.New("maximum number of sessions reached")
	d := &fakeDevice{loginErr: loginErr, failLogins: []int{2}}
	s := d.session()
	calls := 0
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		return s.Call(ctx, func(context.Context) error {
			calls++
			d.expire()
			return expired()
		})
	})
	if !errors.Is(err, loginErr) {
		t.Fatalf("err = %v, want the re-login error", err)
	}
	if calls != 1 {
		t.Fatalf("call ran %d times after a failed re-login", calls)
	}
	// The expired session was logged out; the failed login left none to log out.
	wantCounts(t, d, 2, 1, 0)
}

func TestCloseIdempotent(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	ctx := context.Background()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, d, 0, 0, 0)
	for range 2 {
		if err := s.Open(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts(t, d, 1, 0, 1) // Open on an open session does not log in again
	for range 3 {
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts(t, d, 1, 1, 0)
	// A closed session can be opened again.
	if err := client.With(ctx, s, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, d, 2, 2, 0)
}

func TestSessionConcurrentCalls(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				errs <- s.Call(ctx, func(context.Context) error { return nil })
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, d, 1, 1, 0)
}

// A panic inside an operation (a parser bug on hostile device text) must not leave
// the session open, and must not take the provider process down with every other
// backup in flight: With logs the session out and returns the panic as an error.
func TestWithPanicClosesSessionAndReturnsError(t *testing.T) {
	for _, cancelFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("context cancelled before the panic: %v", cancelFirst), func(t *testing.T) {
			d := &fakeDevice{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("With let the panic through: %v", v)
					}
				}()
				err = client.With(ctx, d.session(), func(context.Context) error {
					if cancelFirst {
						cancel()
					}
					var s []byte
					_ = s[5] // index out of range
					return nil
				})
			}()
			var pe *client.PanicError
			if !errors.As(err, &pe) || len(pe.Stack) == 0 {
				t.Fatalf("err = %v, want a *client.PanicError with a stack", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "index out of range") || !strings.Contains(msg, "bug") {
				t.Fatalf("error %q does not say what happened and that it is a bug", msg)
			}
			wantCounts(t, d, 1, 1, 0)
			checkDetached(t, d)
		})
	}
}

// Calls running at once that all meet the same expired session replace it once: a
// second re-login would leak the session the first one opened.
func TestConcurrentExpiryReLogsInOnce(t *testing.T) {
	d := &fakeDevice{}
	s := d.session()
	var mu sync.Mutex
	sessionOf := 1 // the login number the device currently accepts
	err := client.With(context.Background(), s, func(ctx context.Context) error {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				<-start
				errs <- s.Call(ctx, func(context.Context) error {
					logins, _, _ := d.counts()
					mu.Lock()
					defer mu.Unlock()
					if logins == sessionOf { // still the first session: the device ended it
						return expired()
					}
					return nil
				})
			})
		}
		mu.Lock()
		sessionOf = 1
		mu.Unlock()
		d.expire()
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, d, 2, 2, 0)
}

// A panic while the session is locked (in a logout during a re-login) must not leave
// it locked: With's own logout would then wait forever.
func TestWithPanicInsideSessionDoesNotDeadlock(t *testing.T) {
	logins := 0
	s := client.NewSession("fake device",
		func(context.Context) error { logins++; return nil },
		func(context.Context) error { panic("logout bug") })
	done := make(chan error, 1)
	go func() {
		done <- client.With(context.Background(), s, func(ctx context.Context) error {
			return s.Call(ctx, func(context.Context) error { return expired() })
		})
	}()
	select {
	case err := <-done:
		var pe *client.PanicError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "logout bug") {
			t.Fatalf("err = %v, want the panic as a *client.PanicError", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("With deadlocked after a panic inside the session")
	}
}
