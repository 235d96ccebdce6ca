package apstra

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Kind names Apstra servers in a devicesim.Listing.
const Kind = "apstra"

// Defaults.
const (
	DefaultTokenLifetime    = 24 * time.Hour
	DefaultLoginWindow      = 60 * time.Second
	DefaultLoginMaxFailures = 5
	DefaultBanDuration      = 3 * time.Minute
	DefaultVersion          = "6.1.2"
	DefaultConfigSize       = 4 << 10
	DefaultCatalogItems     = 3
	// Apstra documents no concurrent-session cap; the table needs one.
	defaultMaxSessions = 10000
)

// BlueprintConfig describes one generated blueprint. Its graph is generated on every
// request from these numbers and the blueprint's seed, never held in memory.
type BlueprintConfig struct {
	// Label is the blueprint's name. Default "dc-<n>".
	Label string
	// Design is "two_stage_l3clos" (default) or "freeform".
	Design string
	// ManagedSystems are switches with an assigned device (system_id), deployed:
	// config-rendering?type=deployed answers their configuration. Default 4.
	ManagedSystems int
	// UnmanagedSystems are system nodes without a device (generic servers, external
	// routers): config-rendering answers 422. Default 2.
	UnmanagedSystems int
	// StagingOnlySystems are managed switches added since the last deploy:
	// config-rendering?type=deployed answers 404, type=staging their configuration.
	StagingOnlySystems int
	// Nodes is the total number of nodes, systems included (interfaces, links,
	// virtual networks... fill the rest). Default 64; never fewer than the systems.
	Nodes int
	// Relationships is the number of relationships. Default twice Nodes.
	Relationships int
	// ConfigSize is roughly how many bytes each rendered device configuration has.
	// Default 4 KiB. A configuration is generated as it is sent, so any size (a
	// hostile server's 1 GiB) costs no memory here.
	ConfigSize int
	// OneLineChanges: a change (ChangeBlueprint, ChangeNodes) rewrites one line of a
	// system's configuration, its revision comment, as an operator's one-statement
	// change does. Default: the device count and every interface address change too.
	OneLineChanges bool
}

// Config describes one simulated Apstra server.
type Config struct {
	// Name is the server's name in a listing. Default "apstra".
	Name string
	// Username and Password are the API credentials. Default "admin" / "admin".
	Username string
	Password string
	// Version is the Apstra version reported by /api/versions/api. Default 6.1.2.
	Version string
	// LegacyLogin models a server without /api/aaa/login and /api/aaa/logout (both
	// answer 404): only /api/user/login and /api/user/logout exist.
	LegacyLogin bool
	// TokenLifetime is how long a token is valid after login (its exp claim).
	// Apstra's is 24 h and not configurable; tests shorten it.
	TokenLifetime time.Duration
	// LoginWindow, LoginMaxFailures and BanDuration are the login rate limit: after
	// LoginMaxFailures refused logins from one address within LoginWindow, logins
	// from that address answer 429 for BanDuration (defaults 60 s, 5, 3 min).
	LoginWindow      time.Duration
	LoginMaxFailures int
	BanDuration      time.Duration
	// Blueprints are the blueprints the server holds. Default: one with the
	// BlueprintConfig defaults. Use a non-nil empty slice for none.
	Blueprints []BlueprintConfig
	// CatalogItems is how many items each design catalog and resource pool
	// collection holds. Default 3.
	CatalogItems int
	// MaxSessions caps concurrent sessions (Apstra documents none; default 10000).
	MaxSessions int
	// Clock is the server's clock: token expiry, the ban, timestamps (nil: the
	// system clock; tests pass a devicesim.ManualClock).
	Clock devicesim.Clock
	// ListenAddr is where Start listens ("" means 127.0.0.1:0).
	ListenAddr string
	// Logger receives a line per notable event (never credentials). nil: no logging.
	Logger *log.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = "apstra"
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "admin"
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = DefaultLoginWindow
	}
	if cfg.LoginMaxFailures <= 0 {
		cfg.LoginMaxFailures = DefaultLoginMaxFailures
	}
	if cfg.BanDuration <= 0 {
		cfg.BanDuration = DefaultBanDuration
	}
	if cfg.Blueprints == nil {
		cfg.Blueprints = []BlueprintConfig{{}}
	}
	if cfg.CatalogItems <= 0 {
		cfg.CatalogItems = DefaultCatalogItems
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = defaultMaxSessions
	}
	return cfg
}

