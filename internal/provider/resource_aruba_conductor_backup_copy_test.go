package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// The copy in the store of each kind of file a conductor pushes by SCP
// (scp.copy_to_store), with its extension.
var scpCopyKinds = map[string]struct{ kind, ext string }{
	"running-config-scp": {"running-config-flash", "cfg"},
	"flash-archive-scp":  {"flash-archive", "tar.gz"},
}

// scpCopiesInStore checks every file arubaRes recorded on the SCP server: its bytes there
// have the recorded size and SHA-256, and, when copies is set, the store holds a copy
// of it under its own key, whose bytes (read by read) have that same SHA-256 and
// size; when copies is not set, the only file in the store is the running config.
// It fails when it recorded no flash archive on the SCP server.
func (e *simEnv) scpCopiesInStore(copies bool, read func(f map[string]any) ([]byte, error)) checkFunc {
	const res = arubaRes
	return func(s *tfjson.State) error {
		files, err := stateFiles(s, res)
		if err != nil {
			return err
		}
		id, err := attrText(s, res, "id")
		if err != nil {
			return err
		}
		byKind := map[string]map[string]any{}
		var stored []string
		for _, f := range files {
			byKind[text(f["kind"])] = f
			if text(f["key"]) != "" {
				stored = append(stored, text(f["kind"]))
			}
		}
		if _, ok := byKind["flash-archive-scp"]; !ok {
			return fmt.Errorf("%s recorded no flash archive on the SCP server: %v", res, files)
		}
		for scpKind, c := range scpCopyKinds {
			remote, ok := byKind[scpKind]
			if !ok {
				continue
			}
			loc := text(remote["location"])
			_, rel, ok := strings.Cut(loc, "127.0.0.1/")
			if !ok {
				return fmt.Errorf("%s: the %s file is at %q, not on the SCP server", res, scpKind, loc)
			}
			onServer, err := os.ReadFile(filepath.Join(e.sftp.RootDir(), rel))
			if err != nil {
				return fmt.Errorf("%s is not on the SCP server: %v", loc, err)
			}
			if got := sha256Hex(onServer); got != text(remote["sha256"]) || fmt.Sprint(len(onServer)) != text(remote["size"]) {
				return fmt.Errorf("%s: %d bytes with SHA-256 %s on the SCP server, recorded %s bytes with %s", loc, len(onServer), got, text(remote["size"]), text(remote["sha256"]))
			}
			copied, ok := byKind[c.kind]
			if !copies {
				if ok {
					return fmt.Errorf("%s: with copy_to_store = false the store holds a %s copy: %v", res, c.kind, copied)
				}
				continue
			}
			if !ok {
				return fmt.Errorf("%s: the %s file on the SCP server has no %s copy in the store (files %v)", res, scpKind, c.kind, files)
			}
			wantKey := regexp.MustCompile(`^aruba/` + regexp.QuoteMeta(id) + `-` + c.kind + `\.` + regexp.QuoteMeta(c.ext) + `$`)
			if !wantKey.MatchString(text(copied["key"])) {
				return fmt.Errorf("%s: the %s copy has key %q, want %s", res, c.kind, text(copied["key"]), wantKey)
			}
			if text(copied["sha256"]) != text(remote["sha256"]) || text(copied["size"]) != text(remote["size"]) {
				return fmt.Errorf("%s: the %s copy records %s bytes with SHA-256 %s, the SCP server's file %s bytes with %s",
					res, c.kind, text(copied["size"]), text(copied["sha256"]), text(remote["size"]), text(remote["sha256"]))
			}
			data, err := read(copied)
			if err != nil {
				return fmt.Errorf("%s: read the %s copy: %w", res, c.kind, err)
			}
			if got := sha256Hex(data); got != text(remote["sha256"]) {
				return fmt.Errorf("%s: the %s copy in the store holds bytes with SHA-256 %s, the SCP server's file %s", res, c.kind, got, text(remote["sha256"]))
			}
		}
		if !copies && (len(stored) != 1 || stored[0] != "running-config") {
			return fmt.Errorf("%s: with copy_to_store = false the store holds %v, want only the running config", res, stored)
		}
		return nil
	}
}

// fromDisk reads a file of a local store by its recorded path.
func fromDisk(f map[string]any) ([]byte, error) {
	p := text(f["path"])
	if p == "" {
		return nil, fmt.Errorf("no local path recorded for %s", text(f["key"]))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		return nil, fmt.Errorf("%s: want a file of mode 0600 (%v)", p, err)
	}
	return os.ReadFile(p)
}

// fromBucket reads a file of b by its recorded key.
func fromBucket(b *s3Bucket) func(f map[string]any) ([]byte, error) {
	return func(f map[string]any) ([]byte, error) {
		data, _, err := b.read(context.Background(), text(f["key"]))
		return data, err
	}
}

