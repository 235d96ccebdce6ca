package ilo

import (
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Generations a Config may name.
const (
	ILO5 = "iLO 5"
	ILO6 = "iLO 6"
	ILO7 = "iLO 7"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultName                     = "ilo"
	DefaultUsername                 = "Administrator"
	DefaultPassword                 = "ilo-sim-password"
	DefaultMaxSessions              = 8
	DefaultIdleTimeout              = 30 * time.Minute
	DefaultBackupSize               = 1 << 20
	DefaultResetDuration            = 2 * time.Second
	DefaultSessionLimitStatus       = http.StatusServiceUnavailable
	DefaultLoginFailuresBeforeDelay = 3
	DefaultLoginDelay               = time.Second
)

// Config describes one simulated iLO. Zero fields take the defaults above.
type Config struct {
	Name       string
	Serial     string // default derived from Name, e.g. "TWA22525A7"
	Generation string // "iLO 5" | "iLO 6" | "iLO 7"; default "iLO 6"
	Firmware   string // e.g. "1.70"; default per generation (3.09, 1.70, 1.14)
	Username   string
	Password   string
	// MaxSessions is how many sessions may be open at once (default 8).
	MaxSessions int
	// IdleTimeout drops a session not used for this long (default 30 min).
	IdleTimeout time.Duration
	// BackupSize is the size in bytes of each backup image, header included (default
	// 1 MiB, at least ImageHeaderSize). Images are generated while streaming, so
	// multi-GiB sizes cost no memory.
	BackupSize int64
	// OldFirmware models iLO 5 before 2.72: no CustomBackupandRestore property, and a
	// PATCH of it answers 400 PropertyNotWritableOrUnknown.
	OldFirmware bool
	// FIPS models the FIPS (or a higher) security state: a PATCH of
	// CustomBackupandRestore answers 400 MsgUnsupportedSecurityState.
	FIPS bool
	// RelativeLocation makes the session Location header a path instead of iLO's
	// absolute https://host:port/... URL (as other BMCs do).
	RelativeLocation bool
	// ResetDuration is how long the iLO is unreachable after an accepted restore
	// (default 2 s).
	ResetDuration time.Duration
	// BackupLocation, when set, is served verbatim as BackupFileLocation instead of
	// the minted /bkupdata/... path (a hostile or broken device). The backup is still
	// minted and downloadable at its real path.
	BackupLocation string
	// BackupFilesMissing makes the service link its BackupFiles collection but
	// answer 404 ResourceMissingAtURI for it and its members, as some iLOs do.
	BackupFilesMissing bool
	// ResetDownloadAfter > 0 cuts every backup download by a connection reset after
	// that many body bytes.
	ResetDownloadAfter int64
	// SessionLimitStatus is the HTTP status of a login refused because MaxSessions
	// are open (default 503; real BMCs vary, 403 is the other common answer).
	SessionLimitStatus int
	// LoginFailuresBeforeDelay is how many consecutive failed logins switch on the
	// login delay (default 3).
	LoginFailuresBeforeDelay int
	// LoginDelay is how long after a delayed failure every login is refused with
	// LoginAttemptDelayed (default 1 s; real iLOs use 2-30 s).
	LoginDelay time.Duration
	// Clock is the iLO's clock: session idle expiry, the login delay, backup names
	// and times, and the reset window read it (nil: the system clock; tests pass a
	// devicesim.ManualClock).
	Clock devicesim.Clock
	// ListenAddr is where Start listens (default "": a free loopback port).
	ListenAddr string
}

// Restore records one restore the simulator accepted.
type Restore struct {
	SHA256            string // of the uploaded image
	Size              int64
	Serial            string // from the image header
	PasswordProtected bool
	// MatchedBackup is the name of a backup this simulator served with the same
	// SHA-256 ("" if none).
	MatchedBackup string
	At            time.Time
	// Action is true when the restore came from the BackupFiles member action
	// (HpeiLOBackupFile.Restore) instead of an upload to HttpPushUri.
	Action bool
}

// ServedImage records one backup image the simulator served completely.
type ServedImage struct {
	Name              string
	SHA256            string
	Size              int64
	PasswordProtected bool
	At                time.Time
}

type backupFile struct {
	member   int // BackupFiles member id
	name     string
	id       uint64
	size     int64
	created  time.Time
	firmware string
}

// Kind names iLOs in a devicesim.Listing.
const Kind = "ilo"

// ILO is one simulated iLO. Create it with New; serve it with Handler or Start.
type ILO struct {
	// Base holds the counters (Stats), injected faults (Faults), the clock and the
	// session table (a session's ID is its path segment <user><16 hex>, its Token the
	// X-Auth-Token).
	*devicesim.Base

	mu           sync.Mutex
	cfg          Config
	failures     int // consecutive failed logins
	delayedUntil time.Time
	custom       bool
	etagSeq      uint32
	etag         string
	backup       *backupFile
	memberSeq    int
	served       []ServedImage
	restores     int
	lastRestore  *Restore
	resetUntil   time.Time
	handler      http.Handler
}

// New creates a simulated iLO.
func New(cfg Config) *ILO {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Serial == "" {
		cfg.Serial = DeriveSerial(cfg.Name)
	}
	cfg.Generation = normalizeGeneration(cfg.Generation)
	if cfg.Firmware == "" {
		cfg.Firmware = defaultFirmware(cfg.Generation, cfg.OldFirmware)
	}
	if cfg.Username == "" {
		cfg.Username = DefaultUsername
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.BackupSize <= 0 {
		cfg.BackupSize = DefaultBackupSize
	}
	if cfg.BackupSize < ImageHeaderSize {
		cfg.BackupSize = ImageHeaderSize
	}
	if cfg.ResetDuration <= 0 {
		cfg.ResetDuration = DefaultResetDuration
	}
	if cfg.SessionLimitStatus == 0 {
		cfg.SessionLimitStatus = DefaultSessionLimitStatus
	}
	if cfg.LoginFailuresBeforeDelay <= 0 {
		cfg.LoginFailuresBeforeDelay = DefaultLoginFailuresBeforeDelay
	}
	if cfg.LoginDelay <= 0 {
		cfg.LoginDelay = DefaultLoginDelay
	}
	d := &ILO{cfg: cfg}
	d.Base = devicesim.NewBase(devicesim.BaseConfig{
		Clock: cfg.Clock, MaxSessions: cfg.MaxSessions, IdleTimeout: cfg.IdleTimeout,
	})
	d.handler = d.Wrap(http.HandlerFunc(d.serve))
	d.etag = d.computeETagLocked()
	return d
}

// DeriveSerial derives a plausible HPE serial number (3 letters, 5 digits, a letter
// and a digit, like "TWA22525A7") from a device name.
func DeriveSerial(name string) string {
	sum := sha256.Sum256([]byte("ilosim serial\x00" + name))
	var b strings.Builder
	for i := 0; i < 3; i++ {
		b.WriteByte('A' + sum[i]%26)
	}
	for i := 3; i < 8; i++ {
		b.WriteByte('0' + sum[i]%10)
	}
	b.WriteByte('A' + sum[8]%26)
	b.WriteByte('0' + sum[9]%10)
	return b.String()
}

func normalizeGeneration(g string) string {
	switch strings.ToLower(strings.ReplaceAll(g, " ", "")) {
	case "":
		return ILO6
	case "ilo5", "5":
		return ILO5
	case "ilo6", "6":
		return ILO6
	case "ilo7", "7":
		return ILO7
	}
	return g
}

func defaultFirmware(gen string, old bool) string {
	switch gen {
	case ILO5:
		if old {
			return "2.70"
		}
		return "3.09"
	case ILO7:
		return "1.14"
	}
	return "1.70"
}

// computeETagLocked derives the service's ETag from its state and a sequence number
// that every successful PATCH bumps.
func (d *ILO) computeETagLocked() string {
	sum := crc32.ChecksumIEEE([]byte(fmt.Sprintf("%s|%d|%t", d.cfg.Serial, d.etagSeq, d.custom)))
	return fmt.Sprintf(`W/"%08X"`, sum)
}

// Name is the configured device name.
func (d *ILO) Name() string { return d.cfg.Name }

// Serial is the serial number (Systems/1 SerialNumber, part of every backup name).
func (d *ILO) Serial() string { return d.cfg.Serial }

// Generation is "iLO 5", "iLO 6" or "iLO 7".
func (d *ILO) Generation() string { return d.cfg.Generation }

// Firmware is the firmware version ("1.70").
func (d *ILO) Firmware() string { return d.cfg.Firmware }

// Username is the account the simulator accepts.
func (d *ILO) Username() string { return d.cfg.Username }

// Password is the password of that account.
func (d *ILO) Password() string { return d.cfg.Password }

// Identity describes the iLO for a devicesim.Listing.
func (d *ILO) Identity() devicesim.Identity {
	cfg := d.config()
	return devicesim.Identity{
		Kind: Kind, Name: cfg.Name, Username: cfg.Username, Password: cfg.Password,
		Model: cfg.Generation, Serial: cfg.Serial, Firmware: cfg.Firmware,
	}
}

// ServedBackups maps the name of every backup served completely to the SHA-256 (hex)
// of the last image served under that name (a protected download of the same backup
// is a different image; see Served for all of them).
func (d *ILO) ServedBackups() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]string, len(d.served))
	for _, s := range d.served {
		out[s.Name] = s.SHA256
	}
	return out
}

