package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/ilorestore"
)

const defaultILORestoreCreateTimeout = 15 * time.Minute

var (
	_ resource.ResourceWithConfigure      = (*iloRestoreResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*iloRestoreResource)(nil)
	_ resource.ResourceWithValidateConfig = (*iloRestoreResource)(nil)
)

func newILORestoreResource() resource.Resource {
	return &iloRestoreResource{resourceBase{typeName: "ilo_restore"}}
}

type iloRestoreResource struct{ resourceBase }

// iloRestoreModel is the resource infrabackup_ilo_restore.
type iloRestoreModel struct {
	deviceTargetModel
	ID                      types.String `tfsdk:"id"`
	BackupFile              types.String `tfsdk:"backup_file"`
	BackupID                types.String `tfsdk:"backup_id"`
	BackupKey               types.String `tfsdk:"backup_key"`
	BackupPasswordWO        types.String `tfsdk:"backup_password_wo"`
	BackupPasswordWOVersion types.Int64  `tfsdk:"backup_password_wo_version"`
	Trigger                 types.String `tfsdk:"trigger"`
	AllowDifferentServer    types.Bool   `tfsdk:"allow_different_server"`
	RestoredAt              types.String `tfsdk:"restored_at"`
	BackupSHA256            types.String `tfsdk:"backup_sha256"`
	SerialNumber            types.String `tfsdk:"serial_number"`
	BackupSerialNumber      types.String `tfsdk:"backup_serial_number"`
	Outcome                 types.String `tfsdk:"outcome"`
}

// fromRestore fills the computed attributes from a restore sent (and, unless the
// outcome is unknown, accepted) at at.
func (m *iloRestoreModel) fromRestore(device string, at time.Time, res ilorestore.Result, outcome string) {
	m.ID = types.StringValue(device + "/" + at.UTC().Format("20060102T150405.000Z"))
	m.RestoredAt = formatTime(at)
	m.BackupSHA256 = types.StringValue(res.File.SHA256)
	m.SerialNumber = types.StringValue(res.Manager.Serial)
	m.BackupSerialNumber = optionalString(res.File.Serial)
	m.Outcome = types.StringValue(outcome)
	m.BackupPasswordWO = types.StringNull() // write-only: never in state
}

// Values of outcome.
const (
	outcomeRestored = "restored" // accepted, and the iLO came back
	outcomeAccepted = "accepted" // accepted, but the iLO was not seen back in time
	outcomeUnknown  = "unknown"  // the whole upload was sent, its answer was lost
)

