package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

const defaultILOCreateTimeout = 30 * time.Minute

var _ resource.ResourceWithConfigure = (*iloBackupResource)(nil)

func newILOBackupResource() resource.Resource {
	return &iloBackupResource{resourceBase{typeName: "ilo_backup"}}
}

type iloBackupResource struct{ resourceBase }

// iloBackupModel is the resource infrabackup_ilo_backup.
type iloBackupModel struct {
	deviceTargetModel
	iloStoredBackupModel
	Trigger                 types.String `tfsdk:"trigger"`
	BackupPasswordWO        types.String `tfsdk:"backup_password_wo"`
	BackupPasswordWOVersion types.Int64  `tfsdk:"backup_password_wo_version"`
	DeviceFileLocation      types.String `tfsdk:"device_file_location"`
	Retention               types.Object `tfsdk:"retention"`
}

// fromRun fills the computed attributes from a finished backup.
func (m *iloBackupModel) fromRun(res backupjob.ILOResult) diag.Diagnostics {
	m.DeviceFileLocation = types.StringValue(res.DeviceFileLocation)
	return m.fromBackup(res.Backup)
}

// backupPasswordValidator checks a backup password against the iLO's limits; its
// errors never contain the password.
func backupPasswordValidator() validator.String {
	return stringCheck{
		description: fmt.Sprintf("at most %d characters, no control characters", redfish.MaxBackupPasswordLength),
		check:       redfish.ValidateBackupPassword,
	}
}

func (r *iloBackupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Backs up the configuration of one HPE iLO 5, 6 or 7 (user database, license keys, network and " +
			"security settings) when created, over Redfish: the iLO writes a backup file to its NAND, and the provider " +
			"downloads it, streaming, into the backup store (a local folder, files with mode 0600, or an S3 bucket; SHA-256 computed while downloading). " +
			"Change `trigger` to take a new backup. Refresh makes no device call; destroying the resource never deletes backups.\n\n" +
			"The backup file holds the iLO's user database and license keys: treat it as a secret. HPE supports restoring it " +
			"only onto the server it was taken from (same serial number). Backups of one iLO are taken one at a time " +
			"(the iLO keeps a single backup file in its NAND). " + failedBackupNote + deviceLockNote,
		Attributes: withAttributes(iloKind.targetAttributes("iLO host name or IP address."), iloStoredBackupModel{}.attributes(), map[string]schema.Attribute{
			"trigger": schema.StringAttribute{
				MarkdownDescription: "Any value; when it changes, a new backup is taken. Typically `time_rotating.weekly.id`, " +
					"or the iLO firmware version so a backup follows every firmware update (as HPE recommends).",
				Required:      true,
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: replace,
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Names the device's backup folder (`ilo/<name>/` in the store). Defaults to the server's " +
					"serial number as the iLO reports it (made safe for file names), so a server's backups stay together " +
					"when its iLO changes address, and a backup is easy to match with the only hardware it restores onto. " +
					"When the iLO reports no serial number, the host is used.",
				Optional:      true,
				Computed:      true,
				Validators:    []validator.String{nameValidator()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()},
			},
			"backup_password_wo": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Password the iLO encrypts the backup with (at most %d characters). "+
					"A protected backup restores only with the same password: keep it with the backup. "+
					"Write-only: never stored in state, plan or the backup record.", redfish.MaxBackupPasswordLength),
				Optional:   true,
				WriteOnly:  true,
				Sensitive:  true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), backupPasswordValidator()},
			},
			"backup_password_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Bump together with `backup_password_wo` to take a new backup protected by the new password " +
					"(write-only values are not compared between runs).",
				Optional:      true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"device_file_location": keptString("Where on the iLO the backup was downloaded from (a path on the iLO itself; any other location is refused)."),
			"retention":            resourceRetentionSchema(),
			"timeouts":             timeouts.Attributes(ctx, timeouts.Opts{Create: true, CreateDescription: "How long the whole backup, download included, may take. Default `30m`."}),
		}),
	}
}

func (r *iloBackupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan iloBackupModel
	var backupPassword types.String
	// The operation holds the iLO's lock: every read of its backup service replaces
	// the single backup file it keeps, so a concurrent read would break a download.
	ctx, op := iloKind.startCreate(ctx, r.data, req, resp, &plan, defaultILOCreateTimeout, needStore,
		writeOnlyArg{path.Root("backup_password_wo"), &backupPassword})
	if op == nil {
		return
	}
	defer op.end()
	res, err := backupjob.RunILO(ctx, op.store, backupjob.ILORequest{
		ILO: op.client, Target: op.target(r.data), Name: plan.Name.ValueString(),
		BackupPassword: backupPassword.ValueString(),
	})
	if !op.stored(ctx, &resp.Diagnostics, "Backup of iLO "+op.client.Device(), err, res.LogoutFailed) {
		return
	}
	resp.Diagnostics.Append(plan.fromRun(res)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	r.data.pruneAfterBackup(ctx, op.store, res.Backup, plan.Retention, &resp.Diagnostics)
}

// Read makes no device call: a backup is a fact of the past, and refresh must not log
// in to every iLO (nor make it write a backup to its NAND) on every plan.
// The framework hands the prior state back unchanged, which is all there is to do.
func (r *iloBackupResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

// Update only records arguments that take no new backup (credentials, timeouts, retention).
func (r *iloBackupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	recordUpdate(ctx, req, resp, func(plan, state *iloBackupModel) {
		state.deviceTargetModel = plan.deviceTargetModel // timeouts and credentials (host and port replace the resource)
		state.Retention = plan.Retention                 // applies from the next backup on
	})
}

// Delete forgets the backup; the file stays in the backup store.
func (r *iloBackupResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}
