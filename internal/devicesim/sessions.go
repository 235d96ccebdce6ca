package devicesim

import (
	"crypto/subtle"
	"errors"
	"sort"
	"sync"
	"time"
)

// Session is one login to a simulated device. Devices differ in what they call its
// parts and how clients present them; the table keeps both handles.
type Session struct {
	// ID is how the device names the session (Aruba's UIDARUBA, the iLO session's
	// path segment). Unique in a table.
	ID string
	// Token is the secret a client authenticates later calls with (Aruba's CSRF
	// token, iLO's X-Auth-Token).
	Token string
	// User is the account that logged in.
	User string
	// Client is the address the session was opened from.
	Client string
	// Created and LastUsed are read from the table's clock.
	Created  time.Time
	LastUsed time.Time
}

// ErrSessionLimit is what SessionTable.Open answers when the device's concurrent
// session limit is reached.
var ErrSessionLimit = errors.New("devicesim: session limit reached")

// SessionTable is a device's table of open sessions: a concurrent-session limit, an
// idle timeout read from the device's clock, and the session counters of Stats
// (opened, logged out, expired). Refused logins are the device's to count: it refuses
// them for its own reasons, the session limit among them.
//
// A session idle for IdleTimeout or longer has expired; every method drops expired
// sessions before it answers, so no method ever returns one. Methods return copies.
// Safe for concurrent use.
type SessionTable struct {
	mu         sync.Mutex
	clock      Clock
	stats      *Stats
	limit      int
	idle       time.Duration
	idSecret   bool
	logf       func(format string, args ...any)
	byID       map[string]*Session
	issued     []string
	expireNext int
}

// Open adds a session with s's ID, Token, User and Client, created and last used now.
// It answers ErrSessionLimit (and adds nothing) when the limit is reached.
func (t *SessionTable) Open(s Session) (Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.reapLocked()
	if len(t.byID) >= t.limit {
		return Session{}, ErrSessionLimit
	}
	s.Created, s.LastUsed = now, now
	t.byID[s.ID] = &s
	if t.idSecret {
		t.issued = append(t.issued, s.ID)
	}
	t.issued = append(t.issued, s.Token)
	t.stats.LoginSucceeded()
	return s, nil
}

// Get returns the session named id without marking it used.
func (t *SessionTable) Get(id string) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
	if s, ok := t.byID[id]; ok {
		return *s, true
	}
	return Session{}, false
}

// GetByToken returns the session whose token is token, without marking it used. The
// comparison takes the same time whichever byte differs. An empty token matches
// nothing.
func (t *SessionTable) GetByToken(token string) (Session, bool) {
	if token == "" {
		return Session{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
	for _, s := range t.byID {
		if subtle.ConstantTimeCompare([]byte(s.Token), []byte(token)) == 1 {
			return *s, true
		}
	}
	return Session{}, false
}

// Touch marks the session named id used now and returns it; false when it is gone,
// or when ExpireNextUses asked for this use to find it expired (it is then dropped).
func (t *SessionTable) Touch(id string) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.reapLocked()
	s, ok := t.byID[id]
	if !ok {
		return Session{}, false
	}
	if t.expireNext > 0 {
		t.expireNext--
		delete(t.byID, id)
		t.stats.SessionExpired()
		return Session{}, false
	}
	s.LastUsed = now
	return *s, true
}

// ExpireNextUses makes the next n Touch calls of a live session find it expired, as
// if the device had dropped it just before: it is dropped (counted as expired) and
// Touch answers false.
func (t *SessionTable) ExpireNextUses(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireNext = n
}

// LogOut closes the session named id at the client's request; false when there is
// no such session (then nothing is counted).
func (t *SessionTable) LogOut(id string) bool { return t.remove(id, t.stats.LoggedOut) }

// Expire drops the session named id as the device would by itself; false when there
// is no such session.
func (t *SessionTable) Expire(id string) bool { return t.remove(id, t.stats.SessionExpired) }

// remove deletes the session named id and counts it with count.
func (t *SessionTable) remove(id string, count func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
	if _, ok := t.byID[id]; !ok {
		return false
	}
	delete(t.byID, id)
	count()
	return true
}

// ExpireAll drops every session, as a reboot or an administrator would; each counts
// as expired.
func (t *SessionTable) ExpireAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.byID {
		delete(t.byID, id)
		t.stats.SessionExpired()
	}
}

// Reap drops the sessions that have been idle for IdleTimeout or longer.
func (t *SessionTable) Reap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
}

func (t *SessionTable) reapLocked() time.Time {
	now := t.clock.Now()
	for id, s := range t.byID {
		if now.Sub(s.LastUsed) >= t.idle {
			delete(t.byID, id)
			t.stats.SessionExpired()
			t.logf("session expired after %s idle (%d open)", t.idle, len(t.byID))
		}
	}
	return now
}

// Len is the number of open sessions.
func (t *SessionTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
	return len(t.byID)
}

// List returns the open sessions, ordered by ID.
func (t *SessionTable) List() []Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked()
	out := make([]Session, 0, len(t.byID))
	for _, s := range t.byID {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Issued returns every secret the table handed out, oldest first: each session's ID
// (when the device's session ids authenticate on their own) and its token.
func (t *SessionTable) Issued() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.issued...)
}

// Limit is the concurrent-session limit.
func (t *SessionTable) Limit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// SetLimit changes the concurrent-session limit (n > 0; sessions already open above
// it stay open).
func (t *SessionTable) SetLimit(n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limit = n
}

// SetIdleTimeout changes the idle timeout (d > 0).
func (t *SessionTable) SetIdleTimeout(d time.Duration) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idle = d
}
