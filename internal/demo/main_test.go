package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// The demo is the first thing a newcomer runs, and it applies the examples users
// copy (quickstart, the S3 pipeline, the reader, the weekly report): run both forms
// of it as `make demo` and `make demo-s3` do, so that a change to the provider or the
// examples that breaks them fails here rather than in front of someone.

const repoRoot = "../.."

// wantDevices are the simulated devices the demo starts (3 conductors, 2 iLOs, one
// Apstra server), as kind/name.
var wantDevices = []string{"apstra/apstra-01", "aruba/conductor-01", "aruba/conductor-02", "aruba/conductor-03", "ilo/ilo-01", "ilo/ilo-02"}

func skipWithoutTerraform(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("runs terraform: set TF_ACC=1 (make test does)")
	}
}

func TestDemoBacksUpEveryDeviceIntoTheFolder(t *testing.T) {
	skipWithoutTerraform(t)
	dir := t.TempDir()
	if err := run(t.Context(), repoRoot, dir, 3, 2, 1, false); err != nil {
		t.Fatalf("make demo failed: %v", err)
	}
	store, err := backupstore.Open(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := store.Fleet(t.Context(), backupstore.FleetFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range fleet {
		got = append(got, d.Family+"/"+d.Device)
		if d.Latest == nil || d.LastFailure != nil {
			t.Errorf("%s/%s: latest backup %v, last failure %v; want a backup and no failure", d.Family, d.Device, d.Latest, d.LastFailure)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, wantDevices) {
		t.Errorf("the store holds backups of %v, want %v", got, wantDevices)
	}
}

func TestDemoS3BacksUpEveryDeviceIntoTheBucket(t *testing.T) {
	skipWithoutTerraform(t)
	dir := t.TempDir()
	if err := run(t.Context(), repoRoot, dir, 3, 2, 1, true); err != nil {
		t.Fatalf("make demo-s3 failed: %v", err)
	}
	// The bucket's objects are files below versitygw's folder; a backup's record is
	// <prefix>/<kind>/<device>/<id>.json, written last.
	devices := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(dir, "s3"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel := filepath.ToSlash(p)
		i := strings.Index(rel, "/"+demoBucket+"/demo/")
		if i < 0 || !strings.HasSuffix(rel, ".json") || strings.HasSuffix(rel, ".failed.json") {
			return nil
		}
		parts := strings.Split(rel[i+len("/"+demoBucket+"/demo/"):], "/")
		if len(parts) == 3 {
			devices[parts[0]+"/"+parts[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(devices))
	for d := range devices {
		got = append(got, d)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantDevices) {
		t.Errorf("the bucket holds backup records of %v, want %v", got, wantDevices)
	}
}
