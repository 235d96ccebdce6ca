package apstra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	sim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/apstra"
)

func threeBlueprints() []sim.BlueprintConfig {
	return []sim.BlueprintConfig{
		{Label: "dc-east", ManagedSystems: 5, UnmanagedSystems: 2, StagingOnlySystems: 1, Nodes: 3000, Relationships: 5000},
		{Label: "dc-west", ManagedSystems: 3, UnmanagedSystems: 1, Nodes: 500},
		{Label: "lab", Design: "freeform", ManagedSystems: 2, Nodes: 50},
	}
}

// A whole export of three blueprints, as a backup makes it, with one login and one
// logout: the graphs arrive byte for byte and scan to the server's counts, every
// deployed managed system's configuration arrives, and the nodes without one are
// told apart (not managed, not deployed).
func TestExportOneLoginOneLogout(t *testing.T) {
	f := startSim(t, sim.Config{Blueprints: threeBlueprints()})
	var logs bytes.Buffer
	ctx := tflog.NewSubsystem(tflogtest.RootLogger(context.Background(), &logs), client.Subsystem)
	err := client.With(ctx, f.c.Session(), func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		infos := f.a.Blueprints()
		if len(bps) != 3 {
			t.Fatalf("%d blueprints", len(bps))
		}
		for i, bp := range bps {
			info := infos[i]
			if bp.ID != info.ID || bp.Label != info.Label || bp.Version != info.Version || bp.Design != info.Design {
				t.Fatalf("blueprint %+v, server %+v", bp, info)
			}
			body, err := f.c.OpenBlueprint(ctx, bp.ID)
			if err != nil {
				return err
			}
			h := sha256.New()
			g, err := ScanGraph(io.TeeReader(body, h))
			body.Close()
			if err != nil {
				return err
			}
			want := sha256.New()
			_ = f.a.WriteBlueprint(bp.ID, want)
			if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
				t.Fatalf("%s: the graph differs from the server's", bp.Label)
			}
			if g.ID != bp.ID || g.Label != bp.Label || g.Version != info.Version || g.Nodes != info.Nodes || g.Relationships != info.Relationships {
				t.Fatalf("scan %+v, server %+v", g, info)
			}
			nodes, err := f.c.SystemNodes(ctx, bp.ID)
			if err != nil {
				return err
			}
			if !slices.EqualFunc(nodes, g.Systems, func(a, b SystemNode) bool { return a == b }) {
				t.Fatalf("node listing %v, graph %v", nodes, g.Systems)
			}
			var managed, unmanaged, notDeployed []string
			for _, n := range nodes {
				cfg, err := readDeployedConfig(ctx, f.c, bp.ID, n.ID)
				switch {
				case err == nil:
					if want, ok := f.a.DeployedConfig(bp.ID, n.ID); !ok || cfg != want || !n.Managed() {
						t.Fatalf("config of %s differs", n.Label)
					}
					managed = append(managed, n.ID)
				case errors.Is(err, ErrNotManaged):
					unmanaged = append(unmanaged, n.ID)
				case errors.Is(err, ErrNotDeployed):
					if !n.Managed() || !strings.Contains(err.Error(), `"`+bp.Label+`"`) {
						t.Fatalf("%s: %v", n.Label, err)
					}
					notDeployed = append(notDeployed, n.ID)
				default:
					return err
				}
			}
			for _, s := range [][]string{managed, unmanaged, notDeployed, info.Managed, info.Unmanaged, info.StagingOnly} {
				sort.Strings(s)
			}
			if !slices.Equal(managed, info.Managed) || !slices.Equal(unmanaged, info.Unmanaged) || !slices.Equal(notDeployed, info.StagingOnly) {
				t.Fatalf("%s: managed %v unmanaged %v staging-only %v; server %+v", bp.Label, managed, unmanaged, notDeployed, info)
			}
			ds, err := f.c.DeployState(ctx, bp.ID)
			if err != nil || ds.State != "success" || ds.Version == 0 || !json.Valid(ds.Raw) {
				t.Fatalf("deploy state %+v %v", ds, err)
			}
			revs, err := f.c.Revisions(ctx, bp.ID)
			if err != nil || len(revs.Items) == 0 || revs.Items[0].ID == "" || !json.Valid(revs.Raw) {
				t.Fatalf("revisions %+v %v", revs, err)
			}
			cts, err := f.c.OpenConnectivityTemplates(ctx, bp.ID)
			if err != nil {
				return err
			}
			var ct struct{ Policies []json.RawMessage }
			err = json.NewDecoder(cts).Decode(&ct)
			cts.Close()
			if err != nil || len(ct.Policies) == 0 {
				t.Fatalf("connectivity templates: %v", err)
			}
		}
		for _, col := range append(slices.Clone(DesignCatalog), ResourcePools...) {
			body, err := f.c.OpenCollection(ctx, col)
			if err != nil {
				return err
			}
			var doc struct{ Items []json.RawMessage }
			err = json.NewDecoder(body).Decode(&doc)
			body.Close()
			if err != nil || len(doc.Items) == 0 {
				t.Fatalf("%s: %v", col.Name, err)
			}
		}
		v, err := f.c.Version(ctx)
		if err != nil || v.Version != sim.DefaultVersion {
			t.Fatalf("version %+v %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := f.a.Stats.Snapshot()
	if st.Logins != 1 || st.Logouts != 1 || st.OpenSessions != 0 || st.FailedLogins != 0 {
		t.Fatalf("logins=%d logouts=%d open=%d failed=%d, want 1 1 0 0", st.Logins, st.Logouts, st.OpenSessions, st.FailedLogins)
	}
	if st.Calls[sim.EndpointBlueprint] != 3 || st.Calls[sim.EndpointLoginAAA] != 1 || st.Calls[sim.EndpointLogoutAAA] != 1 {
		t.Fatalf("calls %v", st.Calls)
	}
	noSecrets(t, logs.String(), secretsOf(f.a))
}

// A token that expires in the middle of an export is replaced by one new login; the
// call is repeated and the export completes, with no session left open.
func TestTokenExpiryMidExportLogsInOnce(t *testing.T) {
	f := startSim(t, sim.Config{TokenLifetime: time.Hour, Blueprints: threeBlueprints()[:1]})
	var before, after Token
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		before, _ = f.c.Token()
		f.clock.Advance(time.Hour) // the token's exp passes
		body, err := f.c.OpenBlueprint(ctx, bps[0].ID)
		if err != nil {
			return err
		}
		defer body.Close()
		g, err := ScanGraph(body)
		if err != nil || g.Nodes != 3000 {
			t.Fatalf("scan %d nodes, %v", g.Nodes, err)
		}
		after, _ = f.c.Token()
		_, err = f.c.DeployState(ctx, bps[0].ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.Value == "" || after.Value == before.Value || !after.Expires.Equal(epoch.Add(2*time.Hour)) || !before.Expires.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("token before %v, after %v", before.Expires, after.Expires)
	}
	st := f.a.Stats.Snapshot()
	if st.Logins != 2 || st.Logouts != 1 || st.ExpiredSessions != 1 || st.OpenSessions != 0 || st.Calls[sim.EndpointBlueprint] != 2 {
		t.Fatalf("logins=%d logouts=%d expired=%d open=%d blueprint GETs=%d, want 2 1 1 0 2", st.Logins, st.Logouts, st.ExpiredSessions, st.OpenSessions, st.Calls[sim.EndpointBlueprint])
	}
}

// Calls running in parallel share the session; when it expires under them, one new
// login replaces it for all.
func TestParallelCallsShareOneRelogin(t *testing.T) {
	f := startSim(t, sim.Config{Blueprints: []sim.BlueprintConfig{{ManagedSystems: 12}}})
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		nodes, err := f.c.SystemNodes(ctx, bps[0].ID)
		if err != nil {
			return err
		}
		f.a.ExpireNextCalls(1)
		var wg sync.WaitGroup
		errs := make(chan error, len(nodes))
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := readDeployedConfig(ctx, f.c, bps[0].ID, n.ID); err != nil && !errors.Is(err, ErrNotManaged) {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.a.Stats.Snapshot(); st.Logins != 2 || st.OpenSessions != 0 {
		t.Fatalf("logins=%d open=%d, want 2 0", st.Logins, st.OpenSessions)
	}
}

// A refused password is sent once: the error says so and what to check, no client
// of this process sends it again (five refusals would ban the address), and the
// address is not banned.
func TestRefusedPasswordOneAttemptNoBan(t *testing.T) {
	f := startSim(t, sim.Config{Password: "the-right-one"})
	wrong := clientFor(t, f.srv.Host, f.srv.Port, simPass)
	err := run(wrong, func(ctx context.Context) error { _, err := wrong.Blueprints(ctx); return err })
	de := deviceError(t, err)
	if !errors.Is(err, ErrBadCredentials) || de.HTTPStatus != http.StatusUnauthorized || de.Step != "log in" ||
		!strings.Contains(de.Hint, "APSTRA_PASS") || !strings.Contains(err.Error(), "Invalid credentials") {
		t.Fatalf("error %v (HTTP %d, step %q, hint %q)", err, de.HTTPStatus, de.Step, de.Hint)
	}
	noSecrets(t, err.Error(), secretsOf(f.a))
	// The same credentials again, from this client and from new ones, in parallel.
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again := clientFor(t, f.srv.Host, f.srv.Port, simPass)
			if err := run(again, func(ctx context.Context) error { _, err := again.Blueprints(ctx); return err }); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("second attempt: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := run(wrong, func(ctx context.Context) error { return nil }); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("same client again: %v", err)
	}
	st := f.a.Stats.Snapshot()
	if st.FailedLogins != 1 || st.Calls[sim.EndpointLoginAAA]+st.Calls[sim.EndpointLoginUser] != 1 || f.a.Banned("127.0.0.1") {
		t.Fatalf("failed logins %d, login calls %v, banned %v; want exactly one attempt and no ban", st.FailedLogins, st.Calls, f.a.Banned("127.0.0.1"))
	}
	// The right password still logs in.
	right := clientFor(t, f.srv.Host, f.srv.Port, "the-right-one")
	if err := run(right, func(ctx context.Context) error { _, err := right.Blueprints(ctx); return err }); err != nil {
		t.Fatal(err)
	}
}

// A 429 with a short Retry-After is waited for, on calls and on the login, and the
// work completes; a ban (Retry-After of minutes) fails at once with advice.
func TestTooManyRequests(t *testing.T) {
	f := startSim(t, sim.Config{})
	f.a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultTooManyRequests, PathPrefix: "/api/aaa/login", Times: 1, RetryAfter: time.Second})
	f.a.Faults.Add(devicesim.Fault{Kind: devicesim.FaultTooManyRequests, PathPrefix: "/api/blueprints", Times: 1, RetryAfter: time.Second})
	start := time.Now()
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err == nil && len(bps) != 1 {
			t.Fatalf("%d blueprints", len(bps))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The configured backoff is 1-5 ms: only honouring Retry-After takes 2 s.
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Fatalf("done after %s; the server asked twice for Retry-After: 1", d)
	}
	st := f.a.Stats.Snapshot()
	// (Answers of injected faults never reach the simulator's counters.)
	if st.Calls[sim.EndpointLoginAAA] != 1 || st.Calls[sim.EndpointBlueprints] != 1 || st.Logins != 1 || st.Logouts != 1 {
		t.Fatalf("calls %v logins %d logouts %d", st.Calls, st.Logins, st.Logouts)
	}

	// Banned by someone else's five refused logins from this address.
	bad, _ := json.Marshal(map[string]string{"username": simUser, "password": "wrong"})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: testkit.CA(t).ClientTLSConfig()}}
	for range 5 {
		resp, err := hc.Post(f.srv.URL+"/api/aaa/login", "application/json", bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	start = time.Now()
	c := clientFor(t, f.srv.Host, f.srv.Port, simPass)
	err = run(c, func(ctx context.Context) error { return nil })
	de := deviceError(t, err)
	if !errors.Is(err, ErrThrottled) || de.HTTPStatus != http.StatusTooManyRequests || !strings.Contains(de.Hint, "3m0s") ||
		!strings.Contains(de.Hint, "Banned List") || time.Since(start) > 10*time.Second {
		t.Fatalf("banned: %v (hint %q) after %s", err, de.Hint, time.Since(start))
	}
}

// A reset in the middle of a blueprint download fails the stream's Read with an error
// naming the server, the step and the blueprint; the next download is whole.
func TestResetMidBlueprintNamesServerStepBlueprint(t *testing.T) {
	f := startSim(t, sim.Config{Blueprints: threeBlueprints()[:1]})
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		f.a.CutNextDownload(bps[0].ID, 200<<10)
		body, err := f.c.OpenBlueprint(ctx, bps[0].ID)
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.Copy(io.Discard, body)
		return err
	})
	de := deviceError(t, err)
	info := f.a.Blueprints()[0]
	for _, want := range []string{f.c.Device(), `download the graph of blueprint "dc-east"`, info.ID, "after 204800 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
	if de.Device != f.c.Device() || !strings.HasPrefix(f.c.Device(), "apstra 127.0.0.1:") {
		t.Fatalf("device %q", de.Device)
	}
	noSecrets(t, err.Error(), secretsOf(f.a))
	if st := f.a.Stats.Snapshot(); st.Logins != 1 || st.Logouts != 1 {
		t.Fatalf("logins=%d logouts=%d", st.Logins, st.Logouts)
	}
}