func (r *iloRestoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "**Destructive.** Restores the configuration of one HPE iLO 5, 6 or 7 from a backup file when created " +
			"(and again whenever an argument other than `backup_password_wo_version` or `timeouts` changes): the backup " +
			"overwrites the iLO's configuration, including its user accounts, license keys and network and security settings, " +
			"then the iLO resets, is unreachable for up to several minutes and ends every session on it.\n\n" +
			"The backup is a local file (`backup_file`) or a backup in the backup store, a local folder or an S3 bucket " +
			"(`backup_id` or `backup_key`, as `infrabackup_ilo_backup` exports them). " +
			"Before anything is sent, the backup is checked: it must exist; when the backup store records it, its SHA-256 " +
			"must still be the recorded one (a backup read from the store is checked while it streams, and its last bytes are " +
			"withheld when it differs); and the server it was taken from (serial number from the store's record, or from " +
			"an iLO file name `HPE_<serial>_<YYYYMMDD>_<HHMM>.bak`) must be the target iLO's server, as HPE supports restoring " +
			"a backup only onto the server it was taken from (`allow_different_server` overrides this). The file is streamed " +
			"from disk or from the bucket, never held in memory. The resource then waits, polling with backoff, until the iLO answers and accepts " +
			"a login again.\n\n" +
			"Once the whole file was sent, the restore is recorded in state, whatever happens next, and only a new `trigger` " +
			"(or another changed argument) restores again: when the iLO accepted it but was not seen back in time, " +
			"`outcome` is `accepted`; when its answer to the upload was lost, the iLO may or may not be restoring, and " +
			"`outcome` is `unknown`. Both are reported as warnings saying what to check, not as errors (an error would leave " +
			"the resource tainted, and the next `apply` would restore again). The answer to the upload may take up to 10 " +
			"minutes (the iLO checks the whole file first), longer than the provider's `request_timeout`, within " +
			"`timeouts.create`.\n\n" +
			"Refresh makes no device call. Destroying the resource only removes it from state: a restore cannot be undone.",
		Attributes: withAttributes(iloKind.targetAttributes("iLO host name or IP address of the iLO to restore."), map[string]schema.Attribute{
			"id": keptString("`<host>/<time the restore was accepted>` (`<host>:<port>/...` when the port is not 443): unique per restore."),
			"backup_file": schema.StringAttribute{
				MarkdownDescription: "Local path of the backup to restore, typically `infrabackup_ilo_backup.<name>.local_path` " +
					"or the `local_path` of the `infrabackup_ilo_backup` data source. A file the local backup store records must " +
					"still have its recorded SHA-256; a file from elsewhere must keep the iLO's own name " +
					"(`HPE_<serial>_<YYYYMMDD>_<HHMM>.bak`) so its server is known, unless `allow_different_server = true`. " +
					"Exactly one of `backup_file`, `backup_id` and `backup_key`.",
				Optional:      true,
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: replace,
			},
			"backup_id": schema.StringAttribute{
				MarkdownDescription: "The backup to restore from the backup store the provider is configured with (`backup_dir` or `s3`), " +
					"by the `id` of `infrabackup_ilo_backup` or of its data source (`<name>/<backup id>`). Works with either store: " +
					"from a bucket the backup is streamed to the iLO, never held in memory or written to disk. " +
					"Its bytes are checked against the SHA-256 the store recorded while they are uploaded: a file changed after the " +
					"backup never completes the upload (its last bytes are withheld), so the iLO restores nothing. " +
					"Exactly one of `backup_file`, `backup_id` and `backup_key`.",
				Optional: true,
				// Its form is checked at plan, before the plan warns of a restore.
				Validators: []validator.String{stringCheck{description: "a backup id, <name>/<backup id>",
					check: func(id string) error { _, _, err := ilorestore.ParseBackupID(id); return err }}},
				PlanModifiers: replace,
			},
			"backup_key": schema.StringAttribute{
				MarkdownDescription: "The backup to restore from the backup store, by the `key` of its `ilo-backup` file in `files` of " +
					"`infrabackup_ilo_backup` or of its data source (`ilo/<name>/<backup id>-ilo-backup.bak`), checked as for `backup_id`. " +
					"Exactly one of `backup_file`, `backup_id` and `backup_key`.",
				Optional:      true,
				Validators:    []validator.String{stringCheck{description: "the key of an iLO backup file in the store", check: ilorestore.CheckBackupKey}},
				PlanModifiers: replace,
			},
			"backup_password_wo": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("The password the backup was taken with, for a password-protected backup "+
					"(at most %d characters): a protected backup restores only with that password. "+
					"Write-only: never stored in state or plan.", redfish.MaxBackupPasswordLength),
				Optional:   true,
				WriteOnly:  true,
				Sensitive:  true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), backupPasswordValidator()},
			},
			"backup_password_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Any number, kept in state beside the write-only `backup_password_wo`. Changing it restores nothing.",
				Optional:            true,
			},
			"trigger": schema.StringAttribute{
				MarkdownDescription: "Any value; when it changes, the backup is restored again.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers:       replace,
			},
			"allow_different_server": schema.BoolAttribute{
				MarkdownDescription: "Restore even when the backup was taken from another server than the target iLO's, or " +
					"from a server that cannot be determined. HPE supports restoring a backup only onto the server it was " +
					"taken from; it is not meant to copy a configuration to another iLO. Use it after a system board " +
					"replacement, when the serial number changed or is missing. Default `false`.",
				Optional:      true,
				Computed:      true,
				Default:       booldefault.StaticBool(false),
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
			},
			"restored_at": keptString("When the iLO accepted the restore (RFC 3339, UTC); with `outcome = \"unknown\"`, when " +
				"the upload whose answer was lost was sent."),
			"outcome": keptString("`restored`: the iLO accepted the backup and came back. `accepted`: it accepted the backup " +
				"but was not seen back (and accepting a login) within `timeouts.create`. `unknown`: the whole backup was sent " +
				"but the iLO's answer was lost, so it may or may not be restoring: check its Integrated Management Log."),
			"backup_sha256": keptString("SHA-256 of the restored backup file, hex: exactly these bytes were uploaded."),
			"serial_number": keptString("Serial number of the target iLO's server (`Systems/1`), read before the upload."),
			"backup_serial_number": keptString("Serial number of the server the backup was taken from (from the backup " +
				"store's record or the file name); null when it is not known."),
			"timeouts": timeouts.Attributes(ctx, timeouts.Opts{Create: true, CreateDescription: "How long the checks, the upload " +
				"and the wait for the iLO to come back after its reset may take together. Default `15m`."}),
		}),
	}
}