// TestAccArubaBackup_scpCopiedIntoLocalStore: by default the flash archive and the
// saved running config the conductor pushed are copied into the local store from the
// SFTP read that verifies them, with the SHA-256 of the file on the SCP server;
// copy_to_store = false leaves only the running config in the store.
func TestAccArubaBackup_scpCopiedIntoLocalStore(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-copy", func(cfg *arubasim.Config) { cfg.FlashArchiveSize = 3 << 20 })
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(arubaBackup(c, e.scp())),
				ConfigStateChecks: append(stateChecks(
					e.scpCopiesInStore(true, fromDisk),
					fileOnDisk(arubaRes, func() []byte { return []byte(c.Conductor.RunningConfig()) }),
					deviceCheck(func() error { return noTarOnFlash(c, "a backup") }),
				),
					statecheck.ExpectKnownValue(arubaRes, at("scp.copy_to_store"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(5)),
				),
			},
			{
				Config: e.config(arubaBackup(c, set("trigger", "2"), e.scp(set("copy_to_store", false)))),
				ConfigStateChecks: append(stateChecks(e.scpCopiesInStore(false, fromDisk)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(3))),
			},
		},
	})
}

// TestAccS3_scpCopiedIntoBucket: the same into a bucket: the copies are objects whose
// bytes and server-side checksum are the SHA-256 of the files on the SCP server, the
// bucket holds nothing else; copy_to_store = false leaves only the running config.
func TestAccS3_scpCopiedIntoBucket(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	b := e.startS3(false)
	b.prefix = "site-b"
	c := e.addConductor("mc-copy-s3", func(cfg *arubasim.Config) { cfg.FlashArchiveSize = 10 << 20 }) // a multipart upload
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: hclConfig(e.s3Provider(b), arubaBackup(c, e.scp())),
				ConfigStateChecks: append(stateChecks(
					e.scpCopiesInStore(true, fromBucket(b)),
					e.inBucket(b, arubaRes),
					bucketHoldsExactly(t, b, arubaRes),
					e.noOpenSessions(),
				), statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(5))),
			},
			{
				Config: hclConfig(e.s3Provider(b), arubaBackup(c, set("trigger", "2"), e.scp(set("copy_to_store", false)))),
				ConfigStateChecks: append(stateChecks(
					e.scpCopiesInStore(false, fromBucket(b)),
					e.inBucket(b, arubaRes),
				), statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(3))),
			},
		},
	})
}

// TestAccS3_scpCopyFailsTheBackup: the bucket stops taking the flash archive's copy
// in the middle of it: the backup fails naming the step, the bucket and the key,
// and leaves nothing in the bucket (no record, no object, no open multipart
// upload); the conductor is logged out and its flash cleaned all the same.
func TestAccS3_scpCopyFailsTheBackup(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	b := e.startS3(false)
	c := e.addConductor("mc-copy-fails", func(cfg *arubasim.Config) { cfg.FlashArchiveSize = 20 << 20 })
	proxy := s3test.NewProxy(t, b.srv, e.ca)
	var mu sync.Mutex
	refused := 0
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Op == "UploadPart" && r.Query.Get("partNumber") == "2" && strings.Contains(r.Path, "-flash-archive.") {
			mu.Lock()
			defer mu.Unlock()
			refused++
			return s3test.Reset
		}
		return s3test.Pass
	})
	provider := e.provider(unset("backup_dir"), b.store(set("endpoint", proxy.URL)))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(provider, arubaBackup(c, e.scp())),
			ExpectError: errorRE(`Backup of conductor .*copy conductors/mc-copy-fails_\S+-flash\.tar\.gz into the backup store failed.*` +
				`s3://` + b.name + `/aruba/mc-copy-fails/\S+-flash-archive\.tar\.gz`),
		}},
	})
	mu.Lock()
	defer mu.Unlock()
	if refused == 0 {
		t.Fatal("the proxy never refused the archive's copy: the test did not test what it should")
	}
	if keys := visibleKeys(t, b); len(keys) != 0 {
		t.Errorf("a failed backup left objects in the bucket: %v", keys)
	}
	if open := b.srv.OpenUploads(t, b.name); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
	if err := noTarOnFlash(c, "a failed backup"); err != nil {
		t.Error(err)
	}
}

// visibleKeys lists what a failed run must not leave in b: every key but failure
// records (<id>.failed.json), which say that a run failed and are meant to stay.
func visibleKeys(t *testing.T, b *s3Bucket) []string {
	t.Helper()
	var out []string
	for _, k := range b.keys(t) {
		if !strings.HasSuffix(k, ".failed.json") {
			out = append(out, k)
		}
	}
	return out
}

