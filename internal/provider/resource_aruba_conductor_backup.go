package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
)

const defaultArubaCreateTimeout = 30 * time.Minute

const copyToStoreDescription = "Copy every file the conductor pushed (its flash archive and its saved running configuration) into the backup store " +
	"(`backup_dir` or the S3 bucket), beside the running configuration, so that the store holds the device's complete backup. Default `true` (`false` with `verify = false`). " +
	"The copy is made from the same SFTP read that verifies the file (each file is read once, hashed and streamed into the store), " +
	"and `files` lists it (kinds `flash-archive` and `running-config-flash`) with its key and a SHA-256 equal to the one verified on the SCP server. " +
	"Its cost: store space for every archive (often tens of MB per backup, kept as long as retention keeps the backup) and, with an S3 store, " +
	"the upload of every archive from the machine running Terraform. A failed copy fails the backup, which then leaves no file in the store. " +
	"Needs `verify` (the copy is read over SFTP): its default is `verify`'s value, and `copy_to_store = true` with `verify = false` is refused."

const flashBackupDescription = "Also archive the conductor's flash (`flash_backup`) and push it to the SCP server. Default `true` when `scp` is set; needs `scp` (there is no other way to get the archive off the device). " +
	"**Deletes every tar file on the conductor's flash**: the archive is removed afterwards with `tar_flash_clean` (AOS has no command to delete one chosen file), " +
	"which also deletes archives an administrator made there. The plan warns about it."

var (
	_ resource.ResourceWithConfigure      = (*arubaConductorBackupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*arubaConductorBackupResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*arubaConductorBackupResource)(nil)
)

func newArubaConductorBackupResource() resource.Resource {
	return &arubaConductorBackupResource{resourceBase{typeName: "aruba_conductor_backup"}}
}

type arubaConductorBackupResource struct{ resourceBase }

// arubaBackupModel is the resource infrabackup_aruba_conductor_backup.
type arubaBackupModel struct {
	deviceTargetModel
	arubaStoredBackupModel
	Trigger              types.String `tfsdk:"trigger"`
	ConfigPath           types.String `tfsdk:"config_path"`
	FlashBackup          types.Bool   `tfsdk:"flash_backup"`
	SCP                  types.Object `tfsdk:"scp"`
	Hostname             types.String `tfsdk:"hostname"`
	RunningConfigChanged types.Bool   `tfsdk:"running_config_changed"`
	IgnoreLines          types.List   `tfsdk:"ignore_lines"`
	LinesAdded           types.Int64  `tfsdk:"lines_added"`
	LinesRemoved         types.Int64  `tfsdk:"lines_removed"`
	Retention            types.Object `tfsdk:"retention"`
}

// fromRun fills the computed attributes from a finished backup.
func (m *arubaBackupModel) fromRun(res backupjob.ArubaResult) diag.Diagnostics {
	m.Hostname = optionalString(res.Hostname)
	m.RunningConfigChanged = types.BoolValue(res.RunningConfigChanged)
	m.LinesAdded, m.LinesRemoved = types.Int64Null(), types.Int64Null()
	if d := res.ConfigDiff; d.Compared {
		m.LinesAdded, m.LinesRemoved = types.Int64Value(int64(d.Added)), types.Int64Value(int64(d.Removed))
	}
	return m.fromBackup(res.Backup)
}

// arubaSCPModel is its scp block.
type arubaSCPModel struct {
	Host              types.String `tfsdk:"host"`
	Port              types.Int64  `tfsdk:"port"`
	Username          types.String `tfsdk:"username"`
	PasswordWO        types.String `tfsdk:"password_wo"`
	PasswordWOVersion types.Int64  `tfsdk:"password_wo_version"`
	RemoteDir         types.String `tfsdk:"remote_dir"`
	Verify            types.Bool   `tfsdk:"verify"`
	CopyToStore       types.Bool   `tfsdk:"copy_to_store"`
	sshHostKeyModel
}