func (bc BlueprintConfig) withDefaults(n int) BlueprintConfig {
	if bc.Label == "" {
		bc.Label = fmt.Sprintf("dc-%d", n)
	}
	if bc.Design == "" {
		bc.Design = "two_stage_l3clos"
	}
	if bc.ManagedSystems == 0 && bc.UnmanagedSystems == 0 && bc.StagingOnlySystems == 0 {
		bc.ManagedSystems, bc.UnmanagedSystems = 4, 2
	}
	bc.ManagedSystems = max(bc.ManagedSystems, 0)
	bc.UnmanagedSystems = max(bc.UnmanagedSystems, 0)
	bc.StagingOnlySystems = max(bc.StagingOnlySystems, 0)
	if bc.Nodes <= 0 {
		bc.Nodes = 64
	}
	bc.Nodes = max(bc.Nodes, bc.ManagedSystems+bc.UnmanagedSystems+bc.StagingOnlySystems)
	if bc.Relationships <= 0 {
		bc.Relationships = 2 * bc.Nodes
	}
	if bc.ConfigSize <= 0 {
		bc.ConfigSize = DefaultConfigSize
	}
	return bc
}

// Apstra is one simulated Apstra server. Serve Handler() over HTTPS (Start does
// that). Safe for concurrent use.
type Apstra struct {
	// Base holds the counters (Stats), injected faults (Faults), the clock and the
	// session table (a session's ID is its user_session claim, its Token the JWT).
	*devicesim.Base

	cfg      Config
	handler  http.Handler
	jwtKey   []byte
	userID   string
	serverID [8]byte

	mu         sync.Mutex
	blueprints []*blueprint
	logins     map[string]*loginRecord // by client address
	sessionExp map[string]time.Time    // session ID → exp
	cuts       map[string]int64        // blueprint id → bytes after which its next download is cut
	snapshots  []Snapshot
}

// New returns an Apstra server with cfg (zero fields take their defaults).
func New(cfg Config) *Apstra {
	cfg = cfg.withDefaults()
	a := &Apstra{
		cfg:        cfg,
		jwtKey:     make([]byte, 32),
		userID:     devicesim.RandomUUID(),
		logins:     map[string]*loginRecord{},
		sessionExp: map[string]time.Time{},
		cuts:       map[string]int64{},
	}
	_, _ = rand.Read(a.jwtKey)
	h := sha256.Sum256([]byte("apstra-sim\x00" + cfg.Name))
	copy(a.serverID[:], h[:8])
	a.Base = devicesim.NewBase(devicesim.BaseConfig{
		Clock:       cfg.Clock,
		MaxSessions: cfg.MaxSessions,
		// A token is valid for its lifetime whatever its use; a session idle for that
		// long has expired for sure. The exp claim is checked on every call as well.
		IdleTimeout: cfg.TokenLifetime,
		Logger:      cfg.Logger,
		LogPrefix:   "apstra " + cfg.Name,
	})
	now := a.Now()
	for i, bc := range cfg.Blueprints {
		a.blueprints = append(a.blueprints, newBlueprint(a.serverID, i+1, bc.withDefaults(i+1), now))
	}
	a.handler = a.Wrap(http.HandlerFunc(a.serve))
	return a
}

// Config returns the server's configuration with defaults applied.
func (a *Apstra) Config() Config { return a.cfg }

// Handler serves the API (through Faults) and /_sim/stats.
func (a *Apstra) Handler() http.Handler { return a.handler }

// Identity describes the server for a devicesim.Listing.
func (a *Apstra) Identity() devicesim.Identity {
	return devicesim.Identity{
		Kind: Kind, Name: a.cfg.Name, Username: a.cfg.Username, Password: a.cfg.Password,
		Model: "Juniper Apstra", Firmware: a.cfg.Version,
	}
}

// OpenSessions is the number of live sessions: tokens past their exp count as
// expired first.
func (a *Apstra) OpenSessions() int {
	a.expireTokens()
	return a.Base.OpenSessions()
}

// BlueprintInfo is what a test needs to know of a blueprint to check an export.
type BlueprintInfo struct {
	ID            string
	Label         string
	Design        string
	Version       int
	Nodes         int
	Relationships int
	// Managed lists the node ids of the deployed managed systems (their
	// deployed configuration is served), Unmanaged those without a device (422),
	// StagingOnly those not deployed yet (404 for type=deployed).
	Managed     []string
	Unmanaged   []string
	StagingOnly []string
}

// Blueprints describes the blueprints, in the order the API lists them.
func (a *Apstra) Blueprints() []BlueprintInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]BlueprintInfo, 0, len(a.blueprints))
	for _, bp := range a.blueprints {
		out = append(out, bp.info())
	}
	return out
}

// Blueprint describes the blueprint with id.
func (a *Apstra) Blueprint(id string) (BlueprintInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if bp := a.blueprintLocked(id); bp != nil {
		return bp.info(), true
	}
	return BlueprintInfo{}, false
}

