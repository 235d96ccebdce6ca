package provider

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/fleetreport"
)

var _ datasource.DataSourceWithConfigure = (*backupsDataSource)(nil)

// backupsDataSource is infrabackup_backups: what the backup store knows of every
// device (backupstore.Fleet, one listing), judged by fleetreport at the provider's
// clock. It reads only the store.
type backupsDataSource struct {
	data *providerData
}

func newBackupsDataSource() datasource.DataSource { return &backupsDataSource{} }

type backupsDataModel struct {
	Kinds           []types.String   `tfsdk:"kinds"`
	Names           []types.String   `tfsdk:"names"`
	NameRegex       types.String     `tfsdk:"name_regex"`
	MaxAge          types.String     `tfsdk:"max_age"`
	ReadAt          types.String     `tfsdk:"read_at"`
	Devices         []fleetDevice    `tfsdk:"devices"`
	Totals          *fleetTotalsData `tfsdk:"totals"`
	SummaryMarkdown types.String     `tfsdk:"summary_markdown"`
	JUnitXML        types.String     `tfsdk:"junit_xml"`
}

type fleetDevice struct {
	Kind         types.String      `tfsdk:"kind"`
	Name         types.String      `tfsdk:"name"`
	Host         types.String      `tfsdk:"host"`
	Port         types.Int64       `tfsdk:"port"`
	Status       types.String      `tfsdk:"status"`
	Stale        types.Bool        `tfsdk:"stale"`
	Failed       types.Bool        `tfsdk:"failed"`
	Backups      types.Int64       `tfsdk:"backups"`
	LatestBackup *fleetBackupData  `tfsdk:"latest_backup"`
	LastAttempt  *fleetAttemptData `tfsdk:"last_attempt"`
	Problems     []types.String    `tfsdk:"problems"`
}

type fleetBackupData struct {
	ID          types.String    `tfsdk:"id"`
	RecordKey   types.String    `tfsdk:"record_key"`
	StartedAt   types.String    `tfsdk:"started_at"`
	CompletedAt types.String    `tfsdk:"completed_at"`
	Age         types.String    `tfsdk:"age"`
	AgeSeconds  types.Int64     `tfsdk:"age_seconds"`
	Files       []fleetFileData `tfsdk:"files"`
}

type fleetFileData struct {
	Kind     types.String `tfsdk:"kind"`
	Key      types.String `tfsdk:"key"`
	Location types.String `tfsdk:"location"`
	Size     types.Int64  `tfsdk:"size"`
	SHA256   types.String `tfsdk:"sha256"`
}

type fleetAttemptData struct {
	ID        types.String `tfsdk:"id"`
	Outcome   types.String `tfsdk:"outcome"`
	StartedAt types.String `tfsdk:"started_at"`
	EndedAt   types.String `tfsdk:"ended_at"`
	Step      types.String `tfsdk:"step"`
	Message   types.String `tfsdk:"message"`
}

type fleetTotalsData struct {
	Devices  types.Int64 `tfsdk:"devices"`
	OK       types.Int64 `tfsdk:"ok"`
	BackedUp types.Int64 `tfsdk:"backed_up"`
	Stale    types.Int64 `tfsdk:"stale"`
	Failed   types.Int64 `tfsdk:"failed"`
}

func (d *backupsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backups"
}

func (d *backupsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// parseMaxAge reads a max_age: a Go duration ("36h", "90m") or whole days ("8d").
func parseMaxAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days: write it like \"8d\", or as a duration like \"36h\"", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like \"8d\", \"36h\" or \"90m\"", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%q must be longer than zero", s)
	}
	return v, nil
}

