// Command devicesim starts simulated devices on loopback for demos, benchmarks and
// manual testing: one CA, one SCP/SFTP server, N ArubaOS 8 Mobility Conductors (-aruba,
// default 3), M HPE iLOs (-ilo, default 0) and K Juniper Apstra servers (-apstra,
// default 0). It prints ONE JSON document
// (devicesim.Listing) on stdout describing how to reach them — URL, credentials,
// counters, and the model, serial and firmware a device has — then serves until
// SIGINT or SIGTERM. Logs go to stderr.
//
//	go run ./internal/devicesim/cmd/devicesim -aruba 3 -fault-mode aos82,status-number
//	go run ./internal/devicesim/cmd/devicesim -aruba 0 -ilo 2 -ilo-backup-size 1073741824
//	go run ./internal/devicesim/cmd/devicesim -aruba 0 -apstra 1 -apstra-blueprints 10 -apstra-nodes 20000 -apstra-managed 50
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/sftpserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devicesim:", err)
		os.Exit(2)
	}
}

// options are the command's flags.
type options struct {
	listenHost string
	dir        string
	verbose    bool

	// Conductors.
	aruba            int
	username         string
	password         string
	latency          time.Duration
	flashBackupDelay time.Duration
	idleTimeout      time.Duration
	maxSessions      int
	faultModes       []string

	// SCP/SFTP server the conductors upload to.
	sftpUsername string
	sftpPassword string

	// iLOs.
	ilo              int
	iloBackupSize    int64
	iloResetDuration time.Duration

	// Apstra servers.
	apstra              int
	apstraBlueprints    int
	apstraNodes         int
	apstraRelationships int
	apstraManaged       int
	apstraUnmanaged     int
	apstraStagingOnly   int
	apstraConfigSize    int
	apstraTokenLifetime time.Duration
}

// arubaFaultModes are the -fault-mode values; each adjusts every conductor's Config.
var arubaFaultModes = map[string]struct {
	help  string
	apply func(*aruba.Config)
}{
	"aos82":           {"AOS 8.2: flash_backup refuses \"filename\" and writes flashbackup.tar.gz", func(c *aruba.Config) { c.AOS82 = true }},
	"status-number":   {"status as the JSON number 0/1 instead of the string \"0\"/\"1\"", func(c *aruba.Config) { c.StatusAsNumber = true }},
	"expiry-401":      {"an expired or unknown session gets HTTP 401 (default: HTTP 200 with status 1)", func(c *aruba.Config) { c.ExpiryStyle = aruba.Expiry401 }},
	"expiry-403":      {"an expired or unknown session gets HTTP 403", func(c *aruba.Config) { c.ExpiryStyle = aruba.Expiry403 }},
	"strict-csrf":     {"every call must carry the X-CSRF-Token header", func(c *aruba.Config) { c.StrictCSRF = true }},
	"login-401":       {"a refused login gets HTTP 401 (default: HTTP 200 with status 1)", func(c *aruba.Config) { c.FailedLoginHTTP401 = true }},
	"config-per-line": {"show running-config answers one _data element per line", func(c *aruba.Config) { c.RunningConfigPerLine = true }},
}

