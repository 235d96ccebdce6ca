package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
)

const defaultApstraCreateTimeout = 60 * time.Minute

var (
	_ resource.ResourceWithConfigure      = (*apstraBackupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*apstraBackupResource)(nil)
)

func newApstraBackupResource() resource.Resource {
	return &apstraBackupResource{resourceBase{typeName: "apstra_backup"}}
}

type apstraBackupResource struct{ resourceBase }

// apstraBackupModel is the resource infrabackup_apstra_backup.
type apstraBackupModel struct {
	deviceTargetModel
	apstraStoredBackupModel
	Trigger            types.String `tfsdk:"trigger"`
	SelectBlueprints   types.List   `tfsdk:"blueprints"`
	Snapshot           types.Object `tfsdk:"snapshot"`
	SkippedCollections types.List   `tfsdk:"skipped_collections"`
	IgnoreLines        types.List   `tfsdk:"ignore_lines"`
	Retention          types.Object `tfsdk:"retention"`
}

// apstraSnapshotModel is its snapshot block.
type apstraSnapshotModel struct {
	Host       types.String `tfsdk:"host"`
	Port       types.Int64  `tfsdk:"port"`
	Username   types.String `tfsdk:"username"`
	PasswordWO types.String `tfsdk:"password_wo"`
	sshHostKeyModel
}

func (r *apstraBackupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Backs up one Juniper Apstra server when created, through its API, into the backup store (a local folder, " +
			"files with mode 0600, or an S3 bucket), in one session: every blueprint's full graph (`GET /api/blueprints/{id}`, what " +
			"Apstra's own tooling calls a blueprint export; streamed, never held in memory), its deploy state, revision list and " +
			"connectivity-template export, the deployed configuration of every managed system (a node that is not managed or not " +
			"deployed is listed under `skipped` with the reason), the design catalog and the resource pools. The backup record lists " +
			"every file with its size and SHA-256. With `snapshot`, Apstra's own disaster-recovery copy (`sudo aos_backup` over SSH) " +
			"lands in the same backup and is removed from the server.\n\n" +
			"Each device's deployed configuration is compared with the server's previous backup: when it changed, its unified diff is " +
			"stored beside it, and the device reports the lines added and removed (`ignore_lines` leaves out lines that change on every run). " +
			"Neither the diff nor any configuration text goes into state or logs.\n\n" +
			"Change `trigger` to take a new backup. Refresh makes no server call; destroying the resource never deletes backups. " +
			failedBackupNote + deviceLockNote,
		Attributes: withAttributes(apstraKind.targetAttributes("Apstra server host name or IP address."), apstraStoredBackupModel{}.attributes(true), map[string]schema.Attribute{
			"trigger": schema.StringAttribute{
				MarkdownDescription: "Any value; when it changes, a new backup is taken. Typically `time_rotating.weekly.id`.",
				Required:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers:       replace,
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Names the server's backup folder (`apstra/<name>/` in the store). Defaults to the host, made safe for file names.",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{nameValidator()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()},
			},
			"blueprints": schema.ListAttribute{
				MarkdownDescription: "The blueprints to back up, by label or id. Default: all of them. A name that matches no blueprint fails the backup, naming it.",
				Optional:            true,
				ElementType:         types.StringType,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1))},
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"snapshot": schema.SingleNestedAttribute{
				MarkdownDescription: "Also run Apstra's disaster-recovery backup, `sudo aos_backup`, on the server over SSH, stream the " +
					"resulting `aos.data.tar.gz` into the same backup over SFTP, and remove it from the server, also when the backup fails, is " +
					"cancelled or times out; the error says where a snapshot remains when it could not be removed. The SSH host key is checked " +
					"before anything runs on the server. The snapshot holds the server's secret keys: treat the backup as a secret.",
				Optional:      true,
				PlanModifiers: []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: withAttributes(sshHostKeyAttributes("The Apstra server's", "checked before anything runs on it", "Connect"), map[string]schema.Attribute{
					"host": schema.StringAttribute{
						MarkdownDescription: "SSH host. Default: `host`.",
						Optional:            true,
						Validators:          []validator.String{hostValidator()},
					},
					"port": schema.Int64Attribute{
						MarkdownDescription: "SSH port. Default 22.",
						Optional:            true,
						Computed:            true,
						Default:             int64default.StaticInt64(22),
						Validators:          []validator.Int64{int64validator.Between(1, 65535)},
					},
					"username": schema.StringAttribute{
						MarkdownDescription: "SSH user; it needs sudo rights for `aos_backup`.",
						Required:            true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"password_wo": schema.StringAttribute{
						MarkdownDescription: "SSH password, also given to sudo (on its standard input). Write-only: never stored in state or plan.",
						Required:            true,
						WriteOnly:           true,
						Sensitive:           true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
				}),
			},
			"skipped_collections": schema.ListAttribute{
				MarkdownDescription: "Design catalog or resource pool collections this server's release does not have (answered 404).",
				Computed:            true,
				ElementType:         types.StringType,
				PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
			},
			"ignore_lines": ignoreLinesAttribute("deployed-configuration", "^## Last changed: ", "a device's `changed` in `blueprints_backed_up`"),
			"retention":    resourceRetentionSchema(),
			"timeouts":     timeouts.Attributes(ctx, timeouts.Opts{Create: true, CreateDescription: "How long the whole backup may take. Default `60m`."}),
		}),
	}
}

