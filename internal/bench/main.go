// Command bench is `make bench`: it measures the performance and memory targets of
// the issues against the device simulators with the real terraform binary, and prints
// one `name: value unit` line per figure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/tfdriver"
)

type bench struct {
	ctx    context.Context
	repo   string
	ws     *tfdriver.Workspace
	rssDir string
	env    []string
	// lastPlan and lastApply time the plan and the apply of the last apply() call.
	lastPlan, lastApply time.Duration
}

func main() {
	dir := flag.String("dir", ".bench", "working folder (recreated)")
	conductors := flag.Int("aruba", 100, "simulated conductors")
	parallelism := flag.Int("parallelism", 20, "terraform -parallelism")
	rounds := flag.Int("rounds", 2, "ilo-s3: times each side uploads, taking turns (the best time counts)")
	scenario := flag.String("scenario", "all", "which figures to measure: "+scenarioNames())
	fleetReadRoot := flag.String("fleet-read", "", "internal: read the backup store in this folder as the fleet scenario does")
	flag.Parse()
	ctx := context.Background()
	if *fleetReadRoot != "" {
		if err := fleetRead(ctx, *fleetReadRoot); err != nil {
			fmt.Fprintln(os.Stderr, "fleet read failed:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *dir, *scenario, options{conductors: *conductors, parallelism: *parallelism, rounds: max(*rounds, 1)}); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

// scenarios are the values of -scenario, in the order "all" runs them.
var scenarios = []struct {
	name string
	run  func(b *bench, o options) error
}{
	{"aruba", func(b *bench, o options) error {
		return b.aruba(o.conductors, o.parallelism, localStore(filepath.Join(b.ws.Dir, "backups")), "aruba")
	}},
	{"aruba-s3", func(b *bench, o options) error {
		return b.withBucket("aruba", func(k *benchBucket) error { return b.aruba(o.conductors, o.parallelism, k.store(), "aruba_s3") })
	}},
	{"ilo-large", func(b *bench, _ options) error { return b.iloLarge() }},
	{"ilo-s3", func(b *bench, o options) error {
		return b.withBucket("ilo", func(k *benchBucket) error { return b.iloS3(k, o.rounds) })
	}},
	{"ilo-many", func(b *bench, o options) error { return b.iloMany(o.conductors, o.parallelism) }},
	{"fleet", func(b *bench, _ options) error { return b.fleet(filepath.Join(b.ws.Dir, "fleet")) }},
	{"apstra", func(b *bench, _ options) error { return b.apstra() }},
}

func scenarioNames() string {
	names := []string{"all"}
	for _, sc := range scenarios {
		names = append(names, sc.name)
	}
	return strings.Join(names, ", ")
}

// options are the command line's figures for the scenarios.
type options struct{ conductors, parallelism, rounds int }

func run(ctx context.Context, dir, scenario string, o options) error {
	known := scenario == "all"
	for _, sc := range scenarios {
		known = known || sc.name == scenario
	}
	if !known {
		return fmt.Errorf("unknown -scenario %q (%s)", scenario, scenarioNames())
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	ws, err := tfdriver.NewWorkspace(repo, dir)
	if err != nil {
		return err
	}
	b := &bench{ctx: ctx, repo: repo, ws: ws, rssDir: filepath.Join(ws.Dir, "rss")}
	if err := b.wrapProvider(); err != nil {
		return err
	}
	for _, sc := range scenarios {
		if scenario == "all" || scenario == sc.name {
			// The figures are as noisy as the machine is busy: say how busy it was.
			if load, err := os.ReadFile("/proc/loadavg"); err == nil {
				fmt.Printf("%s_load_average_before: %s (1/5/15 min)\n", strings.ReplaceAll(sc.name, "-", "_"), strings.Join(strings.Fields(string(load))[:3], " "))
			}
			if err := sc.run(b, o); err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
		}
	}
	return nil
}

// wrapProvider installs rsswrap under the provider's name so every provider process
// Terraform starts reports its peak memory.
func (b *bench) wrapProvider() error {
	wrapDir := filepath.Join(b.ws.Dir, "wrapped")
	if err := os.MkdirAll(b.rssDir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(wrapDir, "terraform-provider-infrabackup"), "./internal/bench/rsswrap")
	cmd.Dir, cmd.Stderr = b.repo, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	b.env = []string{
		"INFRABACKUP_REAL_PROVIDER=" + filepath.Join(b.ws.BinDir, "terraform-provider-infrabackup"),
		"INFRABACKUP_RSS_DIR=" + b.rssDir,
	}
	return b.ws.WriteCLIConfig(wrapDir)
}

// peakRSS is the largest peak resident set of the provider processes since the last
// call, in MiB.
func (b *bench) peakRSS() float64 {
	var peak int64
	files, _ := filepath.Glob(filepath.Join(b.rssDir, "*.rss"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && kib > peak {
			peak = kib
		}
		_ = os.Remove(f)
	}
	return float64(peak) / 1024
}

func report(name string, value any, unit string) {
	switch v := value.(type) {
	case float64:
		fmt.Printf("%s: %.3f %s\n", name, v, unit)
	default:
		fmt.Printf("%s: %v %s\n", name, v, unit)
	}
}

// aruba: N conductors (50 ms per call, 2 s flash backup) at -parallelism P, writing
// to st; every figure's name starts with prefix.
func (b *bench) aruba(n, parallelism int, st backupStore, prefix string) error {
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim"), "-aruba", fmt.Sprint(n),
		"-latency", "50ms", "-flash-backup-delay", "2s")
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing
	ca, err := os.ReadFile(l.CACertFile)
	if err != nil {
		return err
	}
	var devices []devicesim.DeviceInfo
	for _, d := range l.Devices {
		if d.Kind == "aruba_conductor" {
			devices = append(devices, d)
		}
	}

	// One conductor alone gives the critical path of a backup: the time its Create
	// took, from the recorded start and completion.
	single, err := b.applyConductors(prefix+"-single", l, devices[:1], st, 1, "one")
	if err != nil {
		return err
	}
	critical := single[devices[0].Name]
	_ = b.peakRSS()
	before := sumStats(b.ctx, devices, ca)
	if _, err := b.applyConductors(prefix+"-all", l, devices, st, parallelism, "all"); err != nil {
		return err
	}
	wall := b.lastApply
	after := sumStats(b.ctx, devices, ca)
	waves := (len(devices) + parallelism - 1) / parallelism
	ideal := time.Duration(waves) * critical
	report(prefix+"_conductors", len(devices), "devices")
	report(prefix+"_backup_critical_path", critical.Seconds(), "s")
	report(prefix+"_plan_wall_time", b.lastPlan.Seconds(), "s")
	report(prefix+"_apply_wall_time", wall.Seconds(), "s")
	report(prefix+"_ideal_time", ideal.Seconds(), "s")
	report(prefix+"_apply_vs_ideal", wall.Seconds()/ideal.Seconds(), "x")
	report(prefix+"_plan_and_apply_vs_ideal", (b.lastPlan+wall).Seconds()/ideal.Seconds(), "x")
	report(prefix+"_logins_per_backup", float64(after.Logins-before.Logins)/float64(len(devices)), "logins")
	report(prefix+"_logouts_per_backup", float64(after.Logouts-before.Logouts)/float64(len(devices)), "logouts")
	report(prefix+"_calls_per_backup", float64(after.TotalCalls()-before.TotalCalls())/float64(len(devices)), "calls")
	report(prefix+"_open_sessions_after_apply", after.OpenSessions, "sessions")
	report(prefix+"_provider_peak_rss", b.peakRSS(), "MiB")

	// Plan on the resulting state: refresh must make no device call.
	env := append(conductorEnv(l, devices), append(st.env, b.env...)...)
	if err := b.ws.Terraform(b.ctx, filepath.Join(b.ws.Dir, prefix+"-all"), nil, os.Stderr, env, "plan", "-input=false", "-parallelism="+fmt.Sprint(parallelism), "-detailed-exitcode"); err != nil {
		return fmt.Errorf("plan after apply must show no changes: %w", err)
	}
	afterPlan := sumStats(b.ctx, devices, ca)
	report(prefix+"_plan_device_calls", afterPlan.TotalCalls()-after.TotalCalls(), "calls")
	return nil
}

// conductorEnv passes the conductors' and the SCP server's passwords to terraform.
func conductorEnv(l devicesim.Listing, devices []devicesim.DeviceInfo) []string {
	return []string{"TF_VAR_aruba_password=" + devices[0].Password, "TF_VAR_scp_password=" + l.SFTP.Password}
}

// applyConductors writes a configuration backing up devices into st and applies it;
// it returns each backup's create duration.
func (b *bench) applyConductors(name string, l devicesim.Listing, devices []devicesim.DeviceInfo, st backupStore, parallelism int, trigger string) (map[string]time.Duration, error) {
	dir := filepath.Join(b.ws.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host, port := splitHostPort(l.SFTP.Address)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `
provider "infrabackup" {
  %s
  ca_cert_pem = file(%q)
  aruba = {
    username = %q
    password = var.aruba_password
  }
}
variable "aruba_password" {
  type      = string
  sensitive = true
}
variable "scp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}
terraform {
  required_providers {
    infrabackup = { source = "infrabackup/infrabackup" }
  }
}
`, st.args, l.CACertFile, devices[0].Username)
	for _, d := range devices {
		fmt.Fprintf(&cfg, `
resource "infrabackup_aruba_conductor_backup" %q {
  host    = %q
  port    = %d
  name    = %q
  trigger = %q
  scp = {
    host        = %q
    port        = %d
    username    = %q
    password_wo = var.scp_password
    remote_dir  = "bench"
    host_key    = %q
  }
}
output %q {
  value = [infrabackup_aruba_conductor_backup.%s.started_at, infrabackup_aruba_conductor_backup.%s.completed_at]
}
`, d.Name, d.Host, d.Port, d.Name, trigger, host, port, l.SFTP.Username, l.SFTP.HostKey, d.Name, d.Name, d.Name)
	}
	env := append(conductorEnv(l, devices), append(st.env, b.env...)...)
	return b.apply(dir, cfg.String(), parallelism, env)
}

// apply writes main.tf into dir, applies it and returns, for every output holding a
// [started_at, completed_at] pair, the duration between the two.
func (b *bench) apply(dir, config string, parallelism int, env []string) (map[string]time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	par := "-parallelism=" + fmt.Sprint(parallelism)
	planStart := time.Now()
	if err := b.ws.Terraform(b.ctx, dir, nil, os.Stderr, env, "plan", "-input=false", "-out=tfplan", par); err != nil {
		return nil, err
	}
	b.lastPlan = time.Since(planStart)
	applyStart := time.Now()
	if err := b.ws.Terraform(b.ctx, dir, nil, os.Stderr, env, "apply", "-input=false", par, "tfplan"); err != nil {
		return nil, err
	}
	b.lastApply = time.Since(applyStart)
	var out strings.Builder
	if err := b.ws.Terraform(b.ctx, dir, &out, os.Stderr, env, "output", "-json"); err != nil {
		return nil, err
	}
	var outputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(out.String()), &outputs); err != nil {
		return nil, err
	}
	durations := map[string]time.Duration{}
	for k, o := range outputs {
		var pair []string
		if json.Unmarshal(o.Value, &pair) != nil || len(pair) != 2 {
			continue // not a [started_at, completed_at] output
		}
		s, err1 := time.Parse(time.RFC3339Nano, pair[0])
		e, err2 := time.Parse(time.RFC3339Nano, pair[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("output %s: bad times %v", k, pair)
		}
		durations[k] = e.Sub(s)
	}
	return durations, nil
}

func sumStats(ctx context.Context, devices []devicesim.DeviceInfo, ca []byte) devicesim.StatsSnapshot {
	var total devicesim.StatsSnapshot
	total.Calls = map[string]int64{}
	for _, d := range devices {
		s, err := tfdriver.Stats(ctx, d.StatsURL, ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stats:", err)
			continue
		}
		total.Logins += s.Logins
		total.Logouts += s.Logouts
		total.OpenSessions += s.OpenSessions
		for k, v := range s.Calls {
			total.Calls[k] += v
		}
	}
	return total
}

func splitHostPort(addr string) (string, int) {
	i := strings.LastIndex(addr, ":")
	port, _ := strconv.Atoi(addr[i+1:])
	return strings.Trim(addr[:i], "[]"), port
}
