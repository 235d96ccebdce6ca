package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
)

var (
	_ datasource.DataSourceWithConfigure        = (*apstraBackupDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*apstraBackupDataSource)(nil)
)

func newApstraBackupDataSource() datasource.DataSource {
	return &apstraBackupDataSource{backupDataSource{typeName: "apstra_backup", kind: &apstraKind.deviceSettings}}
}

type apstraBackupDataSource struct{ backupDataSource }

// apstraBackupDataModel is the data source infrabackup_apstra_backup.
type apstraBackupDataModel struct {
	apstraStoredBackupModel
	Host types.String `tfsdk:"host"`
	Port types.Int64  `tfsdk:"port"`
}

func (d *apstraBackupDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The latest complete backup of one Juniper Apstra server in the backup store the provider is configured " +
			"with (a local folder or an S3 bucket, which another configuration or runner may have written), with the key (and local " +
			"path) of each blueprint's graph export and of each device's deployed configuration. Reads only the store: no server call. " +
			"Give `host` or `name`.",
		Attributes: withAttributes(dataSourceAttributes(apstraStoredBackupModel{}.attributes(false)), lookupAttributes(
			"The server's host as given to `infrabackup_apstra_backup`.",
			"The server's backup folder name (the resource's `name`).",
		), map[string]schema.Attribute{
			"port": schema.Int64Attribute{Computed: true, MarkdownDescription: "API port the backup used."},
		}),
	}
}

func (d *apstraBackupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m apstraBackupDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	b, found := d.latest(ctx, m.Name.ValueString(), m.Host.ValueString(), &resp.Diagnostics)
	if !found {
		return
	}
	bps, err := backupjob.ApstraBlueprints(b)
	if err != nil {
		resp.Diagnostics.AddError("Unreadable Apstra backup record", err.Error())
		return
	}
	m.Host = types.StringValue(b.Host)
	m.Port = types.Int64Value(int64(b.Port))
	resp.Diagnostics.Append(m.fromBlueprints(b, bps, false)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