// Served lists every image served completely, oldest first.
func (d *ILO) Served() []ServedImage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ServedImage(nil), d.served...)
}

// CurrentBackup is the name of the backup file the iLO holds ("" if none).
func (d *ILO) CurrentBackup() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.backup == nil {
		return ""
	}
	return d.backup.name
}

// Restores counts accepted restores.
func (d *ILO) Restores() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restores
}

// LastRestore is a copy of the last accepted restore (nil if none).
func (d *ILO) LastRestore() *Restore {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastRestore == nil {
		return nil
	}
	r := *d.lastRestore
	return &r
}

// CustomBackupAndRestore is the current value of the CustomBackupandRestore flag.
func (d *ILO) CustomBackupAndRestore() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.custom
}

// SetCustomBackupAndRestore sets the flag directly (test set-up; no ETag change).
func (d *ILO) SetCustomBackupAndRestore(v bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.custom = v
}

// ETag is the BackupRestoreService's current ETag, weak form: W/"9FD2104B".
func (d *ILO) ETag() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.etag
}

// InReset reports whether the iLO is resetting after a restore (unreachable).
func (d *ILO) InReset() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Now().Before(d.resetUntil)
}

// SetOldFirmware switches old-firmware mode (no CustomBackupandRestore).
func (d *ILO) SetOldFirmware(v bool) { d.set(func(c *Config) { c.OldFirmware = v }) }

