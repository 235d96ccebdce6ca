// Command demo is `make demo`: it builds the provider and the device simulators,
// starts the simulators, runs `terraform apply` on examples/quickstart with the fresh
// provider (dev_overrides, no registry), and prints where every backup landed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/tfdriver"
)

func main() {
	dir := flag.String("dir", ".demo", "working folder for binaries, simulators, Terraform state and backups (kept for inspection)")
	conductors := flag.Int("aruba", 3, "number of simulated conductors")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dir, *conductors); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, conductors int) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	step("building the provider and the device simulators")
	ws, err := tfdriver.NewWorkspace(repo, dir)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("starting %d simulated Mobility Conductors and an SCP/SFTP server", conductors))
	sims, err := ws.StartSimulators("-dir", filepath.Join(ws.Dir, "devicesim"), "-aruba", fmt.Sprint(conductors))
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing

	tfDir := filepath.Join(ws.Dir, "quickstart")
	if err := os.MkdirAll(tfDir, 0o755); err != nil {
		return err
	}
	mainTF, err := os.ReadFile(filepath.Join(repo, "examples", "quickstart", "main.tf"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tfDir, "main.tf"), mainTF, 0o644); err != nil {
		return err
	}
	vars := map[string]any{
		"backup_dir":       filepath.Join(ws.Dir, "backups"),
		"ca_cert_pem_file": l.CACertFile,
		"backup_trigger":   time.Now().UTC().Format(time.RFC3339),
	}
	hosts := map[string]any{}
	for _, d := range l.Devices {
		if d.Kind == "aruba_conductor" {
			hosts[d.Name] = map[string]any{"host": d.Host, "port": d.Port}
			vars["aruba_username"], vars["aruba_password"] = d.Username, d.Password
		}
	}
	vars["conductors"] = hosts
	if l.SFTP != nil {
		host, port := splitHostPort(l.SFTP.Address)
		vars["scp"] = map[string]any{"host": host, "port": port, "username": l.SFTP.Username, "password": l.SFTP.Password, "host_key": l.SFTP.HostKey}
	}
	varsJSON, _ := json.MarshalIndent(vars, "", "  ")
	// The variables file holds the simulators' demo credentials: keep it private.
	if err := os.WriteFile(filepath.Join(tfDir, "terraform.tfvars.json"), varsJSON, 0o600); err != nil {
		return err
	}

	step("terraform apply (provider from " + ws.BinDir + " via dev_overrides)")
	if err := ws.Terraform(ctx, tfDir, os.Stdout, os.Stderr, nil, "apply", "-auto-approve", "-input=false"); err != nil {
		return err
	}
	var out strings.Builder
	if err := ws.Terraform(ctx, tfDir, &out, os.Stderr, nil, "output", "-json", "conductor_backups"); err != nil {
		return err
	}
	var backups map[string]struct {
		CompletedAt string   `json:"completed_at"`
		Changed     bool     `json:"running_config_changed"`
		Files       []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(out.String()), &backups); err != nil {
		return fmt.Errorf("reading terraform output: %w", err)
	}
	step("where the backups landed")
	names := make([]string, 0, len(backups))
	for n := range backups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := backups[n]
		fmt.Printf("%s (completed %s, running config changed: %v)\n", n, b.CompletedAt, b.Changed)
		for _, f := range b.Files {
			if strings.HasPrefix(f, "scp://") && l.SFTP != nil {
				rel := f[strings.Index(f[len("scp://"):], "/")+len("scp://")+1:]
				f += "  (on this machine: " + filepath.Join(l.SFTP.RootDir, rel) + ")"
			}
			fmt.Println("   ", f)
		}
	}
	fmt.Printf("\nLocal backup store: %s\nRun `make demo` again for a new backup of every device (the trigger changes).\n", vars["backup_dir"])
	return nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func splitHostPort(addr string) (string, int) {
	i := strings.LastIndex(addr, ":")
	var port int
	fmt.Sscan(addr[i+1:], &port)
	return strings.Trim(addr[:i], "[]"), port
}