func faultModeHelp() string {
	names := make([]string, 0, len(arubaFaultModes))
	for n := range arubaFaultModes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("comma-separated conductor quirks, applied to every conductor:")
	for _, n := range names {
		fmt.Fprintf(&b, "\n  %-16s %s", n, arubaFaultModes[n].help)
	}
	return b.String()
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var faults string
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		// Like PrintDefaults below: usage that cannot be written has nowhere else to go.
		_, _ = fmt.Fprintf(fs.Output(), "Usage: devicesim [flags]\n\n"+
			"Starts simulated devices on loopback, prints one JSON document describing them on\n"+
			"stdout, and serves until SIGINT/SIGTERM.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listenHost, "listen-host", "127.0.0.1", "address every simulator listens on (the TLS certificate covers 127.0.0.1, ::1 and localhost)")
	fs.StringVar(&o.dir, "dir", "", "working directory for ca.pem and sftp-root/ (default: a new temporary directory, removed on exit)")
	fs.BoolVar(&o.verbose, "v", false, "log device events to stderr (never credentials)")

	fs.IntVar(&o.aruba, "aruba", 3, "number of Aruba Mobility Conductors (conductor-01, conductor-02, ...)")
	fs.StringVar(&o.username, "username", "admin", "API username of the devices")
	fs.StringVar(&o.password, "password", "devicesim-Pass1", "API password of the devices")
	fs.DurationVar(&o.latency, "latency", 0, "added to every API call")
	fs.DurationVar(&o.flashBackupDelay, "flash-backup-delay", 0, "how long a conductor's flash_backup takes (real devices: 20-45s)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", aruba.DefaultIdleTimeout, "conductor session idle timeout")
	fs.IntVar(&o.maxSessions, "max-sessions", aruba.DefaultMaxSessions, "conductor concurrent-session limit")
	fs.StringVar(&faults, "fault-mode", "", faultModeHelp())

	fs.StringVar(&o.sftpUsername, "sftp-username", "backup", "username of the SCP/SFTP server")
	fs.StringVar(&o.sftpPassword, "sftp-password", "devicesim-Scp1", "password of the SCP/SFTP server")

	fs.IntVar(&o.ilo, "ilo", 0, "number of HPE iLOs (ilo-01, ilo-02, ...); they share -username, -password and -latency")
	fs.Int64Var(&o.iloBackupSize, "ilo-backup-size", ilo.DefaultBackupSize, "bytes of each iLO backup image (streamed, never held in memory: multi-GiB is fine)")
	fs.DurationVar(&o.iloResetDuration, "ilo-reset-duration", ilo.DefaultResetDuration, "how long an iLO is unreachable after an accepted restore")

	fs.IntVar(&o.apstra, "apstra", 0, "number of Juniper Apstra servers (apstra-01, apstra-02, ...); they share -username, -password and -latency")
	fs.IntVar(&o.apstraBlueprints, "apstra-blueprints", 3, "blueprints per Apstra server")
	fs.IntVar(&o.apstraNodes, "apstra-nodes", 2000, "nodes per blueprint graph, systems included (graphs are streamed, never held in memory)")
	fs.IntVar(&o.apstraRelationships, "apstra-relationships", 0, "relationships per blueprint graph (0: twice -apstra-nodes)")
	fs.IntVar(&o.apstraManaged, "apstra-managed", 8, "deployed managed systems per blueprint (their deployed configuration is served)")
	fs.IntVar(&o.apstraUnmanaged, "apstra-unmanaged", 2, "systems without a device per blueprint (config-rendering answers 422)")
	fs.IntVar(&o.apstraStagingOnly, "apstra-staging-only", 0, "managed systems per blueprint not deployed yet (config-rendering?type=deployed answers 404)")
	fs.IntVar(&o.apstraConfigSize, "apstra-config-size", apstra.DefaultConfigSize, "approximate bytes of each rendered device configuration")
	fs.DurationVar(&o.apstraTokenLifetime, "apstra-token-lifetime", apstra.DefaultTokenLifetime, "lifetime of an Apstra API token")

	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.aruba < 0 || o.ilo < 0 || o.apstra < 0 {
		return o, errors.New("-aruba, -ilo and -apstra must be >= 0")
	}
	if o.apstraBlueprints < 0 || o.apstraNodes < 0 || o.apstraRelationships < 0 || o.apstraManaged < 0 ||
		o.apstraUnmanaged < 0 || o.apstraStagingOnly < 0 || o.apstraConfigSize < 0 {
		return o, errors.New("the -apstra-* sizes must be >= 0")
	}
	if o.username == "" || o.password == "" || o.sftpUsername == "" || o.sftpPassword == "" {
		return o, errors.New("usernames and passwords must not be empty")
	}
	if net.ParseIP(o.listenHost) == nil {
		return o, fmt.Errorf("-listen-host %q is not an IP address", o.listenHost)
	}
	for _, m := range strings.Split(faults, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if _, ok := arubaFaultModes[m]; !ok {
			return o, fmt.Errorf("unknown -fault-mode %q (see -help)", m)
		}
		o.faultModes = append(o.faultModes, m)
	}
	return o, nil
}

// env is everything the command started.
type env struct {
	opts    options
	logger  *log.Logger
	dir     string
	ca      *devicesim.CA
	sftp    *sftpserver.Server
	listing devicesim.Listing
	closers []func()
}

// deviceStarters start each kind of device, in order. To add a kind: add its flags to
// options/parseFlags and a starter here that starts its devices with e.startEach (as
// startApstras does).
var deviceStarters = []func(*env) error{
	startConductors,
	startILOs,
	startApstras,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "devicesim: ", log.LstdFlags)
	e, err := start(opts, logger)
	if err != nil {
		return err
	}
	defer e.close()

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e.listing); err != nil {
		return fmt.Errorf("writing the listing: %w", err)
	}
	logger.Printf("serving %d device(s); SFTP root %s; stop with Ctrl-C", len(e.listing.Devices), e.listing.SFTP.RootDir)
	<-ctx.Done()
	logger.Printf("shutting down")
	return nil
}

