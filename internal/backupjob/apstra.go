package backupjob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/apstra"
)

// An Apstra backup is one run in the store holding, per blueprint, its graph, deploy
// state, revisions, connectivity templates and every managed system's deployed
// configuration, then the design catalog and the resource pools, and with a
// snapshot, Apstra's own aos.data.tar.gz. Device text (ids, labels) never names a
// file: file kinds are built from ids that are checked, or replaced by a digest of
// them (idToken), so that one blueprint's files keep their names from one backup to
// the next.

// File kinds of an Apstra backup; the per-blueprint ones are prefixed by the
// blueprint's token (ApstraBlueprint.Token): bp-<token>-graph, bp-<token>-cfg-<node>,
// and the diff of a configuration against the previous backup's,
// bp-<token>-cfg-<node>-diff (DiffKind).
const (
	KindApstraSnapshot = "aos-snapshot"
	apstraGraph        = "graph"
	apstraDeploy       = "deploy"
	apstraRevisions    = "revisions"
	apstraCT           = "ct"
	apstraConfigPrefix = "cfg-"
)

// AttrApstraBlueprints is the record attribute holding the blueprints (JSON of
// []ApstraBlueprint).
const AttrApstraBlueprints = "blueprints"

// apstraParallel bounds the calls in flight within one backup: the server answers
// them in parallel, and one session carries them all.
const apstraParallel = 8

// ApstraRequest is one backup of an Apstra server.
type ApstraRequest struct {
	Client *apstra.Client
	Target
	// Name is the server's folder in the store; "" means the host, made safe.
	Name string
	// Blueprints selects blueprints by label or id; empty means all of them.
	Blueprints []string
	// Snapshot, when set, runs aos_backup over SSH and stores its tarball too.
	Snapshot *ApstraSnapshot
	// IgnoreLines: lines of the deployed configurations that take no part in the
	// comparison with the previous backup (see ArubaRequest.IgnoreLines).
	IgnoreLines []*regexp.Regexp
}

