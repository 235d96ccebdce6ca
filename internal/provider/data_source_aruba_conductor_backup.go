package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/datasourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

var (
	_ datasource.DataSourceWithConfigure        = (*arubaConductorBackupDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*arubaConductorBackupDataSource)(nil)
)

func newArubaConductorBackupDataSource() datasource.DataSource {
	return &arubaConductorBackupDataSource{}
}

type arubaConductorBackupDataSource struct{ data *providerData }

type arubaBackupDataModel struct {
	arubaStoredBackupModel
	Host                types.String `tfsdk:"host"`
	Port                types.Int64  `tfsdk:"port"`
	RunningConfigSHA256 types.String `tfsdk:"running_config_sha256"`
	RemoteLocations     types.List   `tfsdk:"remote_locations"`
}

func (d *arubaConductorBackupDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_aruba_conductor_backup"
}

func (d *arubaConductorBackupDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The latest complete backup of one Aruba Mobility Conductor in the local backup store. " +
			"Reads only local files: no device call. Give `host` or `name`.",
		Attributes: map[string]schema.Attribute{
			"host": schema.StringAttribute{
				MarkdownDescription: "The conductor's host as given to `infrabackup_aruba_conductor_backup`.",
				Optional:            true, Computed: true,
				Validators: []validator.String{hostValidator()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The device's backup folder name (the resource's `name`).",
				Optional:            true, Computed: true,
				Validators: []validator.String{nameValidator()},
			},
			"id":                    schema.StringAttribute{Computed: true, MarkdownDescription: "`<name>/<backup id>`."},
			"port":                  schema.Int64Attribute{Computed: true, MarkdownDescription: "API port the backup used."},
			"started_at":            schema.StringAttribute{Computed: true, MarkdownDescription: "When the backup started (RFC 3339, UTC)."},
			"completed_at":          schema.StringAttribute{Computed: true, MarkdownDescription: "When the backup completed (RFC 3339, UTC)."},
			"running_config_path":   schema.StringAttribute{Computed: true, MarkdownDescription: "Local path of the running configuration copy."},
			"running_config_sha256": schema.StringAttribute{Computed: true, MarkdownDescription: "SHA-256 of the running configuration copy."},
			"remote_locations": schema.ListAttribute{
				Computed: true, ElementType: types.StringType,
				MarkdownDescription: "`scp://` locations of the files pushed to the SCP server.",
			},
			"files": schema.ListNestedAttribute{
				Computed: true, MarkdownDescription: "Every file of the backup.",
				NestedObject: schema.NestedAttributeObject{Attributes: dataFileAttributes()},
			},
		},
	}
}

func (d *arubaConductorBackupDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("host"), path.MatchRoot("name")),
	}
}

func (d *arubaConductorBackupDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *arubaConductorBackupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m arubaBackupDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	b, err := latestBackup(d.data, backupstore.FamilyAruba, m.Name.ValueString(), m.Host.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("No conductor backup found", err.Error())
		return
	}
	m.Host = types.StringValue(b.Host)
	m.Port = types.Int64Value(int64(b.Port))
	resp.Diagnostics.Append(m.fromBackup(b)...)
	m.RunningConfigSHA256 = types.StringNull()
	if f, ok := b.File(backupjob.KindRunningConfig); ok {
		m.RunningConfigSHA256 = types.StringValue(f.SHA256)
	}
	remote := []string{}
	for _, f := range b.Files {
		if f.Location != "" {
			remote = append(remote, f.Location)
		}
	}
	var diags diag.Diagnostics
	m.RemoteLocations, diags = types.ListValueFrom(ctx, types.StringType, remote)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// latestBackup finds the newest complete backup of a device by folder name or host,
// with an error that says where it looked.
func latestBackup(data *providerData, family, name, host string) (backupstore.Backup, error) {
	store, err := data.Store()
	if err != nil {
		return backupstore.Backup{}, err
	}
	var b backupstore.Backup
	if name != "" {
		b, err = store.Latest(family, name)
	} else {
		b, err = store.LatestByHost(family, host)
	}
	if errors.Is(err, backupstore.ErrNoBackup) {
		who := fmt.Sprintf("name %q", name)
		if name == "" {
			who = fmt.Sprintf("host %q", host)
		}
		return b, fmt.Errorf("the local backup store %s holds no complete %s backup for %s. Run the backup resource first "+
			"(a failed or interrupted backup is never listed), or check backup_dir", store.Root(), family, who)
	}
	return b, err
}
