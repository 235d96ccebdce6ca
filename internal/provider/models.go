package provider

import (
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// The attributes a backup resource and its data source both report about a stored
// backup are one model, embedded in both, with one mapping from the store's record:
// the resource fills them from the backup it just took, the data source from the
// latest one in the store.

// storedBackupModel is what every backup resource and data source reports.
type storedBackupModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	StartedAt   types.String `tfsdk:"started_at"`
	CompletedAt types.String `tfsdk:"completed_at"`
	Files       types.List   `tfsdk:"files"`
}

func (m *storedBackupModel) fromBackup(b backupstore.Backup) diag.Diagnostics {
	m.ID = types.StringValue(b.Device + "/" + b.ID)
	m.Name = types.StringValue(b.Device)
	m.StartedAt = formatTime(b.StartedAt)
	m.CompletedAt = formatTime(b.CompletedAt)
	files, diags := filesValue(b.Files)
	m.Files = files
	return diags
}

// arubaStoredBackupModel is what infrabackup_aruba_conductor_backup and its data
// source report about a conductor backup.
type arubaStoredBackupModel struct {
	storedBackupModel
	RunningConfigPath types.String `tfsdk:"running_config_path"`
}

func (m *arubaStoredBackupModel) fromBackup(b backupstore.Backup) diag.Diagnostics {
	m.RunningConfigPath = types.StringNull()
	if f, ok := b.File(backupjob.KindRunningConfig); ok {
		m.RunningConfigPath = types.StringValue(f.Path)
	}
	return m.storedBackupModel.fromBackup(b)
}

// iloStoredBackupModel is what infrabackup_ilo_backup and its data source report
// about an iLO backup.
type iloStoredBackupModel struct {
	storedBackupModel
	LocalPath         types.String `tfsdk:"local_path"`
	SHA256            types.String `tfsdk:"sha256"`
	Size              types.Int64  `tfsdk:"size"`
	SerialNumber      types.String `tfsdk:"serial_number"`
	Generation        types.String `tfsdk:"generation"`
	FirmwareVersion   types.String `tfsdk:"firmware_version"`
	DeviceFileName    types.String `tfsdk:"device_file_name"`
	PasswordProtected types.Bool   `tfsdk:"password_protected"`
}

func (m *iloStoredBackupModel) fromBackup(b backupstore.Backup) diag.Diagnostics {
	a := b.Attributes
	m.SerialNumber = types.StringValue(a[backupjob.AttrSerial])
	m.Generation = types.StringValue(a[backupjob.AttrGeneration])
	m.FirmwareVersion = types.StringValue(a[backupjob.AttrFirmware])
	m.DeviceFileName = types.StringValue(a[backupjob.AttrDeviceFileName])
	protected, _ := strconv.ParseBool(a[backupjob.AttrProtected]) // absent or unreadable: not protected
	m.PasswordProtected = types.BoolValue(protected)
	m.LocalPath, m.SHA256, m.Size = types.StringNull(), types.StringNull(), types.Int64Null()
	if f, ok := b.File(backupjob.KindILOBackup); ok {
		m.LocalPath = types.StringValue(f.Path)
		m.SHA256 = types.StringValue(f.SHA256)
		m.Size = types.Int64Value(f.Size)
	}
	return m.storedBackupModel.fromBackup(b)
}

// fileAttrTypes is the object type of one entry of `files`.
var fileAttrTypes = map[string]attr.Type{
	"kind":     types.StringType,
	"path":     types.StringType,
	"location": types.StringType,
	"size":     types.Int64Type,
	"sha256":   types.StringType,
}

// filesValue is the `files` list of a backup.
func filesValue(files []backupstore.File) (types.List, diag.Diagnostics) {
	objType := types.ObjectType{AttrTypes: fileAttrTypes}
	elems := make([]attr.Value, 0, len(files))
	var diags diag.Diagnostics
	for _, f := range files {
		obj, d := types.ObjectValue(fileAttrTypes, map[string]attr.Value{
			"kind":     types.StringValue(f.Kind),
			"path":     optionalString(f.Path),
			"location": optionalString(f.Location),
			"size":     types.Int64Value(f.Size),
			"sha256":   types.StringValue(f.SHA256),
		})
		diags.Append(d...)
		elems = append(elems, obj)
	}
	list, d := types.ListValue(objType, elems)
	diags.Append(d...)
	return list, diags
}

func optionalString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func formatTime(t time.Time) types.String {
	return types.StringValue(t.UTC().Format(time.RFC3339Nano))
}
