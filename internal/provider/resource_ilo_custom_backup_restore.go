package provider

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

var (
	_ resource.ResourceWithConfigure   = (*iloCustomBackupRestoreResource)(nil)
	_ resource.ResourceWithImportState = (*iloCustomBackupRestoreResource)(nil)
)

func newILOCustomBackupRestoreResource() resource.Resource {
	return &iloCustomBackupRestoreResource{resourceBase{typeName: "ilo_custom_backup_restore"}}
}

type iloCustomBackupRestoreResource struct{ resourceBase }

// iloCustomBackupRestoreModel is the resource infrabackup_ilo_custom_backup_restore.
type iloCustomBackupRestoreModel struct {
	deviceTargetModel
	ID      types.String `tfsdk:"id"`
	Enabled types.Bool   `tfsdk:"enabled"`
}

// Default timeouts of the flag resource: a few small Redfish calls each (log in, read
// the service, PATCH, log out), with retries.
const (
	defaultFlagReadTimeout  = 2 * time.Minute
	defaultFlagWriteTimeout = 5 * time.Minute
)

func (r *iloCustomBackupRestoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Manages the `CustomBackupandRestore` flag of one HPE iLO's backup and restore service: when it is on, " +
			"the iLO restores the user-defined configuration it was last backed up with, instead of the factory defaults, " +
			"after a reset to factory defaults or a battery failure.\n\n" +
			"Unlike the backup resource, this one manages live device state, so every refresh (every `terraform plan` and " +
			"`apply`, unless run with `-refresh=false`) logs in to the iLO and reads the flag from its backup and restore " +
			"service. **Every read of that service makes the iLO write a fresh backup file to its NAND**, replacing the one " +
			"it holds: there is no way to read the flag without it. Changes are sent with `If-Match` (a stale ETag is re-read " +
			"and retried once), and each is logged in the iLO's Integrated Management Log. Destroying the resource sets the " +
			"flag back to its factory default, `false`.\n\n" +
			"With its own `password_wo`, the resource can log in only when it is created or updated: Terraform gives " +
			"write-only values to a provider then, never at refresh or destroy. Refresh then keeps the recorded value with a " +
			"warning instead of reading the iLO, and destroy leaves the flag as it is (apply `enabled = false` first to reset it).\n\n" +
			"When the iLO does not answer at refresh (connection refused or reset, no complete answer within `timeouts.read`, " +
			"an HTTP 5xx), the refresh keeps the value recorded in state and says so in a warning, so one unreachable iLO " +
			"does not stop the plan, or any other device's backup. An answer from the iLO (a refused login, a missing " +
			"service or property) fails the refresh as usual.\n\n" +
			"Needs iLO 5 firmware 2.72 or later, iLO 6 or iLO 7; not supported in the FIPS or higher security states. " +
			"On iLO 6 1.05 the flag covers only IPMI and SNMP users. A factory reset clears it.",
		Attributes: withAttributes(iloKind.targetAttributes("iLO host name or IP address."), map[string]schema.Attribute{
			"id": keptString("`host`, or `host:port` when `port` is set."),
			"enabled": schema.BoolAttribute{
				MarkdownDescription: "The wanted value of `CustomBackupandRestore`.",
				Required:            true,
			},
			"timeouts": timeouts.Attributes(ctx, timeouts.Opts{
				Create: true, Read: true, Update: true, Delete: true,
				CreateDescription: "How long setting the flag may take. Default `5m`.",
				ReadDescription:   "How long reading the flag at refresh may take. Default `2m`; when it passes, the refresh keeps the recorded value with a warning.",
				UpdateDescription: "How long changing the flag may take. Default `5m`.",
				DeleteDescription: "How long setting the flag back to `false` may take. Default `5m`.",
			}),
		}),
	}
}

func customFlagID(host string, port types.Int64) string {
	if port.IsNull() || port.IsUnknown() {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.FormatInt(port.ValueInt64(), 10))
}

// readFlag reads the flag; firmware without it is an error that says so.
func readFlag(ctx context.Context, rc *redfish.Client) (bool, error) {
	svc, err := rc.ReadBackupService(ctx)
	if err != nil {
		return false, err
	}
	if svc.CustomBackupAndRestore == nil {
		fw := "this firmware"
		if mgr, derr := rc.Discover(ctx); derr == nil && mgr.Firmware != "" {
			fw = strings.TrimSpace(mgr.Generation + " firmware " + mgr.Firmware)
		}
		return false, &client.DeviceError{Device: rc.Device(), Step: "read CustomBackupandRestore",
			Message: fmt.Sprintf("the backup service has no CustomBackupandRestore property: %s does not support it", fw),
			Hint:    "the flag needs iLO 5 firmware 2.72 or later, iLO 6 or iLO 7: update the iLO firmware, or remove this resource for this iLO"}
	}
	return *svc.CustomBackupAndRestore, nil
}

