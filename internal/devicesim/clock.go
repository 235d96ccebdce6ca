package devicesim

import (
	"sync"
	"time"
)

// Clock tells a simulated device the time. Everything a device derives from the time
// of day reads it — session idle expiry, login delays, backup names and timestamps,
// reset windows — so a test moves a ManualClock instead of sleeping. Waits a device
// models (a slow answer, a long-running action) are real timers: they bound how long a
// request takes, which a clock cannot fake.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock, the default of every simulated device.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ManualClock is a clock that moves only when a test moves it. Safe for concurrent
// use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now is the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