// ModifyPlan warns, on every plan that restores, that applying it overwrites the
// iLO's configuration and resets it.
func (r *iloRestoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() && len(resp.RequiresReplace) == 0 {
		return // destroy (forgets only), or an update that restores nothing
	}
	var m iloRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	target := "an iLO"
	if !m.Host.IsUnknown() && !m.Host.IsNull() {
		target = "iLO " + m.Host.ValueString()
	}
	file := "a backup (known after apply)"
	switch {
	case !m.BackupFile.IsUnknown() && !m.BackupFile.IsNull():
		file = m.BackupFile.ValueString()
	case !m.BackupID.IsUnknown() && !m.BackupID.IsNull():
		file = "backup " + m.BackupID.ValueString() + " of the backup store"
	case !m.BackupKey.IsUnknown() && !m.BackupKey.IsNull():
		file = m.BackupKey.ValueString() + " of the backup store"
	}
	resp.Diagnostics.AddWarning(fmt.Sprintf("This plan restores %s from a backup (destructive)", target),
		fmt.Sprintf("Applying it uploads %s to %s, which overwrites the iLO's configuration (user accounts, license keys, network and "+
			"security settings) with the backup's, then resets: the iLO is unreachable for up to several minutes and every "+
			"session on it is dropped. A restore cannot be undone, and destroying the resource does not undo it.", file, target))
}

// backupSources are the arguments that name the backup to restore: exactly one is set.
var backupSources = []string{"backup_file", "backup_id", "backup_key"}

// ValidateConfig refuses a restore that names no backup, or more than one.
func (r *iloRestoreResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var set []string
	for _, name := range backupSources {
		var v types.String
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(name), &v)...)
		if !v.IsNull() { // an unknown value will be set
			set = append(set, name)
		}
	}
	if resp.Diagnostics.HasError() || len(set) == 1 {
		return
	}
	if len(set) == 0 {
		resp.Diagnostics.AddError("No backup to restore",
			"Set one of backup_file (a local file), backup_id (the id of an infrabackup_ilo_backup, to restore it from the backup store) "+
				"or backup_key (the key of its ilo-backup file in the backup store).")
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root(set[1]), "More than one backup to restore",
		fmt.Sprintf("%s are set, but a restore restores exactly one backup: keep one of them.", strings.Join(set, " and ")))
}

func (r *iloRestoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan iloRestoreModel
	var backupPassword types.String
	// Without a backup folder there is no record to check the file against; with one
	// that cannot be opened, a recorded file could not be checked: refuse. The
	// operation holds the iLO's lock: a backup running while the iLO resets would fail.
	// A backup named by its id or key is read from the store, whichever it is.
	use := storeIfPresent
	var fromStore types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("backup_file"), &fromStore)...)
	if fromStore.IsNull() {
		use = readStore
	}
	ctx, op := iloKind.startCreate(ctx, r.data, req, resp, &plan, defaultILORestoreCreateTimeout, use,
		writeOnlyArg{path.Root("backup_password_wo"), &backupPassword})
	if op == nil {
		return
	}
	defer op.end()
	res, err := ilorestore.Run(ctx, ilorestore.Request{
		ILO: op.client, Store: op.store, File: plan.BackupFile.ValueString(),
		BackupID: plan.BackupID.ValueString(), BackupKey: plan.BackupKey.ValueString(),
		BackupPassword: backupPassword.ValueString(), AllowDifferentServer: plan.AllowDifferentServer.ValueBool(),
		Now: r.data.now,
	})
	rc := op.client
	var refused *ilorestore.RefusedError
	var notReady *ilorestore.AcceptedNotReadyError
	var unknown *ilorestore.OutcomeUnknownError
	switch {
	case errors.As(err, &refused):
		resp.Diagnostics.AddAttributeError(path.Root(sourceOf(plan)), fmt.Sprintf("Restore of iLO %s refused", rc.Device()),
			operationError(ctx, err)+"\n\nThe iLO's configuration was not changed.")
		return
	// Once the whole file was sent, the restore is recorded with a warning, never an
	// error: an error would taint the resource, and the next apply would restore again.
	case errors.As(err, &notReady):
		plan.fromRestore(rc.Device(), res.AcceptedAt, res, outcomeAccepted)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		resp.Diagnostics.AddWarning(fmt.Sprintf("iLO %s accepted the restore but has not come back", rc.Device()),
			notReadyDetail(ctx, err, op.limit))
		return
	case errors.As(err, &unknown):
		plan.fromRestore(rc.Device(), unknown.SentAt, res, outcomeUnknown)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		resp.Diagnostics.AddWarning(fmt.Sprintf("Restore of iLO %s: outcome unknown, the iLO may be restoring", rc.Device()),
			unknownOutcomeDetail(err))
		return
	case err != nil:
		resp.Diagnostics.AddError(fmt.Sprintf("Restore of iLO %s failed", rc.Device()), op.explain(ctx, err))
		return
	}
	plan.fromRestore(rc.Device(), res.AcceptedAt, res, outcomeRestored)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// sourceOf is the argument that names the backup plan restores.