func (d *backupsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	num := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The state of every backup in the backup store the provider is configured with (a local folder " +
			"or an S3 bucket): every device with a backup or a failed attempt on record, of every kind, with its latest " +
			"complete backup, its last attempt (succeeded, or failed with the step and what the device said) and whether it " +
			"is stale (no backup within `max_age`), plus fleet totals, a Markdown summary and a JUnit report for CI. " +
			"It reads only the store, with one listing, and contacts no device.\n\n" +
			"A failed backup leaves a failure record in the store (never taken for a backup): that is how the last attempt " +
			"of a device that failed is known. A failure before the device said who it is (a new iLO's refused login, " +
			"recorded under its host) counts as an attempt of the device later backed up at the same address, not as a " +
			"device of its own. Ages are measured at `read_at`, the time of the read.",
		Attributes: map[string]schema.Attribute{
			"kinds": schema.ListAttribute{
				ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Report only these kinds of device (`" + strings.Join(backupstore.Families, "`, `") + "`). Default: every kind.",
				Validators:          []validator.List{listvalidator.ValueStringsAre(stringvalidator.OneOf(backupstore.Families...))},
			},
			"names": schema.ListAttribute{
				ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Report only the devices with these folder names (the backup resources' `name`: by default a " +
					"conductor's hostname, an iLO's serial number). Default: every device.",
				Validators: []validator.List{listvalidator.ValueStringsAre(nameValidator())},
			},
			"name_regex": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Report only the devices whose folder name this regular expression (Go syntax, unanchored) " +
					"matches. With `names`, a device must match both.",
				Validators: []validator.String{stringCheck{description: "a regular expression", check: func(s string) error {
					_, err := regexp.Compile(s)
					return err
				}}},
			},
			"max_age": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "A device is stale when its latest complete backup is older than this: whole days (`8d`) " +
					"or a Go duration (`36h`). A device without any complete backup is always stale. Default: no age limit.",
				Validators: []validator.String{stringCheck{description: "a number of days or a duration", check: func(s string) error {
					_, err := parseMaxAge(s)
					return err
				}}},
			},
			"read_at": str("When the store was read (RFC 3339, UTC): ages and staleness are measured at this time."),
			"devices": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Every device reported, sorted by kind and name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"kind":    str("The kind of device: `" + strings.Join(backupstore.Families, "`, `") + "`."),
					"name":    str("The device's folder name in the store."),
					"host":    str("The device's host, as its last attempt recorded it."),
					"port":    num("The device's port, as its last attempt recorded it."),
					"status":  str("`failed` (the last attempt failed, or its records cannot be used), `stale` or `ok`."),
					"stale":   schema.BoolAttribute{Computed: true, MarkdownDescription: "No complete backup within `max_age` (or none at all)."},
					"failed":  schema.BoolAttribute{Computed: true, MarkdownDescription: "The last attempt failed, or the device's records cannot be used (`problems`)."},
					"backups": num("How many backup records the device has in the store."),
					"latest_backup": schema.SingleNestedAttribute{
						Computed:            true,
						MarkdownDescription: "The latest complete backup; null when there is none.",
						Attributes: map[string]schema.Attribute{
							"id":           str("The backup's id (its UTC start stamp)."),
							"record_key":   str("The key of the backup's record in the store."),
							"started_at":   str("When the backup started (RFC 3339, UTC)."),
							"completed_at": str("When the backup completed (RFC 3339, UTC)."),
							"age":          str("How long before `read_at` it completed, for people: `3d 4h`."),
							"age_seconds":  num("How long before `read_at` it completed, in seconds."),
							"files": schema.ListNestedAttribute{
								Computed:            true,
								MarkdownDescription: "The backup's files.",
								NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
									"kind":     str("What the file holds: `running-config`, `flash-archive-scp`, `ilo-backup`, ..."),
									"key":      str("The file's key in the store; empty for a remote copy."),
									"location": str("Where the file is: its local path or `s3://` URL, or a remote copy's `scp://` location."),
									"size":     num("Size in bytes."),
									"sha256":   str("SHA-256 of the file, lower-case hex."),
								}},
							},
						},
					},
					"last_attempt": schema.SingleNestedAttribute{
						Computed:            true,
						MarkdownDescription: "The device's last backup attempt; null when none is on record.",
						Attributes: map[string]schema.Attribute{
							"id":         str("The attempt's id (its UTC start stamp)."),
							"outcome":    str("`succeeded`, `failed`, or `unknown` (its record cannot be used: see `problems`)."),
							"started_at": str("When it started (RFC 3339, UTC)."),
							"ended_at":   str("When it completed or failed (RFC 3339, UTC); empty when unknown."),
							"step":       str("For a failure: the step that failed (`log in`, `download backup`, ...)."),
							"message":    str("For a failure: what the device (or the network, or the store) said, with every secret masked."),
						},
					},
					"problems": schema.ListAttribute{
						ElementType: types.StringType, Computed: true,
						MarkdownDescription: "Records of the device that cannot be used, and why, newest first: the store needs repair.",
					},
				}},
			},
			"totals": schema.SingleNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Fleet totals. A device that failed and is stale counts in both `failed` and `stale`.",
				Attributes: map[string]schema.Attribute{
					"devices":   num("Devices reported."),
					"ok":        num("Devices whose status is `ok`."),
					"backed_up": num("Devices with a complete backup within `max_age`."),
					"stale":     num("Devices without one."),
					"failed":    num("Devices whose last attempt failed (or whose records cannot be used)."),
				},
			},
			"summary_markdown": str("The report as Markdown: a heading with the totals and a table with one row per device " +
				"(device, kind, last backup, age, status, last failure), ready for a CI job summary or a chat message."),
			"junit_xml": str("The report as a JUnit XML document: one test case per device, failed when its last attempt " +
				"failed or it is stale, for CI systems that show test reports (GitLab, Jenkins, GitHub actions)."),
		},
	}
}