// TestAccArubaBackup_copyToStoreNeedsVerify: copy_to_store = true with verify = false
// is a plan-time error; verify = false alone turns the copy off.
func TestAccArubaBackup_copyToStoreNeedsVerify(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-copy-noverify", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(arubaBackup(c, e.scp(set("verify", false), set("copy_to_store", true)))),
				PlanOnly:    true,
				ExpectError: errorRE(`copy_to_store needs verify.*verify = false turns that read off`),
			},
			{
				Config: e.config(arubaBackup(c, e.scp(set("verify", false), unset("remote_dir")))), // nothing creates remote_dir without verify
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(arubaRes, at("scp.copy_to_store"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(arubaRes, at("files"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue(arubaRes, at("files.2.sha256"), knownvalue.StringExact("")),
				},
			},
		},
	})
	if n := c.Conductor.Stats.Snapshot().TotalCalls(); n == 0 {
		t.Error("the second step made no backup")
	}
}

// TestArubaBackupCopyToStorePlans: copy_to_store follows verify when it is not set,
// and a state written before copy_to_store existed (null there) plans no new backup.
func TestArubaBackupCopyToStorePlans(t *testing.T) {
	t.Parallel()
	const res = "infrabackup_aruba_conductor_backup"
	p := newProtocolProvider(t)
	typ := p.resourceType(res)
	scp := func(extra map[string]any) map[string]any {
		s := map[string]any{"host": "127.0.0.1", "username": "mcbackup", "host_key_fingerprint": "SHA256:" + strings.Repeat("A", 43)}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	plan := func(prior, proposed, config tftypes.Value) (*tfprotov6.PlanResourceChangeResponse, tftypes.Value) {
		t.Helper()
		resp, err := p.srv.PlanResourceChange(t.Context(), &tfprotov6.PlanResourceChangeRequest{TypeName: res,
			PriorState: p.dynamic(typ, prior), ProposedNewState: p.dynamic(typ, proposed), Config: p.dynamic(typ, config)})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityError {
				t.Fatalf("plan: %s: %s", d.Summary, d.Detail)
			}
		}
		planned, err := resp.PlannedState.Unmarshal(typ)
		if err != nil {
			t.Fatal(err)
		}
		var attrs map[string]tftypes.Value
		if err := planned.As(&attrs); err != nil {
			t.Fatal(err)
		}
		var scpAttrs map[string]tftypes.Value
		if err := attrs["scp"].As(&scpAttrs); err != nil {
			t.Fatal(err)
		}
		return resp, scpAttrs["copy_to_store"]
	}
	null := tftypes.NewValue(typ, nil)
	for _, tc := range []struct {
		verify any
		want   bool
	}{{nil, true}, {true, true}, {false, false}} {
		config := p.object(typ, map[string]any{"host": "mc1.example.net", "trigger": "1", "scp": scp(map[string]any{"password_wo": "pw", "verify": tc.verify})})
		proposed := p.object(typ, map[string]any{"host": "mc1.example.net", "trigger": "1", "scp": scp(map[string]any{"verify": tc.verify})})
		if _, got := plan(null, proposed, config); !got.Equal(tftypes.NewValue(tftypes.Bool, tc.want)) {
			t.Errorf("verify = %v: copy_to_store planned %v, want %t", tc.verify, got, tc.want)
		}
	}

	// An older state: its scp object has no copy_to_store (null).
	recorded := scp(map[string]any{"port": 22, "remote_dir": "", "verify": true, "insecure_ignore_host_key": false, "password_wo_version": 1})
	state := p.object(typ, map[string]any{
		"host": "mc1.example.net", "trigger": "1", "id": "mc1/20260101T000000.000Z", "name": "mc1",
		"config_path": "/md", "flash_backup": true, "scp": recorded,
	})
	config := p.object(typ, map[string]any{"host": "mc1.example.net", "trigger": "1", "scp": scp(map[string]any{"password_wo": "pw", "password_wo_version": 1})})
	if resp, _ := plan(state, state, config); len(resp.RequiresReplace) != 0 {
		t.Errorf("a state written before copy_to_store existed plans a new backup (replace because of %v)", resp.RequiresReplace)
	}
	// Also when the password version changes, which is an in-place update.
	config = p.object(typ, map[string]any{"host": "mc1.example.net", "trigger": "1", "scp": scp(map[string]any{"password_wo": "pw", "password_wo_version": 2})})
	recorded2 := scp(map[string]any{"port": 22, "remote_dir": "", "verify": true, "insecure_ignore_host_key": false, "password_wo_version": 2})
	proposed := p.object(typ, map[string]any{
		"host": "mc1.example.net", "trigger": "1", "id": "mc1/20260101T000000.000Z", "name": "mc1",
		"config_path": "/md", "flash_backup": true, "scp": recorded2,
	})
	if resp, _ := plan(state, proposed, config); len(resp.RequiresReplace) != 0 {
		t.Errorf("a new password version on a state written before copy_to_store existed plans a new backup (replace because of %v)", resp.RequiresReplace)
	}
}
