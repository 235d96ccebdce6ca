package backupstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore/synthstore"
)

// BenchmarkFleet reads the state of every device of a local store of devices ×
// 100 weekly backups (make bench measures the whole report in its own process).
func BenchmarkFleet(b *testing.B) {
	for _, devices := range []int{100, 1000} {
		b.Run(fmt.Sprintf("%dx100", devices), func(b *testing.B) {
			ctx := context.Background()
			root := b.TempDir()
			if _, err := synthstore.Fill(ctx, root, synthstore.Spec{Devices: devices, Backups: 100, FailEvery: 10}); err != nil {
				b.Fatal(err)
			}
			s, err := backupstore.Open(root)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sts, err := s.Fleet(ctx, backupstore.FleetFilter{})
				if err != nil || len(sts) != devices {
					b.Fatalf("Fleet = %d devices, %v", len(sts), err)
				}
			}
		})
	}
}
