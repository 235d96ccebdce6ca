package provider

import (
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// The attributes a backup resource and its data source both report about a stored
// backup are one model, embedded in both, with one schema (attributes; the data
// source declares them through dataSourceAttributes) and one mapping from the
// store's record (fromBackup): the resource fills them from the backup it just
// took, the data source from the latest one in the store.

// storedBackupModel is what every backup resource and data source reports. Name is
// an argument too (the backup's folder), so each declares it itself.
type storedBackupModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	StartedAt   types.String `tfsdk:"started_at"`
	CompletedAt types.String `tfsdk:"completed_at"`
	Files       types.List   `tfsdk:"files"`
}

func (storedBackupModel) attributes(files string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"id":           keptString("`<name>/<backup id>`: unique per backup."),
		"started_at":   keptString("When the backup started (RFC 3339, UTC)."),
		"completed_at": keptString("When the backup completed (RFC 3339, UTC)."),
		"files": schema.ListNestedAttribute{
			MarkdownDescription: files,
			Computed:            true,
			NestedObject:        schema.NestedAttributeObject{Attributes: fileAttributes()},
			PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
		},
	}
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
	RunningConfigPath     types.String `tfsdk:"running_config_path"`
	RunningConfigDiffPath types.String `tfsdk:"running_config_diff_path"`
	RunningConfigDiffKey  types.String `tfsdk:"running_config_diff_key"`
}

func (arubaStoredBackupModel) attributes() map[string]schema.Attribute {
	attrs := storedBackupModel{}.attributes("Every file the backup wrote.")
	attrs["running_config_path"] = keptString("Local path of the running configuration copy in a local store (`backup_dir`); " +
		"null with an S3 store, whose copy `files` names (`location`, `key`).")
	const noDiff = "null for a first backup and when nothing changed but lines the backup resource's `ignore_lines` matches"
	attrs["running_config_diff_path"] = keptString("Local path of the unified diff of the running configuration against the device's previous backup, in a local store (`backup_dir`); " +
		"null with an S3 store, and " + noDiff + ". The diff holds configuration lines: treat it like the configuration.")
	attrs["running_config_diff_key"] = keptString("Key of the unified diff of the running configuration against the device's previous backup, in the backup store " +
		"(`aruba/<name>/<backup id>-running-config-diff.diff`, below `s3.key_prefix`), on every store; " + noDiff +
		". `files` lists it (kind `running-config-diff`) with its size and SHA-256.")
	return attrs
}

