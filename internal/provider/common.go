package provider

import (
	"context"
	"fmt"
	"maps"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var sha256FingerprintRE = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}=?$`)

// resourceBase is embedded by every resource: its type name, and the provider's
// data, which Configure keeps (nil until the provider is configured: validate,
// early plan).
type resourceBase struct {
	typeName string // after the provider's name: "ilo_backup" is infrabackup_ilo_backup
	data     *providerData
}

func (r *resourceBase) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.typeName
}

func (r *resourceBase) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// recordUpdate is the Update of a resource whose work is done by create (a backup,
// a restore: facts of the past): it records in state the arguments that take no new
// run, which keep copies from the plan, and calls no device.
func recordUpdate[M any](ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse, keep func(plan, state *M)) {
	var plan, state M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	keep(&plan, &state)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// withAttributes merges schema attributes: a resource's own, and those it shares with
// other resources and data sources.
func withAttributes[A any](parts ...map[string]A) map[string]A {
	out := map[string]A{}
	for _, p := range parts {
		maps.Copy(out, p)
	}
	return out
}

func providerDataFrom(v any, diags *diag.Diagnostics) *providerData {
	if v == nil {
		return nil // the provider is not configured yet (validate, early plan)
	}
	d, ok := v.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T: this is a bug in the provider", v))
		return nil
	}
	return d
}

// sshHostKeyModel is how a block that makes the provider connect over SSH pins the
// server's host key (sftpverify checks it).
type sshHostKeyModel struct {
	HostKey               types.String `tfsdk:"host_key"`
	HostKeyFingerprint    types.String `tfsdk:"host_key_fingerprint"`
	InsecureIgnoreHostKey types.Bool   `tfsdk:"insecure_ignore_host_key"`
}

// sshHostKeyAttributes are sshHostKeyModel's attributes; server is whose key it is
// ("The SCP server's"), purpose what the key is checked for, connect what the
// insecure opt-out does without it.
func sshHostKeyAttributes(server, purpose, connect string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"host_key": schema.StringAttribute{
			MarkdownDescription: server + " SSH host key in `authorized_keys` form (`ssh-ed25519 AAAA...`), " + purpose + ".",
			Optional:            true,
		},
		"host_key_fingerprint": schema.StringAttribute{
			MarkdownDescription: server + " SSH host key fingerprint (`SHA256:...`, as `ssh-keygen -lf` prints it), " + purpose + ".",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.RegexMatches(sha256FingerprintRE, "must look like SHA256:<base64>, as printed by ssh-keygen -l")},
		},
		"insecure_ignore_host_key": schema.BoolAttribute{
			MarkdownDescription: connect + " without checking the SSH host key. **Insecure**: explicit opt-in for labs. Default `false`.",
			Optional:            true,
			Computed:            true,
			Default:             booldefault.StaticBool(false),
		},
	}
}

// unpinned reports whether the configuration is known and pins no host key without
// opting out of the check.
func (m sshHostKeyModel) unpinned() bool {
	if m.HostKey.IsUnknown() || m.HostKeyFingerprint.IsUnknown() || m.InsecureIgnoreHostKey.IsUnknown() {
		return false
	}
	return m.HostKey.IsNull() && m.HostKeyFingerprint.IsNull() && !m.InsecureIgnoreHostKey.ValueBool()
}

func validateSCPHostKey(m *arubaSCPModel, diags *diag.Diagnostics) {
	verify := m.Verify.IsNull() || m.Verify.ValueBool()
	if !verify || m.Verify.IsUnknown() {
		return
	}
	if m.unpinned() {
		diags.AddAttributeError(path.Root("scp"), "The SCP server's host key is not known",
			"Verifying the uploads connects to the SCP server over SSH, and its host key is checked: set scp.host_key "+
				"(the server's public key, e.g. from ssh-keyscan) or scp.host_key_fingerprint (SHA256:..., from ssh-keygen -lf). "+
				"For a lab server only, insecure_ignore_host_key = true skips the check; verify = false skips verification.")
	}
}
