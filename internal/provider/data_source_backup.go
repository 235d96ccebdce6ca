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

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// backupDataSource is embedded by every data source: each reads the latest complete
// backup of one device of its kind from the backup store, found by the device's
// host or its folder name (lookupAttributes).
type backupDataSource struct {
	typeName string // after the provider's name: "ilo_backup" is infrabackup_ilo_backup
	kind     *deviceSettings
	data     *providerData // nil until the provider is configured
}

func (d *backupDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + d.typeName
}

func (d *backupDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *backupDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("host"), path.MatchRoot("name")),
	}
}

// lookupAttributes are the arguments a backup is found by, host or name, each
// described by the data source.
func lookupAttributes(host, name string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"host": schema.StringAttribute{
			MarkdownDescription: host,
			Optional:            true, Computed: true,
			Validators: []validator.String{hostValidator()},
		},
		"name": schema.StringAttribute{
			MarkdownDescription: name,
			Optional:            true, Computed: true,
			Validators: []validator.String{nameValidator()},
		},
	}
}

// latest finds the newest complete backup of the device by folder name or host; it
// returns false, having said where it looked in diags, when there is none.
func (d *backupDataSource) latest(ctx context.Context, name, host string, diags *diag.Diagnostics) (backupstore.Backup, bool) {
	b, err := latestBackup(ctx, d.data, d.kind.family, name, host)
	if err != nil {
		diags.AddError(fmt.Sprintf("No %s backup found", d.kind.label), err.Error())
		return b, false
	}
	return b, true
}

// latestBackup finds the newest complete backup of a device by folder name or host,
// with an error that says where it looked.
func latestBackup(ctx context.Context, data *providerData, family, name, host string) (backupstore.Backup, error) {
	store, err := data.Store()
	if err != nil {
		return backupstore.Backup{}, err
	}
	var b backupstore.Backup
	if name != "" {
		b, err = store.Latest(ctx, family, name)
	} else {
		b, err = store.LatestByHost(ctx, family, host)
	}
	if errors.Is(err, backupstore.ErrNoBackup) {
		who := fmt.Sprintf("name %q", name)
		if name == "" {
			who = fmt.Sprintf("host %q", host)
		}
		return b, fmt.Errorf("the backup store %s holds no complete %s backup for %s. Run the backup resource first "+
			"(a failed or interrupted backup is never listed), or check the provider's store settings (backup_dir, or s3 "+
			"bucket and key_prefix)", store.Location(), family, who)
	}
	return b, err
}