func (r *arubaConductorBackupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Backs up one Aruba Mobility Conductor (ArubaOS 8) when created: its running configuration " +
			"to the backup store (a local folder or an S3 bucket), and with an `scp` block its running configuration and flash archive to an SCP server, " +
			"verified over SFTP. Change `trigger` to take a new backup. Destroying the resource never deletes backups.\n\n" +
			"The provider saves the running configuration and the flash archive under fixed names on the conductor's flash " +
			"before pushing them, so backups of one conductor must not overlap. " + failedBackupNote + deviceLockNote +
			"\n\n" + "With `flash_backup` (on by default with `scp`), each backup **deletes every tar file on the conductor's flash**, " +
			"archives an administrator made there included: see `flash_backup`.",
		Attributes: withAttributes(arubaKind.targetAttributes("Conductor host name or IP address."), arubaStoredBackupModel{}.attributes(), map[string]schema.Attribute{
			"trigger": schema.StringAttribute{
				MarkdownDescription: "Any value; when it changes, a new backup is taken. Typically `time_rotating.weekly.id` or a `plantimestamp()` kept in `terraform_data`.",
				Required:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers:       replace,
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Names the device's backup folder and file names. Defaults to the conductor's hostname (made safe for file names).",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{nameValidator()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()},
			},
			"config_path": schema.StringAttribute{
				MarkdownDescription: "Configuration node the actions run at. Default `/md`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("/md"),
				Validators:          []validator.String{configPathValidator()},
				PlanModifiers:       replace,
			},
			"flash_backup": schema.BoolAttribute{
				MarkdownDescription: flashBackupDescription,
				Optional:            true,
				Computed:            true,
				PlanModifiers:       []planmodifier.Bool{boolplanmodifier.UseStateForUnknown(), boolplanmodifier.RequiresReplace()},
			},
			"scp": schema.SingleNestedAttribute{
				MarkdownDescription: "SCP server the conductor pushes its files to. The conductor uploads to port 22; the provider then checks the files over SFTP.",
				Optional:            true,
				PlanModifiers:       []planmodifier.Object{objectplanmodifier.RequiresReplaceIf(scpNeedsReplace, "Changing the SCP server takes a new backup.", "Changing the SCP server takes a new backup.")},
				Attributes: withAttributes(sshHostKeyAttributes("The SCP server's", "for verification", "Verify"), map[string]schema.Attribute{
					"host": schema.StringAttribute{
						MarkdownDescription: "SCP server name or address. A name is resolved by the provider (at plan and again at apply): the conductor API accepts only addresses.",
						Required:            true,
						Validators:          []validator.String{hostValidator()},
					},
					"port": schema.Int64Attribute{
						MarkdownDescription: "SSH port the provider verifies uploads on. Default 22 (conductors always upload to 22).",
						Optional:            true,
						Computed:            true,
						Default:             int64default.StaticInt64(22),
						Validators:          []validator.Int64{int64validator.Between(1, 65535)},
					},
					"username": schema.StringAttribute{
						MarkdownDescription: "SCP user.",
						Required:            true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"password_wo": schema.StringAttribute{
						MarkdownDescription: "SCP password. Write-only: never stored in state or plan.",
						Required:            true,
						WriteOnly:           true,
						Sensitive:           true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"password_wo_version": schema.Int64Attribute{
						MarkdownDescription: "Bump to record that `password_wo` changed (write-only values are not compared between runs).",
						Optional:            true,
					},
					"remote_dir": schema.StringAttribute{
						MarkdownDescription: "Existing folder, relative to the SCP user's home, that receives the files. Default: the home itself.",
						Optional:            true,
						Computed:            true,
						Default:             stringdefault.StaticString(""),
						Validators:          []validator.String{relativeDirValidator()},
					},
					"verify": schema.BoolAttribute{
						MarkdownDescription: "Check over SFTP that every file arrived with a plausible size and record its SHA-256. Default `true`.",
						Optional:            true,
						Computed:            true,
						Default:             booldefault.StaticBool(true),
					},
					"copy_to_store": schema.BoolAttribute{
						MarkdownDescription: copyToStoreDescription,
						Optional:            true,
						Computed:            true,
						PlanModifiers:       []planmodifier.Bool{followsVerify{}},
					},
				}),
			},
			"hostname": keptString("The conductor's hostname, when it was read (when `name` is not set)."),
			"running_config_changed": schema.BoolAttribute{
				MarkdownDescription: "Whether the running configuration differs from the previous backup of this device in the store (`true` for the first one), " +
					"in a line that `ignore_lines` does not match.",
				Computed:      true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
			},
			"ignore_lines": ignoreLinesAttribute("running-configuration", "^! Configuration generated ", "`running_config_changed`"),
			"lines_added": schema.Int64Attribute{
				MarkdownDescription: "Lines of the running configuration that are new since the device's previous backup (`ignore_lines` left out); " +
					"null for a first backup or when the previous one could not be compared (a warning says why).",
				Computed:      true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"lines_removed": schema.Int64Attribute{
				MarkdownDescription: "Lines of the previous backup's running configuration that are gone (`ignore_lines` left out); null when `lines_added` is.",
				Computed:            true,
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"retention": resourceRetentionSchema(),
			"timeouts":  timeouts.Attributes(ctx, timeouts.Opts{Create: true, CreateDescription: "How long the whole backup may take. Default `30m`."}),
		}),
	}
}

func (r *arubaConductorBackupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m arubaBackupModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.FlashBackup.ValueBool() && m.SCP.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("flash_backup"), "flash_backup needs an scp block",
			"A flash archive can only leave the conductor through its SCP client: add an scp block, or set flash_backup = false.")
	}
	if scp, diags := scpFrom(ctx, m.SCP); scp != nil {
		validateSCPHostKey(scp, &resp.Diagnostics)
		if scp.Verify.Equal(types.BoolValue(false)) && scp.CopyToStore.Equal(types.BoolValue(true)) {
			resp.Diagnostics.AddAttributeError(path.Root("scp").AtName("copy_to_store"), "copy_to_store needs verify",
				"The files the conductor pushed are copied into the backup store from the SFTP read that verifies them, and verify = false turns that read off. "+
					"Remove copy_to_store = true to keep the files only on the SCP server, or remove verify = false.")
		}
	} else {
		resp.Diagnostics.Append(diags...)
	}
}

func (r *arubaConductorBackupResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() && len(resp.RequiresReplace) == 0 {
		return // destroy, or an update that takes no new backup
	}
	var m arubaBackupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.FlashBackup.IsUnknown() && !m.SCP.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("flash_backup"), !m.SCP.IsNull())...)
	}
	if m.FlashBackup.ValueBool() || m.FlashBackup.IsUnknown() && !m.SCP.IsNull() && !m.SCP.IsUnknown() {
		warnFlashClean(m.Host, &resp.Diagnostics)
	}
	scp, diags := scpFrom(ctx, m.SCP)
	resp.Diagnostics.Append(diags...)
	if scp != nil && !scp.Host.IsUnknown() {
		if _, err := backupjob.ResolveSCPHost(ctx, scp.Host.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("scp").AtName("host"), "Unknown SCP host",
				fmt.Sprintf("The SCP server %q cannot be resolved to an address (%v). The conductor API accepts only addresses: give an IP address or a name this machine can resolve.", scp.Host.ValueString(), err))
		}
	}
}

