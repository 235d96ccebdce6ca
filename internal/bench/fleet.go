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

// benchFleet: a local store of 1,000 devices × 100 backups (every tenth device's
// last attempt failed), read as the data source reads it — Fleet, then the report
// with its Markdown and JUnit forms — in a process of its own, so that its peak
// resident set is the read's.
func benchFleet(ctx context.Context, dir string) error {
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
