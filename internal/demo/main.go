// Command demo is `make demo`: it builds the provider and the device simulators,
// starts the simulators, runs `terraform apply` on examples/quickstart with the fresh
// provider (dev_overrides, no registry), and prints where every backup landed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/tfdriver"
)

func main() {
	dir := flag.String("dir", ".demo", "working folder for binaries, simulators, Terraform state and backups (kept for inspection)")
	conductors := flag.Int("aruba", 3, "number of simulated conductors")
	ilos := flag.Int("ilo", 2, "number of simulated iLOs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dir, *conductors, *ilos); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, conductors, ilos int) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	step("building the provider and the device simulators")
	ws, err := tfdriver.NewWorkspace(repo, dir)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("starting %d simulated Mobility Conductors, %d iLOs and an SCP/SFTP server", conductors, ilos))
	sims, err := ws.StartSimulators("-dir", filepath.Join(ws.Dir, "devicesim"), "-aruba", fmt.Sprint(conductors), "-ilo", fmt.Sprint(ilos))
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
	hosts, iloHosts := map[string]any{}, map[string]any{}
	for _, d := range l.Devices {
		switch d.Kind {
		case "aruba_conductor":
			hosts[d.Name] = map[string]any{"host": d.Host, "port": d.Port}
			vars["aruba_username"], vars["aruba_password"] = d.Username, d.Password
		case "ilo":
			iloHosts[d.Name] = map[string]any{"host": d.Host, "port": d.Port}
			vars["ilo_username"], vars["ilo_password"] = d.Username, d.Password
		}
	}
	vars["conductors"], vars["ilos"] = hosts, iloHosts
	if l.SFTP != nil {
		host, port, err := splitHostPort(l.SFTP.Address)
		if err != nil {
			return fmt.Errorf("the simulators' SFTP address %q: %w", l.SFTP.Address, err)
		}
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
	backups := map[string]backupOutput{}
	for _, output := range []string{"conductor_backups", "ilo_backups"} {
		var out strings.Builder
		if err := ws.Terraform(ctx, tfDir, &out, os.Stderr, nil, "output", "-json", output); err != nil {
			return err
		}
		var some map[string]backupOutput
		if err := json.Unmarshal([]byte(out.String()), &some); err != nil {
			return fmt.Errorf("reading terraform output %s: %w", output, err)
		}
		for k, v := range some {
			backups[k] = v
		}
	}
	step("where the backups landed")
	names := make([]string, 0, len(backups))
	for n := range backups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := backups[n]
		switch {
		case b.Changed != nil:
			fmt.Printf("%s (completed %s, running config changed: %v)\n", n, b.CompletedAt, *b.Changed)
		default:
			fmt.Printf("%s (completed %s, serial %s)\n", n, b.CompletedAt, b.Serial)
		}
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

// backupOutput is one entry of the quickstart's conductor_backups or ilo_backups output.
type backupOutput struct {
	CompletedAt string   `json:"completed_at"`
	Changed     *bool    `json:"running_config_changed"`
	Serial      string   `json:"serial_number"`
	Files       []string `json:"files"`
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	return host, port, err
}
