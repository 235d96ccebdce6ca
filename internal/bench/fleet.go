package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore/synthstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/fleetreport"
)

// Figures of the fleet scenario: the store the infrabackup_backups data source
// reads, and that read.
const (
	fleetDevices = 1000
	fleetBackups = 100
	fleetRuns    = 3
)

// fleetResult is what one read reports to the bench (the child prints it as JSON).
type fleetResult struct {
	Seconds     float64 `json:"seconds"`
	Devices     int     `json:"devices"`
	Failed      int     `json:"failed"`
	AllocBytes  uint64  `json:"alloc_bytes"`
	MarkdownLen int     `json:"markdown_len"`
	JUnitLen    int     `json:"junit_len"`
}

// fleet: a local store of 1,000 devices × 100 backups (every tenth device's last
// attempt failed), read twice: as the data source reads it — Fleet, then the report
// with its Markdown and JUnit forms — in a process of its own, so that its peak
// resident set is the read's; then by the infrabackup_backups data source itself,
// in terraform plan, with the provider's peak memory.
func (b *bench) fleet(dir string) error {
	ctx := b.ctx
	root := filepath.Join(dir, "store")
	start := time.Now()
	sum, err := synthstore.Fill(ctx, root, synthstore.Spec{Devices: fleetDevices, Backups: fleetBackups, FailEvery: 10})
	if err != nil {
		return err
	}
	generated := time.Since(start)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var times []float64
	var peakKiB int64
	var last fleetResult
	for range fleetRuns {
		cmd := exec.CommandContext(ctx, self, "-fleet-read", root)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("fleet read: %w", err)
		}
		if err := json.Unmarshal(out, &last); err != nil {
			return fmt.Errorf("fleet read printed %q: %w", out, err)
		}
		if last.Devices != sum.Devices || last.Failed != sum.Failures {
			return fmt.Errorf("fleet read found %d devices, %d failed; the store holds %d and %d", last.Devices, last.Failed, sum.Devices, sum.Failures)
		}
		times = append(times, last.Seconds)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peakKiB = max(peakKiB, ru.Maxrss)
		}
	}
	slices.Sort(times)
	report("fleet_devices", sum.Devices, "devices")
	report("fleet_backups", sum.Backups, "backups")
	report("fleet_store_objects", sum.Objects, "objects")
	report("fleet_store_generate_time", generated.Seconds(), "s")
	report("fleet_read_time_median", times[len(times)/2], "s")
	report("fleet_read_peak_rss", float64(peakKiB)/1024, "MiB")
	report("fleet_read_allocated", float64(last.AllocBytes)/(1<<20), "MiB")
	report("fleet_report_markdown_size", float64(last.MarkdownLen)/1024, "KiB")
	report("fleet_report_junit_size", float64(last.JUnitLen)/1024, "KiB")
	return b.fleetDataSource(filepath.Join(dir, "terraform"), root, sum.Devices, sum.Failures)
}

// fleetDataSource times terraform plan of a configuration whose only content is the
// infrabackup_backups data source over the store at root (the plan reads it), and
// checks the plan saw every device and failure.
func (b *bench) fleetDataSource(dir, root string, devices, failures int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	config := fmt.Sprintf(`
terraform {
  required_providers {
    infrabackup = { source = "infrabackup/infrabackup" }
  }
}
provider "infrabackup" {
  backup_dir = %q
}
data "infrabackup_backups" "all" {
  max_age = "8d"
}
output "totals" {
  value = data.infrabackup_backups.all.totals
}
`, root)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644); err != nil {
		return err
	}
	_ = b.peakRSS()
	start := time.Now()
	if err := b.ws.Terraform(b.ctx, dir, nil, os.Stderr, b.env, "plan", "-input=false", "-out=tfplan"); err != nil {
		return err
	}
	elapsed := time.Since(start)
	peak := b.peakRSS()
	var out strings.Builder
	if err := b.ws.Terraform(b.ctx, dir, &out, os.Stderr, b.env, "show", "-json", "tfplan"); err != nil {
		return err
	}
	var plan struct {
		PlannedValues struct {
			Outputs map[string]struct {
				Value struct {
					Devices int `json:"devices"`
					Failed  int `json:"failed"`
				} `json:"value"`
			} `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal([]byte(out.String()), &plan); err != nil {
		return fmt.Errorf("terraform show -json: %w", err)
	}
	got := plan.PlannedValues.Outputs["totals"].Value
	if got.Devices != devices || got.Failed != failures {
		return fmt.Errorf("the data source found %d devices, %d failed; the store holds %d and %d", got.Devices, got.Failed, devices, failures)
	}
	report("fleet_data_source_plan_time", elapsed.Seconds(), "s")
	report("fleet_data_source_provider_peak_rss", peak, "MiB")
	return nil
}

// fleetRead is the child of benchFleet: it reads the store at root as the data
// source does and prints a fleetResult.
func fleetRead(ctx context.Context, root string) error {
	s, err := backupstore.Open(root)
	if err != nil {
		return err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	sts, err := s.Fleet(ctx, backupstore.FleetFilter{})
	if err != nil {
		return err
	}
	r := fleetreport.New(sts, 8*24*time.Hour, time.Now())
	md := r.Markdown()
	junit, err := r.JUnitXML()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return json.NewEncoder(os.Stdout).Encode(fleetResult{
		Seconds: elapsed.Seconds(), Devices: r.Totals.Devices, Failed: r.Totals.Failed,
		AllocBytes: after.TotalAlloc - before.TotalAlloc, MarkdownLen: len(md), JUnitLen: len(junit),
	})
}