func (d *backupsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m backupsDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	var maxAge time.Duration
	if s := m.MaxAge.ValueString(); s != "" {
		maxAge, _ = parseMaxAge(s) // validated at plan time
	}
	filter := backupstore.FleetFilter{}
	for _, k := range m.Kinds {
		filter.Families = append(filter.Families, k.ValueString())
	}
	for _, n := range m.Names {
		filter.Names = append(filter.Names, n.ValueString())
	}
	if s := m.NameRegex.ValueString(); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			resp.Diagnostics.AddError("Invalid name_regex", err.Error())
			return
		}
		filter.Name = re
	}
	store, err := d.data.Store()
	if err != nil {
		resp.Diagnostics.AddError("Backup store unavailable", err.Error())
		return
	}
	statuses, err := store.Fleet(ctx, filter)
	if err != nil {
		resp.Diagnostics.AddError("Reading the backup store failed", err.Error())
		return
	}
	r := fleetreport.New(statuses, maxAge, d.data.now())
	junit, err := r.JUnitXML()
	if err != nil {
		resp.Diagnostics.AddError("Writing the JUnit report failed", err.Error())
		return
	}
	m.ReadAt = formatTime(r.Now)
	m.SummaryMarkdown = types.StringValue(r.Markdown())
	m.JUnitXML = types.StringValue(junit)
	m.Devices = make([]fleetDevice, 0, len(r.Devices))
	ok := 0
	for _, dev := range r.Devices {
		if dev.Status == fleetreport.StatusOK {
			ok++
		}
		m.Devices = append(m.Devices, fleetDeviceFrom(dev))
	}
	t := r.Totals
	m.Totals = &fleetTotalsData{Devices: types.Int64Value(int64(t.Devices)), OK: types.Int64Value(int64(ok)),
		BackedUp: types.Int64Value(int64(t.BackedUp)), Stale: types.Int64Value(int64(t.Stale)), Failed: types.Int64Value(int64(t.Failed))}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// fleetDeviceFrom is one device of the report. Its text was made safe by the store
// (SafeText) when it was read.
func fleetDeviceFrom(dev fleetreport.Device) fleetDevice {
	out := fleetDevice{
		Kind: types.StringValue(dev.Family), Name: types.StringValue(dev.Device),
		Host: types.StringValue(dev.Host), Port: types.Int64Value(int64(dev.Port)),
		Status: types.StringValue(string(dev.Status)), Stale: types.BoolValue(dev.Stale), Failed: types.BoolValue(dev.Failed),
		Backups: types.Int64Value(int64(dev.Backups)), Problems: []types.String{},
	}
	for _, p := range dev.Problems {
		out.Problems = append(out.Problems, types.StringValue(p))
	}
	if b := dev.Latest; b != nil {
		lb := &fleetBackupData{
			ID: types.StringValue(b.ID), RecordKey: types.StringValue(b.RecordKey()),
			StartedAt: formatTime(b.StartedAt), CompletedAt: formatTime(b.CompletedAt),
			Age: types.StringValue(fleetreport.Age(dev.Age)), AgeSeconds: types.Int64Value(int64(dev.Age / time.Second)),
			Files: []fleetFileData{},
		}
		for _, f := range b.Files {
			where := f.StoreLocation
			if where == "" {
				where = f.Location
			}
			lb.Files = append(lb.Files, fleetFileData{Kind: types.StringValue(f.Kind), Key: types.StringValue(f.Key),
				Location: types.StringValue(where), Size: types.Int64Value(f.Size), SHA256: types.StringValue(f.SHA256)})
		}
		out.LatestBackup = lb
	}
	if a := dev.LastAttempt; a.Outcome != backupstore.OutcomeNone {
		ended := types.StringValue("")
		if !a.EndedAt.IsZero() {
			ended = formatTime(a.EndedAt)
		}
		out.LastAttempt = &fleetAttemptData{ID: types.StringValue(a.ID), Outcome: types.StringValue(string(a.Outcome)),
			StartedAt: formatTime(a.StartedAt), EndedAt: ended, Step: types.StringValue(a.Step), Message: types.StringValue(a.Message)}
	}
	return out
}