// ownPasswordKey marks, in private state, a resource that logs in with its own
// password_wo. Terraform gives write-only values only to a create or an update: a
// refresh or a destroy of such a resource has no password to log in with.
const ownPasswordKey = "own_password"

// privateData is the part of a request's or response's private state the resource uses.
type privateData interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

// hasOwnPassword says whether the resource was last created or updated with its own
// password_wo.
func hasOwnPassword(ctx context.Context, p privateData, diags *diag.Diagnostics) bool {
	v, d := p.GetKey(ctx, ownPasswordKey)
	diags.Append(d...)
	return string(v) == "true"
}

// startOn starts an operation on the iLO that m names, under timeout t, with the
// resource's own credentials (own: the username in m, and password_wo when the
// operation has the configuration).
func (r *iloCustomBackupRestoreResource) startOn(ctx context.Context, m *iloCustomBackupRestoreModel, t deadline, own ownCredentials, diags *diag.Diagnostics) (context.Context, *deviceOp[*redfish.Client]) {
	ctx, op, d := iloKind.start(ctx, r.data, opSpec{host: m.Host.ValueString(), port: m.Port, timeout: t, own: own})
	diags.Append(d...)
	return ctx, op
}

// writeFlag sets the flag on the iLO to m.Enabled under timeout t; action names the
// change in the error ("Setting CustomBackupandRestore").
func (r *iloCustomBackupRestoreResource) writeFlag(ctx context.Context, m *iloCustomBackupRestoreModel, t deadline, own ownCredentials, action string, diags *diag.Diagnostics) bool {
	ctx, op := r.startOn(ctx, m, t, own, diags)
	if op == nil {
		return false
	}
	defer op.end()
	enabled := m.Enabled.ValueBool()
	err := op.inSession(ctx, func(ctx context.Context, rc *redfish.Client) error {
		return rc.SetCustomBackupAndRestore(ctx, enabled)
	})
	if err != nil {
		diags.AddError(fmt.Sprintf("%s on iLO %s failed", action, op.client.Device()), op.explain(ctx, err))
		return false
	}
	m.ID = types.StringValue(customFlagID(m.Host.ValueString(), m.Port))
	return true
}

func (r *iloCustomBackupRestoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan iloCustomBackupRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	limit, diags := plan.Timeouts.Create(ctx, defaultFlagWriteTimeout)
	resp.Diagnostics.Append(diags...)
	own := plan.ownCredentials(ctx, req.Config, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() && r.writeFlag(ctx, &plan, deadline{"create", limit}, own, "Setting CustomBackupandRestore", &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, ownPasswordKey, []byte(fmt.Sprint(own.password != "")))...)
	}
}