// ApstraDevice is a managed system whose deployed configuration was stored.
type ApstraDevice struct {
	NodeID   string `json:"node_id"`
	Label    string `json:"label,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	SystemID string `json:"system_id,omitempty"`
	Kind     string `json:"kind"` // the file's kind in the backup
	// Changed: its configuration differs from the previous backup's in a line
	// IgnoreLines does not match (or the previous backup had none).
	Changed bool `json:"-"`
	// Diff compares it with the previous backup's; its diff, DiffKind(Kind), is one
	// of the backup's files.
	Diff TextDiff `json:"-"`
}

// ApstraSkipped is a system node without a deployed configuration, and why.
type ApstraSkipped struct {
	NodeID string `json:"node_id"`
	Label  string `json:"label,omitempty"`
	Reason string `json:"reason"`
}

// ApstraBlueprint is what a backup recorded of one blueprint. Strings but Token and
// Kind are device text (scrubbed of secrets): show them, never build paths from them.
type ApstraBlueprint struct {
	ID            string          `json:"id"`
	Label         string          `json:"label"`
	Design        string          `json:"design,omitempty"`
	Version       int             `json:"version"`
	DeployState   string          `json:"deploy_state,omitempty"`
	Nodes         int             `json:"nodes"`
	Relationships int             `json:"relationships"`
	Token         string          `json:"token"`
	Deployed      []ApstraDevice  `json:"deployed"`
	Skipped       []ApstraSkipped `json:"skipped"`
	// Changed: its version differs from the previous backup's (or it was not in it).
	Changed bool `json:"-"`
}

// Kind is the kind of one of the blueprint's files (graph, deploy, revisions, ct).
func (b ApstraBlueprint) Kind(part string) string { return "bp-" + b.Token + "-" + part }

// GraphKind is the kind of the blueprint's graph file.
func (b ApstraBlueprint) GraphKind() string { return b.Kind(apstraGraph) }

// ApstraBlueprints reads the blueprints a backup recorded.
func ApstraBlueprints(b backupstore.Backup) ([]ApstraBlueprint, error) {
	raw, ok := b.Attributes[AttrApstraBlueprints]
	if !ok {
		return nil, fmt.Errorf("backup %s/%s records no blueprints", b.Device, b.ID)
	}
	var bps []ApstraBlueprint
	if err := json.Unmarshal([]byte(raw), &bps); err != nil {
		return nil, fmt.Errorf("backup %s/%s: its blueprints cannot be read: %w", b.Device, b.ID, err)
	}
	return bps, nil
}

// ApstraResult is what a finished backup produced.
type ApstraResult struct {
	Backup     backupstore.Backup
	Blueprints []ApstraBlueprint
	// SkippedCollections are catalog or pool collections this server's release
	// does not have (404).
	SkippedCollections []string
	// LogoutFailed: see ArubaResult.
	LogoutFailed error
}

// idToken turns an id the server chose into a short, safe part of a file kind: the
// id itself when it is short and a valid name, else "h" and 11 hex digits of its
// SHA-256 (Apstra's blueprint ids are 36-character UUIDs). A kind is then at most
// 37 characters (a configuration's diff, bp-<12>-cfg-<12>-diff), and its file name,
// <backup id>-<kind>.diff, 63: the store takes 64.
func idToken(id string) string {
	if len(id) <= 12 && backupstore.ValidName(id) == nil {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:])[:11]
}

// RunApstra backs up one Apstra server in one session: log in, select the
// blueprints, export each (graph streamed into the store and scanned on the way for
// its system nodes), the deployed configuration of each managed system, the design
// catalog and the resource pools, optionally the aos_backup snapshot, and log out
// (always). A failed run leaves no file in the store (only its failure record).
func RunApstra(ctx context.Context, store *backupstore.Store, req ApstraRequest) (ApstraResult, error) {
	var res ApstraResult
	c := req.Client
	var selected []apstra.Blueprint
	var previous map[string]ApstraBlueprint // by id; nil: no previous backup
	// The previous backup is looked up once; every device's diff reads its file.
	diffs := &configDiffs{store: store, ignore: req.IgnoreLines, budget: semaphore.NewWeighted(diffBudget)}
	var snap *snapshotConn
	defer func() {
		if snap != nil {
			_ = snap.close() // the snapshot was fetched and removed, or the backup failed for a reason already given
		}
	}()
	// The server's folder is known before it is contacted, so that every failure,
	// the login's too, is recorded where its backups are.
	folder := req.Name
	var folderErr error
	if folder == "" {
		if folder, folderErr = backupstore.SanitizeName(req.Host); folderErr != nil {
			folder = ""
			folderErr = fmt.Errorf("%s: the host cannot name a backup folder (%v); set name", c.Device(), folderErr)
		}
	}
	b, logoutFailed, err := runBackup(ctx, store, c.Session(), req.Target, steps{
		family: backupstore.FamilyApstra,
		device: c.Device(),
		name:   folder,
		prepare: func(ctx context.Context) (string, error) {
			if folderErr != nil {
				return "", folderErr
			}
			all, err := c.Blueprints(ctx)
			if err != nil {
				return folder, err
			}
			if selected, err = selectBlueprints(c, all, req.Blueprints); err != nil {
				return folder, err
			}
			if req.Snapshot != nil {
				// A wrong host key or password fails here, before anything runs on
				// the server and before the export's work.
				if snap, err = dialSnapshot(ctx, req.Host, req.Snapshot); err != nil {
					return folder, err
				}
			}
			diffs.previous, diffs.prevErr = store.Latest(ctx, backupstore.FamilyApstra, folder)
			if diffs.prevErr == nil {
				if bps, err := ApstraBlueprints(diffs.previous); err == nil {
					previous = map[string]ApstraBlueprint{}
					for _, bp := range bps {
						previous[bp.ID] = bp
					}
				}
			}
			return folder, nil
		},
		write: func(ctx context.Context, run *backupstore.Run) (map[string]string, error) {
			tokens := map[string]string{}
			for _, sel := range selected {
				bp, err := exportBlueprint(ctx, c, run, sel, diffs)
				if err != nil {
					return nil, err
				}
				if other, dup := tokens[bp.Token]; dup {
					return nil, fmt.Errorf("%s: blueprints %q and %q give the same file names: name one of them in blueprints, not both", c.Device(), other, bp.ID)
				}
				tokens[bp.Token] = bp.ID
				markChanged(&bp, previous)
				res.Blueprints = append(res.Blueprints, bp)
			}
			skipped, err := exportCollections(ctx, c, run)
			if err != nil {
				return nil, err
			}
			res.SkippedCollections = skipped
			if snap != nil {
				if err := snap.take(ctx, run); err != nil {
					return nil, err
				}
			}
			data, err := json.Marshal(res.Blueprints)
			if err != nil {
				return nil, fmt.Errorf("%s: record the blueprints: %w", c.Device(), err)
			}
			attrs := map[string]string{AttrApstraBlueprints: string(data)}
			if len(skipped) > 0 {
				attrs["skipped_collections"] = strings.Join(skipped, ",")
			}
			return attrs, nil
		},
	})
	res.Backup, res.LogoutFailed = b, logoutFailed
	if err != nil {
		res.Blueprints = nil
	}
	return res, err
}

// selectBlueprints picks the blueprints names names (by id or label; all when it is
// empty). A name that matches none is an error naming it and what the server has.
func selectBlueprints(c *apstra.Client, all []apstra.Blueprint, names []string) ([]apstra.Blueprint, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []apstra.Blueprint
	seen := map[string]bool{}
	for _, name := range names {
		var match []apstra.Blueprint
		for _, bp := range all {
			if bp.ID == name || bp.Label == name {
				match = append(match, bp)
			}
		}
		switch {
		case len(match) == 0:
			have := make([]string, 0, len(all))
			for _, bp := range all {
				have = append(have, fmt.Sprintf("%q (%s)", bp.Label, bp.ID))
			}
			return nil, &client.DeviceError{Device: c.Device(), Step: "select the blueprints",
				Message: fmt.Sprintf("no blueprint has the id or label %q", name),
				Hint:    "the server has " + orNone(strings.Join(have, ", ")) + "; fix blueprints"}
		case len(match) > 1:
			return nil, &client.DeviceError{Device: c.Device(), Step: "select the blueprints",
				Message: fmt.Sprintf("%d blueprints have the label %q", len(match), name),
				Hint:    "name them by id in blueprints"}
		}
		if !seen[match[0].ID] {
			seen[match[0].ID] = true
			out = append(out, match[0])
		}
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "no blueprint"
	}
	return s
}

// exportBlueprint stores one blueprint's files. The graph streams into the store
// and, through a pipe, into ScanGraph, which finds its system nodes without holding
// the graph. Each deployed configuration is compared with the previous backup's.
func exportBlueprint(ctx context.Context, c *apstra.Client, run *backupstore.Run, sel apstra.Blueprint, diffs *configDiffs) (ApstraBlueprint, error) {
	scrub := func(s string) string { return deviceText(c, s) }
	bp := ApstraBlueprint{ID: sel.ID, Label: scrub(sel.Label), Design: scrub(sel.Design), Token: idToken(sel.ID),
		Deployed: []ApstraDevice{}, Skipped: []ApstraSkipped{}}
	graph, err := storeGraph(ctx, c, run, bp)
	if err != nil {
		return bp, err
	}
	if graph.ID != "" && graph.ID != sel.ID {
		return bp, &client.DeviceError{Device: c.Device(), Step: "download the graph of blueprint " + sel.ID,
			Message: fmt.Sprintf("the server sent the graph of blueprint %q instead", scrub(graph.ID))}
	}
	bp.Version, bp.Nodes, bp.Relationships = graph.Version, graph.Nodes, graph.Relationships

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(apstraParallel)
	// The calls below run at once: they read only kind (never bp, which this
	// function fills) and each writes its own variable, read after g.Wait.
	kind := bp.Kind
	var deployState string
	g.Go(func() error {
		ds, err := c.DeployState(gctx, sel.ID)
		if err != nil {
			return err
		}
		deployState = scrub(ds.State)
		_, err = writeBytes(gctx, run, kind(apstraDeploy), ds.Raw, c.Device())
		return err
	})
	g.Go(func() error {
		revs, err := c.Revisions(gctx, sel.ID)
		if err != nil {
			return err
		}
		_, err = writeBytes(gctx, run, kind(apstraRevisions), revs.Raw, c.Device())
		return err
	})
	g.Go(func() error {
		body, err := c.OpenConnectivityTemplates(gctx, sel.ID)
		if err != nil {
			return err
		}
		defer func() { _ = body.Close() }() // only read
		_, err = run.WriteFile(gctx, kind(apstraCT), "json", body)
		return err
	})
	deployed := make([]*ApstraDevice, len(graph.Systems))
	skipped := make([]*ApstraSkipped, len(graph.Systems))
	for i, n := range graph.Systems {
		if !n.Managed() {
			skipped[i] = &ApstraSkipped{NodeID: scrub(n.ID), Label: scrub(n.Label), Reason: "not managed: no device is assigned to the node"}
			continue
		}
		g.Go(func() error {
			text, err := c.OpenDeployedConfig(gctx, sel.ID, n.ID)
			var de *client.DeviceError
			switch {
			case errors.Is(err, apstra.ErrNotManaged), errors.Is(err, apstra.ErrNotDeployed):
				why := "not managed"
				if errors.Is(err, apstra.ErrNotDeployed) {
					why = "not deployed"
				}
				if errors.As(err, &de) && de.Message != "" {
					why += ": " + de.Message
				}
				skipped[i] = &ApstraSkipped{NodeID: scrub(n.ID), Label: scrub(n.Label), Reason: scrub(why)}
				return nil
			case err != nil:
				return err
			}
			defer func() { _ = text.Close() }() // only read
			d := &ApstraDevice{NodeID: scrub(n.ID), Label: scrub(n.Label), Hostname: scrub(n.Hostname), SystemID: scrub(n.SystemID),
				Kind: kind(apstraConfigPrefix + idToken(n.ID))}
			// The text streams into the store; the comparison reads it back.
			f, err := storeStream(gctx, run, d.Kind, text, c.Device())
			if err != nil {
				return err
			}
			if d.Diff, err = diffs.compare(gctx, run, f); err != nil {
				return fmt.Errorf("%s: node %s: %w", c.Device(), d.NodeID, err)
			}
			d.Changed = d.Diff.Changed
			deployed[i] = d
			return nil
		})
	}
	err = g.Wait()
	bp.DeployState = deployState
	if err != nil {
		return bp, err
	}
	for i := range graph.Systems {
		if deployed[i] != nil {
			bp.Deployed = append(bp.Deployed, *deployed[i])
		}
		if skipped[i] != nil {
			bp.Skipped = append(bp.Skipped, *skipped[i])
		}
	}
	return bp, nil
}

// errScanStopped stops a graph download whose scan found the graph malformed.
var errScanStopped = errors.New("the graph scan stopped")

// storeGraph streams the blueprint's graph into the run and scans it on the way.
func storeGraph(ctx context.Context, c *apstra.Client, run *backupstore.Run, bp ApstraBlueprint) (apstra.Graph, error) {
	body, err := c.OpenBlueprint(ctx, bp.ID)
	if err != nil {
		return apstra.Graph{}, err
	}
	defer func() { _ = body.Close() }() // only read
	pr, pw := io.Pipe()
	type scanned struct {
		g   apstra.Graph
		err error
	}
	done := make(chan scanned, 1)
	go func() {
		g, err := apstra.ScanGraph(pr)
		// A scan that stopped early must not block the download: later writes fail.
		_ = pr.CloseWithError(errScanStopped)
		done <- scanned{g, err}
	}()
	_, werr := run.WriteFile(ctx, bp.GraphKind(), "json", io.TeeReader(body, pw))
	_ = pw.CloseWithError(werr) // nil: the scan sees the end of the graph
	s := <-done
	switch {
	case werr != nil && !errors.Is(werr, errScanStopped):
		return s.g, werr // the download or the store failed: the scan only saw the graph end early
	case s.err != nil:
		return s.g, &client.DeviceError{Device: c.Device(), Step: "download the graph of blueprint " + bp.ID,
			Message: "the graph is not the JSON document expected: " + c.Secrets().Scrub(s.err.Error())}
	}
	return s.g, nil
}

// maxDeviceText bounds each label, hostname and reason a backup records: the record
// is at most backupstore.MaxRecordSize.
const maxDeviceText = 200

// deviceText is device text as a backup records it: secrets scrubbed, shortened.
func deviceText(c *apstra.Client, s string) string {
	s = c.Secrets().Scrub(s)
	if len(s) > maxDeviceText {
		s = strings.ToValidUTF8(s[:maxDeviceText], "") + "..."
	}
	return s
}

func writeBytes(ctx context.Context, run *backupstore.Run, kind string, data []byte, device string) (backupstore.File, error) {
	return storeStream(ctx, run, kind, bytes.NewReader(data), device)
}

// storeStream writes src into run as kind. When src failed (the device's answer
// broke off or was refused), that failure is the error: the store's words around
// it would only name a file that is not there.
func storeStream(ctx context.Context, run *backupstore.Run, kind string, src io.Reader, device string) (backupstore.File, error) {
	rec := &readFailure{r: src}
	f, err := run.WriteFile(ctx, kind, extFor(kind), rec)
	var de *client.DeviceError
	switch {
	case err == nil:
		return f, nil
	case errors.As(rec.err, &de):
		return f, rec.err
	}
	return f, fmt.Errorf("%s: store %s: %w", device, kind, err)
}

// readFailure remembers the first failure of its reader other than its end.
type readFailure struct {
	r   io.Reader
	err error
}

func (r *readFailure) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// extFor is the extension of a kind: device configurations are text, the rest JSON.
func extFor(kind string) string {
	if strings.Contains(kind, "-"+apstraConfigPrefix) {
		return "txt"
	}
	return "json"
}

// exportCollections stores the design catalog and the resource pools, one file per
// collection; a collection this release does not have is listed, not a failure.
func exportCollections(ctx context.Context, c *apstra.Client, run *backupstore.Run) ([]string, error) {
	cols := append(append([]apstra.Collection(nil), apstra.DesignCatalog...), apstra.ResourcePools...)
	missing := make([]bool, len(cols))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(apstraParallel)
	for i, col := range cols {
		g.Go(func() error {
			body, err := c.OpenCollection(gctx, col)
			if errors.Is(err, apstra.ErrNotFound) {
				missing[i] = true
				return nil
			}
			if err != nil {
				return err
			}
			defer func() { _ = body.Close() }() // only read
			// Collection names are the client's constants ("design/tags"), never device text.
			_, err = run.WriteFile(gctx, CollectionKind(col), "json", body)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var skipped []string
	for i, m := range missing {
		if m {
			skipped = append(skipped, cols[i].Name)
		}
	}
	return skipped, nil
}

// CollectionKind is the file kind of a catalog or pool collection: design-tags.
func CollectionKind(col apstra.Collection) string { return strings.ReplaceAll(col.Name, "/", "-") }

// markChanged sets the blueprint's Changed flag against the previous backup of
// the server (changed when there is none). Its devices' were set by their diffs.
func markChanged(bp *ApstraBlueprint, previous map[string]ApstraBlueprint) {
	prev, found := previous[bp.ID]
	bp.Changed = !found || prev.Version != bp.Version
}

// diffBudget bounds the bytes of text the configuration comparisons of one backup
// hold at once (each holds about three times its texts): a blueprint's devices are
// compared in parallel, each pair of texts at most 2*maxDiffInput.
const diffBudget = 2 * maxDiffInput

// configDiffs compares the deployed configurations of a backup with those of the
// server's previous backup, looked up once for the whole backup.
type configDiffs struct {
	store    *backupstore.Store
	previous backupstore.Backup
	prevErr  error // as Latest returned it
	ignore   []*regexp.Regexp
	budget   *semaphore.Weighted // of diffBudget bytes
}

// compare diffs a configuration just written into run, reading it back.
func (d *configDiffs) compare(ctx context.Context, run *backupstore.Run, f backupstore.File) (TextDiff, error) {
	// The texts the comparison will hold (none when the bytes are the same or
	// either is too large to compare), taken from the budget for its duration.
	var weight int64
	if prev, ok := d.previous.File(f.Kind); d.prevErr == nil && ok && prev.SHA256 != f.SHA256 &&
		prev.Size <= maxDiffInput && f.Size <= maxDiffInput {
		weight = prev.Size + f.Size
	}
	if err := d.budget.Acquire(ctx, weight); err != nil {
		return TextDiff{}, err
	}
	defer d.budget.Release(weight)
	return diffText(ctx, d.store, run, d.previous, d.prevErr, f, nil, d.ignore)
}

// ChangedDevices lists the node ids whose configuration changed.
func (b ApstraBlueprint) ChangedDevices() []string {
	out := []string{}
	for _, d := range b.Deployed {
		if d.Changed {
			out = append(out, d.NodeID)
		}
	}
	return out
}
