// Package synthstore fills a local backup store with many synthetic backups, fast,
// for benchmarks of what reads a whole store (backupstore.Fleet): a thousand
// devices with a hundred backups each are some 250,000 files.
//
// Writing them all through the store would sync every file and folder; instead
// the first device of each family is backed up through the store's own API, and
// its files are copied to the other devices' folders with the device's name put in
// place of the first's (records name their device), without syncing: the copies
// are byte for byte what the store would have written, and the store reads them
// as it reads its own.
package synthstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// Spec says what to generate.
type Spec struct {
	Devices int // devices, alternately Aruba conductors and iLOs
	Backups int // backups per device, Interval apart, the last ending before Now
	// FailEvery: every FailEvery-th device's last attempt failed (a failure record
	// newer than its last backup); 0 for none.
	FailEvery int
	Now       time.Time // zero: time.Now()
	Interval  time.Duration
}

// Summary is what Fill wrote.
type Summary struct {
	Devices, Backups, Failures, Objects int
}

// DeviceName is the name of device i.
func DeviceName(i int) string { return fmt.Sprintf("dev-%05d", i) }

// Family of device i: even devices are conductors, odd ones iLOs.
func Family(i int) string {
	if i%2 == 0 {
		return backupstore.FamilyAruba
	}
	return backupstore.FamilyILO
}

// Fill writes the store spec describes into the local folder root, which must not
// hold a store yet.
func Fill(ctx context.Context, root string, spec Spec) (Summary, error) {
	if spec.Devices < 1 || spec.Backups < 1 {
		return Summary{}, fmt.Errorf("synthstore: need at least one device and one backup, not %d and %d", spec.Devices, spec.Backups)
	}
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	if spec.Interval <= 0 {
		spec.Interval = 7 * 24 * time.Hour
	}
	s, err := backupstore.Open(root)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	first := spec.Now.Add(-time.Duration(spec.Backups) * spec.Interval)
	templates := map[string]string{} // family -> template device
	for i := range min(spec.Devices, 2) {
		family, device := Family(i), DeviceName(i)
		templates[family] = device
		for b := range spec.Backups {
			if err := backup(ctx, s, family, device, first.Add(time.Duration(b)*spec.Interval)); err != nil {
				return sum, err
			}
		}
	}
	files := map[string][]file{}
	for family, device := range templates {
		if files[family], err = readDevice(filepath.Join(root, family, device)); err != nil {
			return sum, err
		}
	}
	for i := range spec.Devices {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		family, device := Family(i), DeviceName(i)
		if i >= 2 {
			if err := copyDevice(filepath.Join(root, family, device), files[family], templates[family], device); err != nil {
				return sum, err
			}
		}
		sum.Devices++
		sum.Backups += spec.Backups
		sum.Objects += len(files[family])
		if spec.FailEvery > 0 && i%spec.FailEvery == spec.FailEvery-1 {
			_, err := s.RecordFailure(ctx, family, device, backupstore.Failure{
				Host: device + ".example.net", Port: 443, StartedAt: spec.Now.Add(-time.Hour),
				Step: "login", Message: "401 Unauthorized: the device refused the credentials",
			})
			if err != nil {
				return sum, err
			}
			sum.Failures++
			sum.Objects++
		}
	}
	return sum, nil
}

// backup commits one small backup of a device: a conductor's running
// configuration and flash archive, an iLO's backup file.
func backup(ctx context.Context, s *backupstore.Store, family, device string, started time.Time) error {
	r, err := s.Begin(ctx, family, device, started)
	if err != nil {
		return err
	}
	defer func() { _ = r.Abort() }() // a no-op once committed
	kinds := []string{"backup"}
	if family == backupstore.FamilyAruba {
		kinds = []string{"config", "flash"}
	}
	for _, kind := range kinds {
		body := fmt.Sprintf("%s started %s\n", kind, started.Format(time.RFC3339)) // the same for every device
		if _, err := r.WriteFile(ctx, kind, "bin", bytes.NewReader([]byte(body))); err != nil {
			return err
		}
	}
	_, err = r.Commit(ctx, device+".example.net", 443, map[string]string{"serial": "SN-" + device}, started.Add(time.Minute))
	return err
}

type file struct {
	name string
	data []byte
}

func readDevice(dir string) ([]file, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []file
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, file{e.Name(), data})
	}
	return out, nil
}

// copyDevice writes the template's files into dir, with the template's name
// replaced by device's in the records.
func copyDevice(dir string, files []file, template, device string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		data := f.data
		if filepath.Ext(f.name) == ".json" { // a record: it names its device
			data = bytes.ReplaceAll(data, []byte(template), []byte(device))
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