func (r *arubaConductorBackupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan arubaBackupModel
	var scpPassword types.String
	ctx, op := arubaKind.startCreate(ctx, r.data, req, resp, &plan, defaultArubaCreateTimeout, needStore,
		writeOnlyArg{path.Root("scp").AtName("password_wo"), &scpPassword})
	if op == nil {
		return
	}
	defer op.end()
	planSCP, diags := scpFrom(ctx, plan.SCP)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	var scp *backupjob.ArubaSCP
	if planSCP != nil {
		scp = &backupjob.ArubaSCP{
			Host: planSCP.Host.ValueString(), Port: int(planSCP.Port.ValueInt64()),
			Username: planSCP.Username.ValueString(), Password: scpPassword.ValueString(),
			RemoteDir: planSCP.RemoteDir.ValueString(), Verify: planSCP.Verify.ValueBool(), CopyToStore: planSCP.CopyToStore.ValueBool(),
			HostKey: planSCP.HostKey.ValueString(), HostKeyFingerprint: planSCP.HostKeyFingerprint.ValueString(),
			InsecureIgnoreHostKey: planSCP.InsecureIgnoreHostKey.ValueBool(),
		}
	}
	ignore, diags := compileIgnoreLines(ctx, plan.IgnoreLines)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	flash := plan.FlashBackup.ValueBool()
	if plan.FlashBackup.IsUnknown() || plan.FlashBackup.IsNull() {
		flash = scp != nil
	}
	res, err := backupjob.RunAruba(ctx, op.store, backupjob.ArubaRequest{
		Conductor: op.client, Target: op.target(r.data), Name: plan.Name.ValueString(),
		ConfigPath: plan.ConfigPath.ValueString(), FlashBackup: flash, SCP: scp, IgnoreLines: ignore,
	})
	if !op.stored(ctx, &resp.Diagnostics, "Backup of conductor "+op.host, err, res.LogoutFailed) {
		return
	}
	plan.FlashBackup = types.BoolValue(flash)
	if why := res.ConfigDiff.Skipped; why != "" {
		resp.Diagnostics.AddWarning("Running configuration of conductor "+op.host+" not compared with its previous backup",
			why+". The backup is stored; running_config_changed compares SHA-256s, and lines_added and lines_removed are null. "+
				"The next backup is compared with this one.")
	}
	resp.Diagnostics.Append(plan.fromRun(res)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	r.data.pruneAfterBackup(ctx, op.store, res.Backup, plan.Retention, &resp.Diagnostics)
}

// Read makes no device call: a backup is a fact of the past, and refresh must not log
// in to every device on every plan.
// The framework hands the prior state back unchanged, which is all there is to do.
func (r *arubaConductorBackupResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {
}

// Update only records arguments that take no new backup (credentials, password_wo_version, timeouts,
// retention).
func (r *arubaConductorBackupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	recordUpdate(ctx, req, resp, func(plan, state *arubaBackupModel) {
		state.deviceTargetModel = plan.deviceTargetModel // timeouts and credentials (host and port replace the resource)
		state.Retention = plan.Retention                 // applies from the next backup on
		state.SCP = plan.SCP                             // differs from state only in password_wo_version (anything else replaces)
		state.IgnoreLines = plan.IgnoreLines             // applies from the next backup on
	})
}

// Delete forgets the backup; the files stay where they were written.
func (r *arubaConductorBackupResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

// warnFlashClean says in the plan that the backup deletes every tar file on the
// conductor's flash: AOS has no command to delete one chosen file.
func warnFlashClean(host types.String, diags *diag.Diagnostics) {
	name := "the conductor"
	if !host.IsUnknown() && !host.IsNull() {
		name = "conductor " + host.ValueString()
	}
	diags.AddAttributeWarning(path.Root("flash_backup"),
		fmt.Sprintf("The backup of %s deletes every tar file on its flash", name),
		"With flash_backup on, the backup ends with the conductor's tar_flash_clean command (AOS has no command to delete one chosen file), "+
			"which deletes every tar file on the flash: archives an administrator made (e.g. with backup flash or before an upgrade) are deleted too, "+
			"not only the one this backup made. Copy any archive you want to keep off the flash before applying, or set flash_backup = false.")
}

// scpFrom converts the scp object; nil when it is null or not yet known.
func scpFrom(ctx context.Context, obj types.Object) (*arubaSCPModel, diag.Diagnostics) {
	if obj.IsNull() || obj.IsUnknown() {
		return nil, nil
	}
	var m arubaSCPModel
	diags := obj.As(ctx, &m, basetypes.ObjectAsOptions{})
	if diags.HasError() {
		return nil, diags
	}
	return &m, diags
}

// scpNeedsReplace takes a new backup when the SCP destination changes, but not when
// only password_wo_version does.
func scpNeedsReplace(ctx context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
	if req.StateValue.IsNull() != req.PlanValue.IsNull() {
		resp.RequiresReplace = true
		return
	}
	stateAttrs, planAttrs := req.StateValue.Attributes(), req.PlanValue.Attributes()
	for name, pv := range planAttrs {
		if name == "password_wo_version" || name == "password_wo" {
			continue
		}
		if name == "copy_to_store" && pv.IsUnknown() {
			continue // unset, it follows verify, which is compared itself
		}
		if sv, ok := stateAttrs[name]; !ok || !sv.Equal(pv) {
			resp.RequiresReplace = true
			return
		}
	}
}

// followsVerify gives scp.copy_to_store, when it is not set, the value of
// scp.verify: the copy is made from the read that verifies.
type followsVerify struct{}

func (followsVerify) Description(context.Context) string {
	return "defaults to the value of verify"
}

func (f followsVerify) MarkdownDescription(ctx context.Context) string { return f.Description(ctx) }

func (followsVerify) PlanModifyBool(ctx context.Context, req planmodifier.BoolRequest, resp *planmodifier.BoolResponse) {
	if !req.ConfigValue.IsNull() {
		return
	}
	var verify types.Bool
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, req.Path.ParentPath().AtName("verify"), &verify)...)
	if resp.Diagnostics.HasError() || verify.IsUnknown() {
		return
	}
	resp.PlanValue = types.BoolValue(verify.IsNull() || verify.ValueBool())
}
