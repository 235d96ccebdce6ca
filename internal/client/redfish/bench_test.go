package redfish

import (
	"context"
	"io"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// BenchmarkOpenBackup measures a backup download from the simulator (throughput and
// allocations: the body is streamed, so allocations do not grow with the size).
func BenchmarkOpenBackup(b *testing.B) {
	const size = 32 << 20
	ca := testkit.CA(b)
	srv, err := ilo.Start(ca, ilo.Config{Name: "bench", BackupSize: size})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := New(httpClient(b, ca.CertPEM), Config{Host: srv.Host, Port: srv.Port, Username: srv.ILO.Username(), Password: srv.ILO.Password()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	err = client.With(ctx, c.Session(), func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		b.SetBytes(size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			body, _, err := c.OpenBackup(ctx, svc.BackupFileLocation, "")
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, body)
			_ = body.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRestoreUpload measures the streamed multipart restore upload.
func BenchmarkRestoreUpload(b *testing.B) {
	const size = 32 << 20
	f := newFakeILO(b)
	rr := &restoreReceiver{}
	f.route("POST", "/cgi-bin/uploadRestoreFile", rr.handle)
	c := f.client(b)
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(&patternReader{left: size}), nil
		}, size, "bench.bak", "")
		if err != nil {
			b.Fatal(err)
		}
	}
}