func (m *arubaStoredBackupModel) fromBackup(b backupstore.Backup) diag.Diagnostics {
	m.RunningConfigPath = types.StringNull()
	if f, ok := b.File(backupjob.KindRunningConfig); ok {
		m.RunningConfigPath = optionalString(f.Path) // null in a bucket
	}
	m.RunningConfigDiffPath, m.RunningConfigDiffKey = types.StringNull(), types.StringNull()
	if f, ok := b.File(backupjob.KindRunningConfigDiff); ok {
		m.RunningConfigDiffPath = optionalString(f.Path)
		m.RunningConfigDiffKey = optionalString(f.Key)
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

func (iloStoredBackupModel) attributes() map[string]schema.Attribute {
	attrs := storedBackupModel{}.attributes("Every file the backup wrote (one `ilo-backup` file).")
	maps.Copy(attrs, map[string]schema.Attribute{
		"local_path": keptString("Local path of the backup file in a local store (`backup_dir`); null with an S3 store, " +
			"whose object `files` names (`location`, `key`)."),
		"sha256": keptString("SHA-256 of the backup file, hex."),
		"size": schema.Int64Attribute{
			MarkdownDescription: "Size of the backup file in bytes.",
			Computed:            true,
			PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
		},
		"serial_number":    keptString("The server's serial number (`Systems/1`) at the time of the backup."),
		"generation":       keptString("The iLO generation: `iLO 5`, `iLO 6` or `iLO 7`."),
		"firmware_version": keptString("The iLO firmware version at the time of the backup."),
		"device_file_name": keptString("The name the iLO gave the backup in its NAND (`HPE_<serial>_<YYYYMMDD>_<HHMM>.bak`). " +
			"Recorded as data only: the local file name is built by the provider."),
		"password_protected": schema.BoolAttribute{
			MarkdownDescription: "Whether the backup was taken with a backup password (`backup_password_wo`): it then restores only with that password.",
			Computed:            true,
			PlanModifiers:       []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
		},
	})
	return attrs
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
		m.LocalPath = optionalString(f.Path) // null in a bucket
		m.SHA256 = types.StringValue(f.SHA256)
		m.Size = types.Int64Value(f.Size)
	}
	return m.storedBackupModel.fromBackup(b)
}

// keptString is a computed attribute of a resource that says what the resource did:
// an update that does nothing keeps it (an unknown value would also force a
// replacement); a replacement is planned as a create, where it is unknown again.
func keptString(desc string) schema.StringAttribute {
	return schema.StringAttribute{MarkdownDescription: desc, Computed: true,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

// fileAttributes are the attributes of one entry of `files`.
func fileAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"kind":     schema.StringAttribute{Computed: true, MarkdownDescription: "What the file holds (`running-config`, `running-config-diff`, `running-config-scp`, `flash-archive-scp`, their copies in the store `running-config-flash` and `flash-archive`, `ilo-backup`; an Apstra backup's kinds are listed under its `files`)."},
		"key":      schema.StringAttribute{Computed: true, MarkdownDescription: "Key of the file in the backup store (`<family>/<name>/<backup id>-<kind>.<ext>`, below `s3.key_prefix`), the same on every store; null for files on an SCP server."},
		"path":     schema.StringAttribute{Computed: true, MarkdownDescription: "Local path, for files in a local backup store (`backup_dir`)."},
		"location": schema.StringAttribute{Computed: true, MarkdownDescription: "Where the file is when it has no local path: `s3://bucket/key` for a file in an S3 backup store, `scp://user@address/path` for a file on an SCP server."},
		"size":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Size in bytes (0 when a remote file was not verified)."},
		"sha256":   schema.StringAttribute{Computed: true, MarkdownDescription: "SHA-256 of the content, hex (empty when a remote file was not verified)."},
	}
}

// dataSourceAttributes declares computed resource attributes for a data source
// schema: the same names, types and descriptions, without plan modifiers.
func dataSourceAttributes(attrs map[string]schema.Attribute) map[string]dsschema.Attribute {
	out := make(map[string]dsschema.Attribute, len(attrs))
	for name, a := range attrs {
		desc := a.GetMarkdownDescription()
		switch a := a.(type) {
		case schema.StringAttribute:
			out[name] = dsschema.StringAttribute{Computed: true, MarkdownDescription: desc}
		case schema.Int64Attribute:
			out[name] = dsschema.Int64Attribute{Computed: true, MarkdownDescription: desc}
		case schema.BoolAttribute:
			out[name] = dsschema.BoolAttribute{Computed: true, MarkdownDescription: desc}
		case schema.ListNestedAttribute:
			out[name] = dsschema.ListNestedAttribute{Computed: true, MarkdownDescription: desc,
				NestedObject: dsschema.NestedAttributeObject{Attributes: dataSourceAttributes(a.NestedObject.Attributes)}}
		default:
			// Only the attributes declared in this file come here: a new type is
			// added above with them, and the provider's schema test fails until it is.
			panic(fmt.Sprintf("dataSourceAttributes: attribute %s is a %T: add the type", name, a))
		}
	}
	return out
}

// fileAttrTypes is the object type of one entry of `files`.
var fileAttrTypes = map[string]attr.Type{
	"kind":     types.StringType,
	"key":      types.StringType,
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
		location := f.Location
		if f.InStore() && f.Path == "" {
			location = f.StoreLocation // a file in a bucket
		}
		obj, d := types.ObjectValue(fileAttrTypes, map[string]attr.Value{
			"kind":     types.StringValue(f.Kind),
			"key":      optionalString(f.Key),
			"path":     optionalString(f.Path),
			"location": optionalString(location),
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

// apstraStoredBackupModel is what infrabackup_apstra_backup and its data source
// report about an Apstra backup: its files and, per blueprint, where its graph and
// each device's deployed configuration are. The resource also reports what changed
// since the previous backup (withChanges), which the data source does not know.
type apstraStoredBackupModel struct {
	storedBackupModel
	Blueprints types.List `tfsdk:"blueprints_backed_up"`
}

func (apstraStoredBackupModel) attributes(withChanges bool) map[string]schema.Attribute {
	attrs := storedBackupModel{}.attributes("Every file the backup wrote: per blueprint its graph (`bp-<token>-graph`), deploy state, " +
		"revisions, connectivity templates (`-ct`), each device's deployed configuration (`bp-<token>-cfg-<node>`) and, when it changed, " +
		"its diff against the previous backup (`bp-<token>-cfg-<node>-diff`); the design " +
		"catalog (`design-*`) and resource pools (`resources-*`); with `snapshot`, `aos-snapshot`.")
	attrs["blueprints_backed_up"] = schema.ListNestedAttribute{
		MarkdownDescription: "The blueprints the backup holds, in the server's order.",
		Computed:            true,
		NestedObject:        schema.NestedAttributeObject{Attributes: apstraBlueprintAttributes(withChanges)},
		PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
	}
	return attrs
}

func apstraBlueprintAttributes(withChanges bool) map[string]schema.Attribute {
	str := func(desc string) schema.Attribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	attrs := map[string]schema.Attribute{
		"id":            str("The blueprint's id."),
		"label":         str("The blueprint's label."),
		"design":        str("`two_stage_l3clos` or `freeform`."),
		"version":       schema.Int64Attribute{Computed: true, MarkdownDescription: "The blueprint's version in the exported graph."},
		"deploy_state":  str("The deploy state (`success`, `failure`, ...)."),
		"nodes":         schema.Int64Attribute{Computed: true, MarkdownDescription: "Nodes in the exported graph."},
		"relationships": schema.Int64Attribute{Computed: true, MarkdownDescription: "Relationships in the exported graph."},
		"graph_key":     str("Key of the graph export in the backup store."),
		"graph_path":    str("Local path of the graph export in a local store; null in a bucket."),
		"devices": schema.ListNestedAttribute{
			MarkdownDescription: "The managed systems whose deployed configuration was stored.",
			Computed:            true,
			NestedObject: schema.NestedAttributeObject{Attributes: withAttributes(map[string]schema.Attribute{
				"node_id":   str("The system node's id."),
				"label":     str("The node's label."),
				"hostname":  str("The node's hostname."),
				"system_id": str("The assigned device's id (serial)."),
				"key":       str("Key of the deployed configuration in the backup store."),
				"path":      str("Local path of the deployed configuration in a local store; null in a bucket."),
				"sha256":    str("SHA-256 of the deployed configuration."),
				"diff_key": str("Key of the unified diff of the deployed configuration against the server's previous backup, in the backup store " +
					"(`apstra/<name>/<backup id>-bp-<token>-cfg-<node>-diff.diff`, below `s3.key_prefix`); `files` lists it with its size and SHA-256. " +
					"Null for a first backup and when nothing changed but lines the backup resource's `ignore_lines` matches. The diff holds configuration lines: treat it like the configuration."),
				"diff_path": str("Local path of the diff (`diff_key`) in a local store; null in a bucket and when `diff_key` is null."),
			}, deviceChangedAttributes(withChanges))},
		},
		"skipped": schema.ListNestedAttribute{
			MarkdownDescription: "System nodes without a deployed configuration (not managed, or only in staging), and why.",
			Computed:            true,
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"node_id": str("The system node's id."),
				"label":   str("The node's label."),
				"reason":  str("Why it has no deployed configuration, in the server's words where it gave any."),
			}},
		},
	}
	if withChanges {
		attrs["changed"] = schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the blueprint's version differs from the previous backup of this server in the store (`true` when it was not in it)."}
		attrs["changed_devices"] = schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Node ids of the devices whose `changed` is true."}
	}
	return attrs
}

func deviceChangedAttributes(withChanges bool) map[string]schema.Attribute {
	if !withChanges {
		return nil
	}
	return map[string]schema.Attribute{
		"changed": schema.BoolAttribute{Computed: true,
			MarkdownDescription: "Whether the deployed configuration differs from the previous backup's in a line that `ignore_lines` does not match " +
				"(`true` when the previous backup had none)."},
		"lines_added": schema.Int64Attribute{Computed: true,
			MarkdownDescription: "Lines of the deployed configuration that are new since the previous backup (`ignore_lines` left out); " +
				"null for a first backup or when the previous one could not be compared (a warning says why)."},
		"lines_removed": schema.Int64Attribute{Computed: true,
			MarkdownDescription: "Lines of the previous backup's deployed configuration that are gone (`ignore_lines` left out); null when `lines_added` is."},
	}
}

// apstraBlueprintTypes are the object types of blueprints_backed_up's elements.
func apstraBlueprintTypes(withChanges bool) (bp, device, skipped map[string]attr.Type) {
	device = map[string]attr.Type{"node_id": types.StringType, "label": types.StringType, "hostname": types.StringType,
		"system_id": types.StringType, "key": types.StringType, "path": types.StringType, "sha256": types.StringType,
		"diff_key": types.StringType, "diff_path": types.StringType}
	skipped = map[string]attr.Type{"node_id": types.StringType, "label": types.StringType, "reason": types.StringType}
	bp = map[string]attr.Type{"id": types.StringType, "label": types.StringType, "design": types.StringType,
		"version": types.Int64Type, "deploy_state": types.StringType, "nodes": types.Int64Type, "relationships": types.Int64Type,
		"graph_key": types.StringType, "graph_path": types.StringType}
	if withChanges {
		device["changed"] = types.BoolType
		device["lines_added"], device["lines_removed"] = types.Int64Type, types.Int64Type
		bp["changed"] = types.BoolType
		bp["changed_devices"] = types.ListType{ElemType: types.StringType}
	}
	bp["devices"] = types.ListType{ElemType: types.ObjectType{AttrTypes: device}}
	bp["skipped"] = types.ListType{ElemType: types.ObjectType{AttrTypes: skipped}}
	return bp, device, skipped
}

// fromBlueprints fills the model from a backup and its blueprints (with their
// Changed flags when withChanges).
func (m *apstraStoredBackupModel) fromBlueprints(b backupstore.Backup, bps []backupjob.ApstraBlueprint, withChanges bool) diag.Diagnostics {
	diags := m.storedBackupModel.fromBackup(b)
	bpType, deviceType, skippedType := apstraBlueprintTypes(withChanges)
	obj := func(t map[string]attr.Type, v map[string]attr.Value) attr.Value {
		o, d := types.ObjectValue(t, v)
		diags.Append(d...)
		return o
	}
	list := func(t attr.Type, elems []attr.Value) types.List {
		l, d := types.ListValue(t, elems)
		diags.Append(d...)
		return l
	}
	elems := make([]attr.Value, 0, len(bps))
	for _, bp := range bps {
		graph, _ := b.File(bp.GraphKind())
		devices := make([]attr.Value, 0, len(bp.Deployed))
		for _, dev := range bp.Deployed {
			f, _ := b.File(dev.Kind)
			diff, _ := b.File(backupjob.DiffKind(dev.Kind))
			v := map[string]attr.Value{"node_id": types.StringValue(dev.NodeID), "label": types.StringValue(dev.Label),
				"hostname": types.StringValue(dev.Hostname), "system_id": types.StringValue(dev.SystemID),
				"key": optionalString(f.Key), "path": optionalString(f.Path), "sha256": types.StringValue(f.SHA256),
				"diff_key": optionalString(diff.Key), "diff_path": optionalString(diff.Path)}
			if withChanges {
				v["changed"] = types.BoolValue(dev.Changed)
				v["lines_added"], v["lines_removed"] = types.Int64Null(), types.Int64Null()
				if dev.Diff.Compared {
					v["lines_added"], v["lines_removed"] = types.Int64Value(int64(dev.Diff.Added)), types.Int64Value(int64(dev.Diff.Removed))
				}
			}
			devices = append(devices, obj(deviceType, v))
		}
		skipped := make([]attr.Value, 0, len(bp.Skipped))
		for _, s := range bp.Skipped {
			skipped = append(skipped, obj(skippedType, map[string]attr.Value{"node_id": types.StringValue(s.NodeID),
				"label": types.StringValue(s.Label), "reason": types.StringValue(s.Reason)}))
		}
		v := map[string]attr.Value{"id": types.StringValue(bp.ID), "label": types.StringValue(bp.Label),
			"design": types.StringValue(bp.Design), "version": types.Int64Value(int64(bp.Version)),
			"deploy_state": types.StringValue(bp.DeployState), "nodes": types.Int64Value(int64(bp.Nodes)),
			"relationships": types.Int64Value(int64(bp.Relationships)),
			"graph_key":     optionalString(graph.Key), "graph_path": optionalString(graph.Path),
			"devices": list(types.ObjectType{AttrTypes: deviceType}, devices),
			"skipped": list(types.ObjectType{AttrTypes: skippedType}, skipped)}
		if withChanges {
			v["changed"] = types.BoolValue(bp.Changed)
			changed := []attr.Value{}
			for _, id := range bp.ChangedDevices() {
				changed = append(changed, types.StringValue(id))
			}
			v["changed_devices"] = list(types.StringType, changed)
		}
		elems = append(elems, obj(bpType, v))
	}
	m.Blueprints = list(types.ObjectType{AttrTypes: bpType}, elems)
	return diags
}
