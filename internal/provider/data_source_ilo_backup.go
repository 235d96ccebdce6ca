package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/datasource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

var (
	_ datasource.DataSourceWithConfigure        = (*iloBackupDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*iloBackupDataSource)(nil)
	_ datasource.DataSourceWithValidateConfig   = (*iloBackupDataSource)(nil)
)

// defaultILOQueryTimeout bounds the data source's read, query_device included.
const defaultILOQueryTimeout = 2 * time.Minute

func newILOBackupDataSource() datasource.DataSource {
	return &iloBackupDataSource{backupDataSource{typeName: "ilo_backup", kind: &iloKind.deviceSettings}}
}

type iloBackupDataSource struct{ backupDataSource }

// iloBackupDataModel is the data source infrabackup_ilo_backup.
type iloBackupDataModel struct {
	iloStoredBackupModel
	Host                   types.String   `tfsdk:"host"`
	QueryDevice            types.Bool     `tfsdk:"query_device"`
	Port                   types.Int64    `tfsdk:"port"`
	HTTPPushURI            types.String   `tfsdk:"http_push_uri"`
	CustomBackupAndRestore types.Bool     `tfsdk:"custom_backup_and_restore"`
	BackupFileCount        types.Int64    `tfsdk:"backup_file_count"`
	Timeouts               timeouts.Value `tfsdk:"timeouts"`
}

func (d *iloBackupDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The latest complete backup of one HPE iLO in the backup store the provider is configured " +
			"with (a local folder or an S3 bucket, which another configuration or runner may have written). Give `host` or " +
			"`name`. By default it reads only the store and makes no device call.\n\n" +
			"With `query_device = true` it also logs in to the iLO and reads its backup and restore service " +
			"(`HttpPushUri`, `CustomBackupandRestore`, the number of backup files). **Reading that service makes the iLO " +
			"write a fresh backup file to its NAND** (replacing the one it holds): that is how an iLO triggers a backup, and " +
			"there is no way to read the service without it. A data source is read on every plan, so only turn " +
			"`query_device` on where that is acceptable.\n\n" +
			"`query_device` logs in to the iLO named by this data source's own `host` and `port` arguments, never to a " +
			"host or port a backup record names: the records in a shared backup store are not trusted with the iLO " +
			"credentials. It therefore needs `host`.",
		Attributes: withAttributes(dataSourceAttributes(iloStoredBackupModel{}.attributes()), lookupAttributes(
			"The iLO's host as given to `infrabackup_ilo_backup` (compared case-insensitively; the port is not compared, "+
				"so when several iLOs share a host behind different ports, look them up by `name`).",
			"The device's backup folder name (the resource's `name`; by default the server's serial number).",
		), map[string]schema.Attribute{
			"query_device": schema.BoolAttribute{
				MarkdownDescription: "Also read the live backup and restore service from the iLO at `host` and `port` " +
					"(needs `host`), filling `http_push_uri`, `custom_backup_and_restore` and `backup_file_count`. " +
					"**The iLO writes a fresh backup to its NAND on every such read.** Default `false`.",
				Optional: true,
			},
			"port": schema.Int64Attribute{
				Optional: true, Computed: true,
				MarkdownDescription: "The iLO's HTTPS port that `query_device` connects to (default: the provider's `ilo.port`). " +
					"When not set, it reports the port the backup was taken on; that port is never connected to.",
				Validators: []validator.Int64{int64validator.Between(1, 65535)},
			},
			"http_push_uri": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "With `query_device`: where the iLO accepts restore uploads (`HttpPushUri`, e.g. `/cgi-bin/uploadRestoreFile`); null otherwise.",
			},
			"custom_backup_and_restore": schema.BoolAttribute{
				Computed:            true,
				MarkdownDescription: "With `query_device`: the iLO's `CustomBackupandRestore` flag; null otherwise, and when the firmware lacks it (iLO 5 before 2.72).",
			},
			"backup_file_count": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "With `query_device`: how many backup files the iLO holds in its NAND (it keeps one; the read itself makes a new one); null otherwise, and when the iLO does not answer for its `BackupFiles` collection (a warning says why; the other attributes are still read).",
			},
			"timeouts": timeouts.AttributesWithOpts(ctx, timeouts.Opts{
				ReadDescription: "How long the read, `query_device` included, may take. Default `2m`.",
			}),
		}),
	}
}

