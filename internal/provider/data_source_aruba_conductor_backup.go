package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
)

var (
	_ datasource.DataSourceWithConfigure        = (*arubaConductorBackupDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*arubaConductorBackupDataSource)(nil)
)

func newArubaConductorBackupDataSource() datasource.DataSource {
	return &arubaConductorBackupDataSource{backupDataSource{typeName: "aruba_conductor_backup", kind: &arubaKind.deviceSettings}}
}

type arubaConductorBackupDataSource struct{ backupDataSource }

// arubaBackupDataModel is the data source infrabackup_aruba_conductor_backup.
type arubaBackupDataModel struct {
	arubaStoredBackupModel
	Host                types.String `tfsdk:"host"`
	Port                types.Int64  `tfsdk:"port"`
	RunningConfigSHA256 types.String `tfsdk:"running_config_sha256"`
	RemoteLocations     types.List   `tfsdk:"remote_locations"`
}

func (d *arubaConductorBackupDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The latest complete backup of one Aruba Mobility Conductor in the backup store the provider " +
			"is configured with (a local folder or an S3 bucket, which another configuration or runner may have written). " +
			"Reads only the store: no device call. Give `host` or `name`.",
		Attributes: withAttributes(dataSourceAttributes(arubaStoredBackupModel{}.attributes()), lookupAttributes(
			"The conductor's host as given to `infrabackup_aruba_conductor_backup`.",
			"The device's backup folder name (the resource's `name`).",
		), map[string]schema.Attribute{
			"port":                  schema.Int64Attribute{Computed: true, MarkdownDescription: "API port the backup used."},
			"running_config_sha256": schema.StringAttribute{Computed: true, MarkdownDescription: "SHA-256 of the running configuration copy."},
			"remote_locations": schema.ListAttribute{
				Computed: true, ElementType: types.StringType,
				MarkdownDescription: "`scp://` locations of the files pushed to the SCP server.",
			},
		}),
	}
}

func (d *arubaConductorBackupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m arubaBackupDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	b, found := d.latest(ctx, m.Name.ValueString(), m.Host.ValueString(), &resp.Diagnostics)
	if !found {
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