// A body without a length (the connection closes at its end) that is cut looks like a
// clean end to HTTP: the JSON check catches it.
func TestCloseDelimitedCutIsCaught(t *testing.T) {
	f := startIntercepted(t, sim.Config{}, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if !strings.HasSuffix(r.URL.Path, "/obj-policy-export") {
			return false
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"policies\":[{\"id\":\"a\"},{\"id\":\"b\"")
		_ = buf.Flush()
		_ = conn.Close()
		return true
	})
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		body, err := f.c.OpenConnectivityTemplates(ctx, bps[0].ID)
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.ReadAll(body)
		return err
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "export the connectivity templates of blueprint \"dc-1\"") ||
		!strings.Contains(err.Error(), "cut short") {
		t.Fatalf("error %v", err)
	}
}

// Servers with only /api/user/login are logged in to after the 404 of the documented
// path, and out on /api/user/logout; the client remembers which path works.
func TestLegacyLoginFallback(t *testing.T) {
	f := startSim(t, sim.Config{LegacyLogin: true, TokenLifetime: time.Hour})
	err := run(f.c, func(ctx context.Context) error {
		if _, err := f.c.Blueprints(ctx); err != nil {
			return err
		}
		f.clock.Advance(time.Hour)
		_, err := f.c.Blueprints(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st := f.a.Stats.Snapshot()
	// Two logouts: the expired session's (401, already gone) and the last one's.
	if st.Calls[sim.EndpointLoginAAA] != 1 || st.Calls[sim.EndpointLoginUser] != 2 || st.Calls[sim.EndpointLogoutUser] != 2 ||
		st.Calls[sim.EndpointLogoutAAA] != 0 || st.Logins != 2 || st.Logouts != 1 {
		t.Fatalf("calls %v logins %d logouts %d", st.Calls, st.Logins, st.Logouts)
	}
}

// A logout answered 401 (the session already ended) is no failure.
func TestLogoutOfAnEndedSessionIsNoFailure(t *testing.T) {
	f := startSim(t, sim.Config{})
	err := run(f.c, func(ctx context.Context) error {
		if _, err := f.c.Blueprints(ctx); err != nil {
			return err
		}
		f.a.ExpireAllSessions()
		return nil
	})
	if err != nil {
		t.Fatalf("logout of an ended session: %v", err)
	}
	if st := f.a.Stats.Snapshot(); st.Calls[sim.EndpointLogoutAAA] != 1 || st.Logouts != 0 {
		t.Fatalf("calls %v", st.Calls)
	}
	if _, ok := f.c.Token(); ok {
		t.Fatal("a token after the session closed")
	}
}

// Token hands out the open session's token and expiry for direct API access; the
// token works against the API by itself.
func TestTokenForDirectAPIAccess(t *testing.T) {
	f := startSim(t, sim.Config{})
	err := run(f.c, func(ctx context.Context) error {
		tok, ok := f.c.Token()
		if !ok || !tok.Expires.Equal(epoch.Add(sim.DefaultTokenLifetime)) || !slices.Contains(f.a.IssuedTokens(), tok.Value) {
			t.Fatalf("token %v %v", ok, tok.Expires)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.c.BaseURL()+"/api/design/templates", nil)
		req.Header.Set("AuthToken", tok.Value)
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: testkit.CA(t).ClientTLSConfig()}}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("direct call: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Blueprint and node ids from the server go into URLs only when they are plain
// identifiers; errors for missing ones say so.
func TestIdentifiersAndMissingBlueprint(t *testing.T) {
	f := startSim(t, sim.Config{})
	err := run(f.c, func(ctx context.Context) error {
		for _, id := range []string{"", "..", "a/b", "x?y", "sp ace", "ctl\x01", "\xff", strings.Repeat("a", 300), simPass} {
			if _, err := f.c.OpenBlueprint(ctx, id); err == nil || !strings.Contains(err.Error(), "blueprint id") {
				t.Errorf("id %q: %v", id, err)
			} else {
				noSecrets(t, err.Error(), []string{simPass})
			}
		}
		_, err := f.c.DeployState(ctx, "no-such-blueprint")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Blueprint no-such-blueprint of type staging not found") {
			t.Errorf("missing blueprint: %v", err)
		}
		_, err = readDeployedConfig(ctx, f.c, "no-such-blueprint", "n1")
		if errors.Is(err, ErrNotDeployed) || !errors.Is(err, ErrNotFound) {
			t.Errorf("config in a missing blueprint: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.a.Stats.Snapshot(); st.Calls[sim.EndpointBlueprint] != 0 {
		t.Fatalf("a refused id reached the server: %v", st.Calls)
	}
}

// A 50 MB graph goes through OpenBlueprint and ScanGraph (teed into a hash, as a
// backup tees it into the store) while the heap of this process — client and
// simulator together — grows by a small fraction of it.
func TestLargeGraphStreamsThroughTheClientInBoundedMemory(t *testing.T) {
	const growthLimit = 24 << 20
	f := startSim(t, sim.Config{Blueprints: []sim.BlueprintConfig{{ManagedSystems: 300, UnmanagedSystems: 50, Nodes: 125_000, Relationships: 150_000}}})
	err := run(f.c, func(ctx context.Context) error {
		bps, err := f.c.Blueprints(ctx)
		if err != nil {
			return err
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop := testkit.WatchHeap()
		body, err := f.c.OpenBlueprint(ctx, bps[0].ID)
		if err != nil {
			return err
		}
		h := sha256.New()
		counted := &byteCounter{w: h}
		g, err := ScanGraph(io.TeeReader(body, counted))
		body.Close()
		peak := stop()
		if err != nil || g.Nodes != 125_000 || g.Relationships != 150_000 || len(g.Systems) != 350 || counted.n < 50_000_000 {
			t.Fatalf("scan: %d nodes, %d relationships, %d systems, %d bytes, %v", g.Nodes, g.Relationships, len(g.Systems), counted.n, err)
		}
		growth := int64(peak) - int64(base)
		t.Logf("%d MB graph; heap grew by %d KiB at most", counted.n/1_000_000, growth>>10)
		if growth > growthLimit {
			t.Fatalf("heap grew by %d MiB while streaming a %d MB graph", growth>>20, counted.n/1_000_000)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type byteCounter struct {
	w io.Writer
	n int64
}

func (b *byteCounter) Write(p []byte) (int, error) { b.n += int64(len(p)); return b.w.Write(p) }