// ValidateConfig refuses query_device without host: the only other host known would
// be a backup record's, and records are not trusted with the iLO credentials.
func (d *iloBackupDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	var m iloBackupDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.QueryDevice.ValueBool() && m.Host.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("query_device"), "query_device needs host",
			"query_device logs in to the iLO this data source names in host (and port), never to one a backup record names: "+
				"records in a shared backup store are not trusted with the iLO credentials. Look the backup up by host "+
				"(and set port when the iLO does not listen on the provider's ilo.port), or turn query_device off.")
	}
}

func (d *iloBackupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m iloBackupDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	limit, diags := m.Timeouts.Read(ctx, defaultILOQueryTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	b, found := d.latest(ctx, m.Name.ValueString(), m.Host.ValueString(), &resp.Diagnostics)
	if !found {
		return
	}
	configuredHost, configuredPort := m.Host.ValueString(), m.Port
	if m.Host.IsNull() {
		m.Host = types.StringValue(b.Host)
	}
	if m.Port.IsNull() || m.Port.IsUnknown() {
		m.Port = types.Int64Value(int64(b.Port))
	}
	resp.Diagnostics.Append(m.fromBackup(b)...)
	m.HTTPPushURI, m.CustomBackupAndRestore, m.BackupFileCount = types.StringNull(), types.BoolNull(), types.Int64Null()
	if m.QueryDevice.ValueBool() {
		// Only the configured host is contacted (ValidateConfig requires it); a record
		// found for it names the same host, or something is wrong with the store.
		if configuredHost == "" || !strings.EqualFold(configuredHost, b.Host) {
			resp.Diagnostics.AddError("query_device needs host",
				fmt.Sprintf("The backup record names host %q, not the configured host %q; no iLO was contacted. "+
					"query_device logs in only to the iLO named in host.", b.Host, configuredHost))
			return
		}
		if !d.queryService(ctx, &m, configuredHost, configuredPort, deadline{"read", limit}, &resp.Diagnostics) {
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// queryService reads the live backup service of the iLO at host and port (which
// makes the iLO write a backup to its NAND) and counts its backup files, in one
// session, into m. The count is optional: when it cannot be read, a warning says
// why. It returns false when the service could not be read.
func (d *iloBackupDataSource) queryService(ctx context.Context, m *iloBackupDataModel, host string, port types.Int64, t deadline, diags *diag.Diagnostics) bool {
	ctx, op, startDiags := iloKind.start(ctx, d.data, opSpec{host: host, port: port, timeout: t})
	diags.Append(startDiags...)
	if op == nil {
		return false
	}
	defer op.end()
	var svc redfish.BackupService
	count, countWarning := -1, ""
	err := op.inSession(ctx, func(ctx context.Context, rc *redfish.Client) error {
		var err error
		if svc, err = rc.ReadBackupService(ctx); err != nil {
			return err
		}
		var countErr error
		if count, countErr = rc.CountBackupFiles(ctx, svc); countErr != nil {
			countWarning = operationError(ctx, countErr) + " (the other attributes were read)"
		}
		return nil
	})
	device := op.client.Device()
	if err != nil {
		diags.AddError(fmt.Sprintf("Reading the backup service of iLO %s failed", device), op.explain(ctx, err))
		return false
	}
	m.HTTPPushURI = types.StringValue(svc.HttpPushUri)
	if svc.CustomBackupAndRestore != nil {
		m.CustomBackupAndRestore = types.BoolValue(*svc.CustomBackupAndRestore)
	}
	if countWarning != "" { // the count is information only: it never fails the read
		diags.AddWarning(fmt.Sprintf("backup_file_count of iLO %s is unknown", device), countWarning)
	} else if count >= 0 {
		m.BackupFileCount = types.Int64Value(int64(count))
	}
	return true
}
