package synthstore

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// What Fill writes reads back through the store as backups the store made itself:
// every device, every backup, the failures, files whose SHA-256 verifies.
func TestFill(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	sum, err := Fill(ctx, root, Spec{Devices: 5, Backups: 3, FailEvery: 2, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// Conductors: 3 records and 6 files; iLOs: 3 records and 3 files; 2 failures.
	if want := (Summary{Devices: 5, Backups: 15, Failures: 2, Objects: 3*9 + 2*6 + 2}); sum != want {
		t.Errorf("Summary = %+v, want %+v", sum, want)
	}
	s, err := backupstore.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	sts, err := s.Fleet(ctx, backupstore.FleetFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 5 {
		t.Fatalf("Fleet lists %d devices, want 5", len(sts))
	}
	for _, st := range sts {
		i := 0
		for ; DeviceName(i) != st.Device; i++ {
		}
		wantOutcome := backupstore.OutcomeSucceeded
		if i%2 == 1 {
			wantOutcome = backupstore.OutcomeFailed
		}
		if st.Family != Family(i) || st.Backups != 3 || st.Latest == nil || len(st.Problems) != 0 || st.LastAttempt.Outcome != wantOutcome {
			t.Errorf("%s = %+v", st.Device, st)
			continue
		}
		if !st.Latest.CompletedAt.Before(now) || st.Latest.Host != st.Device+".example.net" {
			t.Errorf("%s's latest backup = %+v", st.Device, st.Latest)
		}
		for _, f := range st.Latest.Files {
			rc, err := s.OpenFile(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Errorf("%s %s: %v", st.Device, f.Kind, err)
			}
			rc.Close()
		}
	}
}
