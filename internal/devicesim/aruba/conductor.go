package aruba

import (
	"log"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Expiry styles: how a call with an expired, unknown or missing session is answered.
const (
	// ExpiryStatus answers HTTP 200 with {"_global_result":{"status":1,"status_str":"Invalid
	// authentication token(UIDARUBA) in request URL"}} (or "You must authenticate
	// yourself" when no session was sent at all).
	ExpiryStatus = "status"
	// Expiry401 answers HTTP 401 (with the same JSON body).
	Expiry401 = "401"
	// Expiry403 answers HTTP 403 (with the same JSON body).
	Expiry403 = "403"
)

// Defaults.
const (
	DefaultMaxSessions      = 64
	DefaultIdleTimeout      = 900 * time.Second
	DefaultFlashArchiveSize = 64 << 10
	DefaultSCPPort          = 22
	DefaultSCPTimeout       = 15 * time.Second
)

// Texts the device answers with.
const (
	msgLoginOK        = "You've logged in successfully."
	msgLoginFailed    = "Unauthorized request, authentication failed"
	msgLoggedOut      = "You've been logged out successfully."
	msgInvalidToken   = "Invalid authentication token(UIDARUBA) in request URL"
	msgMustAuth       = "You must authenticate yourself"
	msgSuccess        = "Success"
	msgUploadOK       = "File uploaded successfully"
	flashBackupAOS82  = "flashbackup.tar.gz"
	maxCopyNameLen    = 256
	maxBackupNameLen  = 127
	maxRequestBodyLen = 1 << 20
)

// Config describes one simulated conductor.
type Config struct {
	// Name is the hostname (`show hostname`, the running config). Default "conductor".
	Name string
	// Username and Password are the API credentials. Default "admin" / "admin".
	Username string
	Password string
	// MaxSessions is the concurrent-session limit (default 64).
	MaxSessions int
	// IdleTimeout drops a session after this much inactivity (default 900 s).
	IdleTimeout time.Duration
	// StatusAsNumber answers every "status" as the JSON number 0/1/2 instead of the
	// string "0"/"1"/"2".
	StatusAsNumber bool
	// FailedLoginHTTP401 answers a refused login with HTTP 401 instead of 200.
	FailedLoginHTTP401 bool
	// ExpiryStyle is ExpiryStatus (default), Expiry401 or Expiry403.
	ExpiryStyle string
	// StrictCSRF refuses authenticated calls without a matching X-CSRF-Token header
	// (and without the session id in the query or cookie).
	StrictCSRF bool
	// FlashBackupDelay is how long flash_backup takes (real devices: 20-45 s).
	FlashBackupDelay time.Duration
	// AOS82 models AOS 8.2.x: flash_backup refuses a "filename" field and always writes
	// flashbackup.tar.gz.
	AOS82 bool
	// SCPPort is the port copy_flash_scp connects to on the given scphost (default 22).
	SCPPort int
	// SCPTimeout bounds one copy_flash_scp upload (default 15 s).
	SCPTimeout time.Duration
	// RunningConfig is the `show running-config` text (default: a realistic AOS 8
	// conductor configuration naming the hostname).
	RunningConfig string
	// RunningConfigPerLine answers `show running-config` with one _data element per
	// line instead of one element with embedded newlines.
	RunningConfigPerLine bool
	// FlashArchiveSize is how many bytes of pseudo-random content the flash holds (and
	// so roughly the size of a flash_backup archive). Default 64 KiB; negative: none.
	FlashArchiveSize int
	// Clock is the conductor's clock: session idle expiry and flash file times read
	// it (nil: the system clock; tests pass a devicesim.ManualClock).
	Clock devicesim.Clock
	// ListenAddr is where Start listens ("" means 127.0.0.1:0).
	ListenAddr string
	// Logger receives a line per notable event (never credentials). nil: no logging.
	Logger *log.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = "conductor"
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "admin"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	switch cfg.ExpiryStyle {
	case Expiry401, Expiry403:
	default:
		cfg.ExpiryStyle = ExpiryStatus
	}
	if cfg.SCPPort <= 0 {
		cfg.SCPPort = DefaultSCPPort
	}
	if cfg.SCPTimeout <= 0 {
		cfg.SCPTimeout = DefaultSCPTimeout
	}
	if cfg.RunningConfig == "" {
		cfg.RunningConfig = DefaultRunningConfig(cfg.Name)
	}
	if cfg.FlashArchiveSize == 0 {
		cfg.FlashArchiveSize = DefaultFlashArchiveSize
	}
	if cfg.FlashArchiveSize < 0 {
		cfg.FlashArchiveSize = 0
	}
	return cfg
}

// Kind names conductors in a devicesim.Listing.
const Kind = "aruba_conductor"

// What `show version` reports, per build.
const (
	model         = "ArubaMM-VA"
	versionAOS810 = "8.10.0.12"
	buildAOS810   = "91002"
	versionAOS82  = "8.2.2.6"
	buildAOS82    = "70411"
)

// Conductor is one simulated Mobility Conductor. Serve Handler() over HTTPS (Start
// does that). Safe for concurrent use.
type Conductor struct {
	// Base holds the counters (Stats), injected faults (Faults), the clock and the
	// session table (the UIDARUBA is a session's ID, the CSRF token its Token).
	*devicesim.Base

	cfg     Config
	handler http.Handler

	mu            sync.Mutex
	runningConfig string
	flash         map[string]flashFile
}

// New returns a conductor with cfg (zero fields take their defaults).
func New(cfg Config) *Conductor {
	cfg = cfg.withDefaults()
	c := &Conductor{cfg: cfg, runningConfig: cfg.RunningConfig}
	c.Base = devicesim.NewBase(devicesim.BaseConfig{
		Clock:       cfg.Clock,
		MaxSessions: cfg.MaxSessions,
		IdleTimeout: cfg.IdleTimeout,
		// A UIDARUBA authenticates on its own, in a query string or a cookie.
		SessionIDIsSecret: true,
		Logger:            cfg.Logger,
		LogPrefix:         "aruba " + cfg.Name,
	})
	c.flash = initialFlash(cfg, c.Now())
	c.handler = c.Wrap(http.HandlerFunc(c.serve))
	return c
}

// Config returns the conductor's configuration with defaults applied.
func (c *Conductor) Config() Config { return c.cfg }

// Name is the conductor's hostname.
func (c *Conductor) Name() string { return c.cfg.Name }

// Handler serves the API (through Faults) and /_sim/stats.
func (c *Conductor) Handler() http.Handler { return c.handler }

// Identity describes the conductor for a devicesim.Listing.
func (c *Conductor) Identity() devicesim.Identity {
	return devicesim.Identity{
		Kind: Kind, Name: c.cfg.Name, Username: c.cfg.Username, Password: c.cfg.Password,
		Model: model, Firmware: c.version(),
	}
}

// version is the ArubaOS version this build reports.
func (c *Conductor) version() string {
	if c.cfg.AOS82 {
		return versionAOS82
	}
	return versionAOS810
}

// SetRunningConfig replaces the running configuration.
func (c *Conductor) SetRunningConfig(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runningConfig = text
}

// RunningConfig returns the running configuration.
func (c *Conductor) RunningConfig() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningConfig
}

// FlashFiles lists the flash: name → size in bytes.
func (c *Conductor) FlashFiles() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.flash))
	for name, f := range c.flash {
		out[name] = int64(len(f.data))
	}
	return out
}

// FlashFile returns a copy of one flash file's content.
func (c *Conductor) FlashFile(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.flash[name]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

func (c *Conductor) flashNames() []string {
	names := make([]string, 0, len(c.flash))
	for n := range c.flash {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