// Read reads the flag from the iLO: this resource manages live device state, so a
// change made elsewhere shows up as drift. When the iLO does not answer, the refresh
// keeps the recorded state with a warning: one unreachable iLO must not stop the
// whole plan (and every other device's backup with it).
func (r *iloCustomBackupRestoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state iloCustomBackupRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	limit, diags := state.Timeouts.Read(ctx, defaultFlagReadTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if hasOwnPassword(ctx, req.Private, &resp.Diagnostics) {
		resp.Diagnostics.AddWarning(fmt.Sprintf("CustomBackupandRestore of iLO %s not refreshed", state.Host.ValueString()),
			fmt.Sprintf("This resource logs in with its own password_wo, and Terraform gives write-only values to a provider only when it "+
				"creates or updates a resource, never at refresh: the flag was not read from the iLO, so a change made elsewhere is not "+
				"detected, and the value recorded in state (enabled = %t) stands. Every apply that changes enabled still sets it on the iLO.",
				state.Enabled.ValueBool()))
		return
	}
	opCtx, op := r.startOn(ctx, &state, deadline{"read", limit}, ownCredentials{username: state.Username.ValueString()}, &resp.Diagnostics)
	if op == nil {
		return
	}
	defer op.end()
	var enabled bool
	err := op.inSession(opCtx, func(ctx context.Context, rc *redfish.Client) error {
		var err error
		enabled, err = readFlag(ctx, rc)
		return err
	})
	summary := fmt.Sprintf("Reading CustomBackupandRestore from iLO %s failed", op.client.Device())
	switch {
	case err != nil && transientFailure(opCtx, err) && !state.Enabled.IsNull():
		// An import has no recorded value to keep: it fails below.
		resp.Diagnostics.AddWarning(summary, op.explain(opCtx, err)+fmt.Sprintf(
			"\n\nThe iLO did not answer, or answered with a server error, so this refresh keeps the value recorded in state "+
				"(enabled = %t) and the rest of the plan goes ahead. The flag is read again at the next refresh; "+
				"a change to this resource still needs the iLO.", state.Enabled.ValueBool()))
		return
	case err != nil:
		resp.Diagnostics.AddError(summary, op.explain(opCtx, err))
		return
	}
	state.Enabled = types.BoolValue(enabled)
	state.ID = types.StringValue(customFlagID(state.Host.ValueString(), state.Port))
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update sets the flag when enabled changed; a change of timeouts alone is only recorded.
func (r *iloCustomBackupRestoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state iloCustomBackupRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	own := plan.ownCredentials(ctx, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Enabled.Equal(state.Enabled) {
		plan.ID = state.ID
	} else {
		limit, diags := plan.Timeouts.Update(ctx, defaultFlagWriteTimeout)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() || !r.writeFlag(ctx, &plan, deadline{"update", limit}, own, "Setting CustomBackupandRestore", &resp.Diagnostics) {
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, ownPasswordKey, []byte(fmt.Sprint(own.password != "")))...)
}

// Delete puts the flag back to its factory default, false.
func (r *iloCustomBackupRestoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state iloCustomBackupRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	limit, diags := state.Timeouts.Delete(ctx, defaultFlagWriteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if hasOwnPassword(ctx, req.Private, &resp.Diagnostics) {
		if state.Enabled.ValueBool() {
			resp.Diagnostics.AddWarning(fmt.Sprintf("CustomBackupandRestore left on iLO %s", state.Host.ValueString()),
				"This resource logs in with its own password_wo, and Terraform gives write-only values to a provider only when it "+
					"creates or updates a resource, never at destroy: the flag was not reset, and stays true on the iLO. To reset it, "+
					"apply enabled = false before removing the resource, or clear it in the iLO web interface.")
		}
		return
	}
	state.Enabled = types.BoolValue(false)
	r.writeFlag(ctx, &state, deadline{"delete", limit}, ownCredentials{username: state.Username.ValueString()}, "Resetting CustomBackupandRestore to false", &resp.Diagnostics)
}

// ImportState takes `host` or `host:port` (`[v6 address]:port` for IPv6).
func (r *iloCustomBackupRestoreResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	host, port, err := parseImportHostPort(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("host"), host)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("port"), port)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), customFlagID(host, port))...)
}

// parseImportHostPort splits an import ID: "host", "host:port", "[v6]:port", or a bare
// IPv6 address.
func parseImportHostPort(id string) (string, types.Int64, error) {
	id = strings.TrimSpace(id)
	usage := fmt.Errorf("import ID %q must be the iLO's host (\"ilo1.example.com\") or host:port (\"10.0.0.5:8443\", \"[2001:db8::5]:443\")", id)
	if id == "" {
		return "", types.Int64Null(), usage
	}
	host, portText, err := net.SplitHostPort(id)
	if err != nil {
		if net.ParseIP(strings.Trim(id, "[]")) != nil { // a bare IPv6 address
			return strings.Trim(id, "[]"), types.Int64Null(), nil
		}
		if strings.Contains(id, ":") {
			return "", types.Int64Null(), usage
		}
		host = id
	} else {
		p, perr := strconv.Atoi(portText)
		if perr != nil || p < 1 || p > 65535 {
			return "", types.Int64Null(), fmt.Errorf("%v: the port must be a number from 1 to 65535", usage)
		}
		if err := checkHost(host); err != nil {
			return "", types.Int64Null(), fmt.Errorf("%v: %v", usage, err)
		}
		return host, types.Int64Value(int64(p)), nil
	}
	if err := checkHost(host); err != nil {
		return "", types.Int64Null(), fmt.Errorf("%v: %v", usage, err)
	}
	return host, types.Int64Null(), nil
}