func (r *apstraBackupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var snap types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("snapshot"), &snap)...)
	m, diags := apstraSnapshotFrom(ctx, snap)
	resp.Diagnostics.Append(diags...)
	if m != nil && m.unpinned() {
		resp.Diagnostics.AddAttributeError(path.Root("snapshot"), "The Apstra server's SSH host key is not known",
			"The snapshot runs a command on the server over SSH, and its host key is checked first: set snapshot.host_key "+
				"(the server's public key, e.g. from ssh-keyscan) or snapshot.host_key_fingerprint (SHA256:..., from ssh-keygen -lf). "+
				"For a lab server only, insecure_ignore_host_key = true skips the check.")
	}
}

func (r *apstraBackupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan apstraBackupModel
	var sshPassword types.String
	ctx, op := apstraKind.startCreate(ctx, r.data, req, resp, &plan, defaultApstraCreateTimeout, needStore,
		writeOnlyArg{path.Root("snapshot").AtName("password_wo"), &sshPassword})
	if op == nil {
		return
	}
	defer op.end()
	snapModel, diags := apstraSnapshotFrom(ctx, plan.Snapshot)
	resp.Diagnostics.Append(diags...)
	var selected []string
	resp.Diagnostics.Append(plan.SelectBlueprints.ElementsAs(ctx, &selected, false)...)
	ignore, diags := compileIgnoreLines(ctx, plan.IgnoreLines)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	var snap *backupjob.ApstraSnapshot
	if snapModel != nil {
		snap = &backupjob.ApstraSnapshot{
			Host: snapModel.Host.ValueString(), Port: int(snapModel.Port.ValueInt64()),
			Username: snapModel.Username.ValueString(), Password: sshPassword.ValueString(),
			HostKey: snapModel.HostKey.ValueString(), HostKeyFingerprint: snapModel.HostKeyFingerprint.ValueString(),
			InsecureIgnoreHostKey: snapModel.InsecureIgnoreHostKey.ValueBool(),
		}
	}
	res, err := backupjob.RunApstra(ctx, op.store, backupjob.ApstraRequest{
		Client: op.client, Target: op.target(r.data), Name: plan.Name.ValueString(),
		Blueprints: selected, Snapshot: snap, IgnoreLines: ignore,
	})
	if !op.stored(ctx, &resp.Diagnostics, "Backup of "+op.client.Device(), err, res.LogoutFailed) {
		return
	}
	warnNotCompared(op.client.Device(), res.Blueprints, &resp.Diagnostics)
	resp.Diagnostics.Append(plan.fromBlueprints(res.Backup, res.Blueprints, true)...)
	skipped, diags := types.ListValueFrom(ctx, types.StringType, append([]string{}, res.SkippedCollections...))
	resp.Diagnostics.Append(diags...)
	plan.SkippedCollections = skipped
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	r.data.pruneAfterBackup(ctx, op.store, res.Backup, plan.Retention, &resp.Diagnostics)
}

// Read makes no server call: a backup is a fact of the past, and refresh must not log
// in to the server on every plan.
func (r *apstraBackupResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

// Update only records arguments that take no new backup (timeouts, retention).
func (r *apstraBackupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	recordUpdate(ctx, req, resp, func(plan, state *apstraBackupModel) {
		state.deviceTargetModel = plan.deviceTargetModel // timeouts and credentials (host and port replace the resource)
		state.Retention = plan.Retention                 // applies from the next backup on
		state.IgnoreLines = plan.IgnoreLines             // applies from the next backup on
	})
}

// Delete forgets the backup; its files stay in the backup store.
func (r *apstraBackupResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

// warnNotCompared says, in one warning, which deployed configurations could not be
// compared with the previous backup, and why.
func warnNotCompared(device string, bps []backupjob.ApstraBlueprint, diags *diag.Diagnostics) {
	const listed = 10
	var lines []string
	n := 0
	for _, bp := range bps {
		for _, d := range bp.Deployed {
			if d.Diff.Skipped == "" {
				continue
			}
			if n++; n <= listed {
				lines = append(lines, fmt.Sprintf("- %s (blueprint %s): %s", d.NodeID, bp.Label, d.Diff.Skipped))
			}
		}
	}
	if n == 0 {
		return
	}
	if n > listed {
		lines = append(lines, fmt.Sprintf("- and %d more", n-listed))
	}
	diags.AddWarning(fmt.Sprintf("%d deployed configurations of %s not compared with the previous backup", n, device),
		strings.Join(lines, "\n")+"\n\nThe backup is stored; for these devices changed compares SHA-256s, and lines_added and lines_removed are null. "+
			"The next backup is compared with this one.")
}

// apstraSnapshotFrom converts the snapshot object; nil when it is null or unknown.
func apstraSnapshotFrom(ctx context.Context, obj types.Object) (*apstraSnapshotModel, diag.Diagnostics) {
	if obj.IsNull() || obj.IsUnknown() {
		return nil, nil
	}
	var m apstraSnapshotModel
	diags := obj.As(ctx, &m, basetypes.ObjectAsOptions{})
	if diags.HasError() {
		return nil, diags
	}
	return &m, diags
}