func start(opts options, logger *log.Logger) (e *env, err error) {
	e = &env{opts: opts, logger: logger}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	dir := opts.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "devicesim-"); err != nil {
			return e, err
		}
		e.closers = append(e.closers, func() { _ = os.RemoveAll(dir) })
	} else if err = os.MkdirAll(dir, 0o700); err != nil {
		return e, err
	}
	if e.dir, err = filepath.Abs(dir); err != nil {
		return e, err
	}

	if e.ca, err = devicesim.NewCA(); err != nil {
		return e, err
	}
	caFile := filepath.Join(e.dir, "ca.pem")
	if err = os.WriteFile(caFile, e.ca.CertPEM, 0o644); err != nil {
		return e, err
	}
	e.listing.CACertFile = caFile
	e.listing.Devices = []devicesim.DeviceInfo{}

	root := filepath.Join(e.dir, "sftp-root")
	if err = os.MkdirAll(root, 0o700); err != nil {
		return e, err
	}
	e.sftp, err = sftpserver.Start(sftpserver.Config{
		Username: opts.sftpUsername, Password: opts.sftpPassword, RootDir: root,
		Addr: net.JoinHostPort(opts.listenHost, "0"),
	})
	if err != nil {
		return e, err
	}
	e.closers = append(e.closers, func() { _ = e.sftp.Close() })
	e.listing.SFTP = &devicesim.SFTPInfo{
		Address:            net.JoinHostPort(reachableHost(opts.listenHost), fmt.Sprint(e.sftp.Port())),
		Username:           opts.sftpUsername,
		Password:           opts.sftpPassword,
		RootDir:            root,
		HostKey:            e.sftp.AuthorizedKey(),
		HostKeyFingerprint: e.sftp.Fingerprint(),
	}

	for _, startKind := range deviceStarters {
		if err = startKind(e); err != nil {
			return e, err
		}
	}
	return e, nil
}

// close stops everything, last started first.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// reachableHost is the address clients dial for a listen host.
func reachableHost(listen string) string {
	if ip := net.ParseIP(listen); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return listen
}

func startConductors(e *env) error {
	var devLog *log.Logger
	if e.opts.verbose {
		devLog = e.logger
	}
	return e.startEach(e.opts.aruba, "conductor-%02d", func(name, listenAddr string) (started, error) {
		cfg := aruba.Config{
			Name: name, Username: e.opts.username, Password: e.opts.password, ListenAddr: listenAddr,
			MaxSessions:      e.opts.maxSessions,
			IdleTimeout:      e.opts.idleTimeout,
			FlashBackupDelay: e.opts.flashBackupDelay,
			SCPPort:          e.sftp.Port(),
			Logger:           devLog,
		}
		for _, m := range e.opts.faultModes {
			arubaFaultModes[m].apply(&cfg)
		}
		s, err := aruba.Start(e.ca, cfg)
		if err != nil {
			return started{}, err
		}
		return started{srv: s.Server, dev: s.Conductor.Base}, nil
	})
}