// SetFIPS switches the FIPS security state.
func (d *ILO) SetFIPS(v bool) { d.set(func(c *Config) { c.FIPS = v }) }

// SetRelativeLocation makes new sessions' Location header relative (true) or absolute.
func (d *ILO) SetRelativeLocation(v bool) { d.set(func(c *Config) { c.RelativeLocation = v }) }

// SetBackupLocation overrides the BackupFileLocation served ("" restores the real one).
func (d *ILO) SetBackupLocation(loc string) { d.set(func(c *Config) { c.BackupLocation = loc }) }

// SetBackupFilesMissing makes the linked BackupFiles collection answer 404 (true).
func (d *ILO) SetBackupFilesMissing(v bool) { d.set(func(c *Config) { c.BackupFilesMissing = v }) }

// SetResetDownloadAfter cuts downloads after n body bytes (0: never).
func (d *ILO) SetResetDownloadAfter(n int64) { d.set(func(c *Config) { c.ResetDownloadAfter = n }) }

// SetResetDuration sets how long the iLO is unreachable after a restore.
func (d *ILO) SetResetDuration(v time.Duration) {
	d.set(func(c *Config) {
		if v > 0 {
			c.ResetDuration = v
		}
	})
}

// SetIdleTimeout sets the session idle timeout.
func (d *ILO) SetIdleTimeout(v time.Duration) {
	d.set(func(c *Config) {
		if v > 0 {
			c.IdleTimeout = v
			d.Sessions.SetIdleTimeout(v)
		}
	})
}

// SetMaxSessions sets the session limit (open sessions above it stay open).
func (d *ILO) SetMaxSessions(n int) {
	d.set(func(c *Config) {
		if n > 0 {
			c.MaxSessions = n
			d.Sessions.SetLimit(n)
		}
	})
}

// SetBackupSize sets the size of backups minted from now on.
func (d *ILO) SetBackupSize(n int64) {
	d.set(func(c *Config) {
		if n < ImageHeaderSize {
			n = ImageHeaderSize
		}
		c.BackupSize = n
	})
}

func (d *ILO) set(f func(*Config)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.cfg)
}

func (d *ILO) config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// matchServedLocked names the last served image with this SHA-256 ("" if none).
func (d *ILO) matchServedLocked(sha string) string {
	for i := len(d.served) - 1; i >= 0; i-- {
		if d.served[i].SHA256 == sha {
			return d.served[i].Name
		}
	}
	return ""
}
