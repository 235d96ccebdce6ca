package redfish

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

// The least calls each operation needs: anything informational (a version, a count)
// is left out, or read where it cannot fail the operation.

// simCalls returns the calls the simulated iLO saw, "METHOD /path ×n", sorted.
func simCalls(srv *ilo.Server) []string {
	var out []string
	for e, n := range srv.ILO.Stats.Snapshot().Calls {
		out = append(out, fmt.Sprintf("%s ×%d", e, n))
	}
	sort.Strings(out)
	return out
}

func wantSimCalls(t *testing.T, srv *ilo.Server, want ...string) {
	t.Helper()
	n := map[string]int{}
	for _, e := range want {
		n[e]++
	}
	var exp []string
	for e, k := range n {
		exp = append(exp, fmt.Sprintf("%s ×%d", e, k))
	}
	sort.Strings(exp)
	if got := simCalls(srv); strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Fatalf("the iLO saw:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
	}
}

func inSession(t *testing.T, c *Client, fn func(ctx context.Context) error) {
	t.Helper()
	if err := client.With(testCtx(t), c.Session(), fn); err != nil {
		t.Fatal(err)
	}
}

// Discover reads the manager and the system, not the service root: the manager
// names the generation and firmware too.
func TestDiscoverCalls(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "calls-discover", Generation: ilo.ILO5})
	inSession(t, c, func(ctx context.Context) error {
		m, err := c.Discover(ctx)
		if err == nil && (m.Generation != "iLO 5" || m.Firmware != srv.ILO.Firmware()) {
			t.Fatalf("Discover = %+v", m)
		}
		return err
	})
	wantSimCalls(t, srv, ilo.EndpointLogin, ilo.EndpointManager, ilo.EndpointSystem, ilo.EndpointLogout)
}

// The flag resource reads the flag with one read of the service (after the manager,
// for the service's link), and sets it with one PATCH more.
func TestFlagCalls(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		srv, c := startSim(t, ilo.Config{Name: "calls-flag-read"})
		inSession(t, c, func(ctx context.Context) error {
			svc, err := c.ReadBackupService(ctx)
			if err == nil && (svc.CustomBackupAndRestore == nil || *svc.CustomBackupAndRestore) {
				t.Fatalf("service %+v", svc)
			}
			return err
		})
		wantSimCalls(t, srv, ilo.EndpointLogin, ilo.EndpointManager, ilo.EndpointServiceGet, ilo.EndpointLogout)
	})
	t.Run("set", func(t *testing.T) {
		srv, c := startSim(t, ilo.Config{Name: "calls-flag-set"})
		inSession(t, c, func(ctx context.Context) error { return c.SetCustomBackupAndRestore(ctx, true) })
		wantSimCalls(t, srv, ilo.EndpointLogin, ilo.EndpointManager, ilo.EndpointServiceGet, ilo.EndpointServicePatch, ilo.EndpointLogout)
		if !srv.ILO.CustomBackupAndRestore() {
			t.Fatal("the flag was not set")
		}
	})
	t.Run("read with BackupFiles unserved", func(t *testing.T) {
		srv, c := startSim(t, ilo.Config{Name: "calls-flag-nofiles", BackupFilesMissing: true})
		inSession(t, c, func(ctx context.Context) error {
			_, err := c.ReadBackupService(ctx)
			return err
		})
		wantSimCalls(t, srv, ilo.EndpointLogin, ilo.EndpointManager, ilo.EndpointServiceGet, ilo.EndpointLogout)
	})
}

// CountBackupFiles is the data source's one optional read: the caller gets the
// count or an error, and the service it read before stays valid either way.
func TestCountBackupFiles(t *testing.T) {
	srv, c := startSim(t, ilo.Config{Name: "calls-count"})
	inSession(t, c, func(ctx context.Context) error {
		svc, err := c.ReadBackupService(ctx)
		if err != nil {
			return err
		}
		n, err := c.CountBackupFiles(ctx, svc)
		if err != nil || n != 1 {
			t.Fatalf("CountBackupFiles = %d, %v; want 1", n, err)
		}
		srv.ILO.SetBackupFilesMissing(true)
		n, err = c.CountBackupFiles(ctx, svc)
		if err == nil || !strings.Contains(err.Error(), "404") || n != -1 {
			t.Fatalf("CountBackupFiles of an unserved collection = %d, %v", n, err)
		}
		if n, err := c.CountBackupFiles(ctx, BackupService{}); n != -1 || err != nil {
			t.Fatalf("no link: %d, %v; want -1 and no error", n, err)
		}
		return nil
	})
	wantSimCalls(t, srv, ilo.EndpointLogin, ilo.EndpointManager, ilo.EndpointServiceGet, ilo.EndpointBackupFiles, ilo.EndpointBackupFiles, ilo.EndpointLogout)
}

// A BackupFiles link to another host is refused by the count, never followed, and
// does not spoil the read of the service.
func TestCountBackupFilesUnsafeLink(t *testing.T) {
	f := newFakeILO(t)
	f.serviceHandlers(`W/"1"`, nil)
	f.route("GET", "/redfish/v1/Managers/1/BackupRestoreService", func(w http.ResponseWriter, _ *http.Request) {
		writeFakeJSON(w, 200, `{"BackupFileLocation":"/bkupdata/x.bak","HttpPushUri":"/cgi-bin/uploadRestoreFile","BackupFiles":{"@odata.id":"https://evil.example/files"}}`)
	})
	c := f.client(t)
	ctx := testCtx(t)
	defer func() { _ = c.Session().Close(ctx) }()
	svc, err := c.ReadBackupService(ctx)
	if err != nil || svc.HttpPushUri != "/cgi-bin/uploadRestoreFile" {
		t.Fatalf("ReadBackupService = %+v, %v", svc, err)
	}
	n, err := c.CountBackupFiles(ctx, svc)
	if de := deviceErr(t, err); n != -1 || de.Step != "count backup files" || !strings.Contains(err.Error(), "unsafe path") {
		t.Fatalf("CountBackupFiles = %d, %v", n, err)
	}
}

func TestGenerationAndFirmware(t *testing.T) {
	for _, tc := range []struct{ model, fw, wantGen, wantFW string }{
		{"iLO 6", "iLO 6 v1.70", "iLO 6", "1.70"},
		{"iLO 5", "iLO 5 v2.72", "iLO 5", "2.72"},
		{"", "iLO 7 v1.14", "iLO 7", "1.14"},             // no Model: the version names the generation
		{"iLO 6", "iLO 5 v3.09", "iLO 6", "iLO 5 v3.09"}, // disagreeing: kept as sent
		{" iLO 6 ", "1.70 ", "iLO 6", "1.70"},            // another form: kept whole
		{"", "", "", ""},
	} {
		if g, f := generationAndFirmware(tc.model, tc.fw); g != tc.wantGen || f != tc.wantFW {
			t.Errorf("generationAndFirmware(%q, %q) = %q, %q; want %q, %q", tc.model, tc.fw, g, f, tc.wantGen, tc.wantFW)
		}
	}
}