func startILOs(e *env) error {
	return e.startEach(e.opts.ilo, "ilo-%02d", func(name, listenAddr string) (started, error) {
		s, err := ilo.Start(e.ca, ilo.Config{
			Name: name, Username: e.opts.username, Password: e.opts.password, ListenAddr: listenAddr,
			BackupSize:    e.opts.iloBackupSize,
			ResetDuration: e.opts.iloResetDuration,
		})
		if err != nil {
			return started{}, err
		}
		return started{srv: s.Server, dev: s.ILO.Base}, nil
	})
}

func startApstras(e *env) error {
	o := e.opts
	var devLog *log.Logger
	if o.verbose {
		devLog = e.logger
	}
	bps := make([]apstra.BlueprintConfig, o.apstraBlueprints)
	for i := range bps {
		bps[i] = apstra.BlueprintConfig{
			Nodes: o.apstraNodes, Relationships: o.apstraRelationships, ConfigSize: o.apstraConfigSize,
			ManagedSystems: o.apstraManaged, UnmanagedSystems: o.apstraUnmanaged, StagingOnlySystems: o.apstraStagingOnly,
		}
	}
	return e.startEach(o.apstra, "apstra-%02d", func(name, listenAddr string) (started, error) {
		s, err := apstra.Start(e.ca, apstra.Config{
			Name: name, Username: o.username, Password: o.password, ListenAddr: listenAddr,
			Blueprints: bps, TokenLifetime: o.apstraTokenLifetime, Logger: devLog,
		})
		if err != nil {
			return started{}, err
		}
		ssh, err := startApstraSSH(e, name, s.Apstra)
		if err != nil {
			s.Close()
			return started{}, err
		}
		return started{srv: s.Server, dev: s.Apstra.Base, ssh: ssh}, nil
	})
}

// startApstraSSH starts a server's SSH side (sudo aos_backup, SFTP) with its own
// filesystem under -dir; the server's API credentials log in.
func startApstraSSH(e *env, name string, a *apstra.Apstra) (*devicesim.SFTPInfo, error) {
	root := filepath.Join(e.dir, name+"-root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	s, err := a.StartSSH(apstra.SSHConfig{RootDir: root, Addr: net.JoinHostPort(e.opts.listenHost, "0")})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = s.Close() })
	cfg := a.Config()
	return &devicesim.SFTPInfo{
		Address:  net.JoinHostPort(reachableHost(e.opts.listenHost), fmt.Sprint(s.Port())),
		Username: cfg.Username, Password: cfg.Password, RootDir: root,
		HostKey: s.AuthorizedKey(), HostKeyFingerprint: s.Fingerprint(),
	}, nil
}

// started is one device a starter started: its server, its Base, and its SSH side
// when it has one.
type started struct {
	srv *devicesim.Server
	dev *devicesim.Base
	ssh *devicesim.SFTPInfo
}

// startEach starts n devices of one kind, named by nameFormat (1, 2, ...), each on
// a free port of -listen-host, and adds each to the listing.
func (e *env) startEach(n int, nameFormat string, start func(name, listenAddr string) (started, error)) error {
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf(nameFormat, i)
		st, err := start(name, net.JoinHostPort(e.opts.listenHost, "0"))
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		e.add(st)
	}
	return nil
}

// add lists a started device, gives it the -latency and closes it on exit.
func (e *env) add(st started) {
	e.closers = append(e.closers, st.srv.Close)
	st.dev.Faults.SetLatency(e.opts.latency)
	info := st.srv.DeviceInfo()
	info.SSH = st.ssh
	e.listing.Devices = append(e.listing.Devices, info)
}