func sourceOf(plan iloRestoreModel) string {
	switch {
	case !plan.BackupID.IsNull():
		return "backup_id"
	case !plan.BackupKey.IsNull():
		return "backup_key"
	}
	return "backup_file"
}

// notReadyDetail explains a restore the iLO accepted without coming back, and what to check.
func notReadyDetail(ctx context.Context, err error, limit time.Duration) string {
	what := "The iLO accepted the backup and is applying it, but it could not be confirmed to be back."
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		what = fmt.Sprintf("The iLO accepted the backup and is applying it, but it has not answered and accepted a login again "+
			"within the create timeout (%s).", limit)
	}
	return operationError(ctx, err) + "\n\n" + what + " Do not power the server off while the iLO resets. Check:\n" +
		"- the iLO web interface (or its console) and its Integrated Management Log and iLO Event Log, which record the restore and the reset;\n" +
		"- the network path from this host to the iLO: the backup's network settings now apply, so if they differ (address, VLAN, certificate), " +
		"the iLO answers elsewhere;\n" +
		"- the iLO credentials: the iLO now has the user accounts of the backup;\n" +
		"- if the iLO is only slow to reset, raise timeouts.create.\n\n" +
		"The restore is recorded in state with outcome = \"accepted\": the next apply does not restore again. " +
		"Change trigger to restore again."
}

// unknownOutcomeDetail explains an upload whose answer was lost, and what to check.
func unknownOutcomeDetail(err error) string {
	return err.Error() + "\n\n" +
		"The whole backup reached the iLO's network connection, but its answer did not come back, so whether the iLO " +
		"accepted it is not known. If it did, it is overwriting its configuration and resetting now: do not power the " +
		"server off. Check the iLO's Integrated Management Log and iLO Event Log (they record an accepted restore), or " +
		"whether the iLO resets in the next minutes.\n\n" +
		"The restore is recorded in state with outcome = \"unknown\", so the next apply does not upload it again. " +
		"If the iLO did not restore, change trigger to restore again."
}

// Read makes no device call: a restore is a fact of the past, and refresh must not log
// in to the iLO on every plan. The framework hands the prior state back; a state
// written before outcome existed records a restore that succeeded (one that failed
// was tainted), which Read writes down so that no update is planned.
func (r *iloRestoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var outcome types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("outcome"), &outcome)...)
	if !resp.Diagnostics.HasError() && outcome.IsNull() {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("outcome"), outcomeRestored)...)
	}
}

// Update only records arguments that restore nothing (credentials, timeouts, the password version).
func (r *iloRestoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	recordUpdate(ctx, req, resp, func(plan, state *iloRestoreModel) {
		state.deviceTargetModel = plan.deviceTargetModel // timeouts and credentials (host and port replace the resource)
		state.BackupPasswordWOVersion = plan.BackupPasswordWOVersion
		state.BackupPasswordWO = types.StringNull()
	})
}

// Delete only forgets the restore: it cannot be undone.
func (r *iloRestoreResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}