func (a *Apstra) blueprintLocked(id string) *blueprint {
	for _, bp := range a.blueprints {
		if bp.id == id {
			return bp
		}
	}
	return nil
}

// snapshot returns a copy of the blueprint's state, safe to render without the lock.
func (a *Apstra) snapshot(id string) (blueprint, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bp := a.blueprintLocked(id)
	if bp == nil {
		return blueprint{}, false
	}
	return bp.clone(), true
}

// ChangeBlueprint models an operator's change, committed and deployed: the
// blueprint's version goes up by one, a new revision is recorded, and the graph and
// the deployed configuration of `systems` managed systems change (the ones after
// those the previous change touched, wrapping around). It returns the changed
// nodes' ids.
func (a *Apstra) ChangeBlueprint(id string, systems int) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bp := a.blueprintLocked(id)
	if bp == nil {
		return nil, fmt.Errorf("apstra sim: no blueprint %q", id)
	}
	var idx []int
	if m := bp.cfg.ManagedSystems; m > 0 {
		for i := range min(systems, m) {
			idx = append(idx, (bp.nextChange+i)%m)
		}
		bp.nextChange = (bp.nextChange + len(idx)) % m
	}
	return bp.change(idx, a.Now()), nil
}

// ChangeNodes is ChangeBlueprint for chosen managed systems (by node id).
func (a *Apstra) ChangeNodes(id string, nodeIDs ...string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	bp := a.blueprintLocked(id)
	if bp == nil {
		return fmt.Errorf("apstra sim: no blueprint %q", id)
	}
	var idx []int
	for _, n := range nodeIDs {
		i, ok := bp.nodeIndex(n)
		if !ok || i >= bp.cfg.ManagedSystems {
			return fmt.Errorf("apstra sim: %q is not a deployed managed system of blueprint %q", n, id)
		}
		idx = append(idx, i)
	}
	bp.change(idx, a.Now())
	return nil
}

// CutNextDownload makes the next download of the blueprint's graph stop after
// afterBytes bytes of the body: the connection is reset, as when a proxy or the
// network fails in the middle of a large export.
func (a *Apstra) CutNextDownload(id string, afterBytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cuts[id] = max(afterBytes, 1)
}

func (a *Apstra) takeCut(id string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.cuts[id]
	delete(a.cuts, id)
	return n
}

// WriteBlueprint writes the blueprint's graph exactly as GET /api/blueprints/{id}
// serves it now, so a test can hash what a client should have received.
func (a *Apstra) WriteBlueprint(id string, w interface{ Write([]byte) (int, error) }) error {
	bp, ok := a.snapshot(id)
	if !ok {
		return fmt.Errorf("apstra sim: no blueprint %q", id)
	}
	gw := newGraphWriter(w, 0)
	bp.writeGraph(gw)
	return gw.flush()
}

// DeployedConfig returns the configuration config-rendering?type=deployed serves
// for a node ("" and false when it answers an error instead).
func (a *Apstra) DeployedConfig(bpID, nodeID string) (string, bool) {
	bp, ok := a.snapshot(bpID)
	if !ok {
		return "", false
	}
	i, ok := bp.nodeIndex(nodeID)
	if !ok || i >= bp.cfg.ManagedSystems {
		return "", false
	}
	return bp.renderConfig(i), true
}

// WriteDeployedConfig writes what DeployedConfig returns to w, generated as it goes
// (for configurations too large to hold); false when there is none.
func (a *Apstra) WriteDeployedConfig(bpID, nodeID string, w io.Writer) (bool, error) {
	bp, ok := a.snapshot(bpID)
	if !ok {
		return false, nil
	}
	i, ok := bp.nodeIndex(nodeID)
	if !ok || i >= bp.cfg.ManagedSystems {
		return false, nil
	}
	return true, bp.writeConfig(w, i)
}

// Banned reports whether logins from addr (an IP address, as in
// devicesim.ClientHost) are refused by the rate limit now.
func (a *Apstra) Banned(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.logins[addr]
	return rec != nil && a.Now().Before(rec.bannedUntil)
}

// BannedAddresses lists the addresses banned now, sorted.
func (a *Apstra) BannedAddresses() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	var out []string
	for addr, rec := range a.logins {
		if now.Before(rec.bannedUntil) {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// Unban removes addr from the banned list, as an administrator can.
func (a *Apstra) Unban(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.logins, addr)
}

// seedFor derives a 64-bit seed from the server and a name.
func seedFor(server [8]byte, parts ...string) uint64 {
	h := sha256.New()
	h.Write(server[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}
