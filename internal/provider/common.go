package provider

import (
	"fmt"
	"regexp"

	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
)

var sha256FingerprintRE = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}=?$`)

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

func validateSCPHostKey(m *arubaSCPModel, diags *diag.Diagnostics) {
	verify := m.Verify.IsNull() || m.Verify.ValueBool()
	if !verify || m.Verify.IsUnknown() || m.HostKey.IsUnknown() || m.HostKeyFingerprint.IsUnknown() || m.InsecureIgnoreHostKey.IsUnknown() {
		return
	}
	if m.HostKey.IsNull() && m.HostKeyFingerprint.IsNull() && !m.InsecureIgnoreHostKey.ValueBool() {
		diags.AddAttributeError(path.Root("scp"), "The SCP server's host key is not known",
			"Verifying the uploads connects to the SCP server over SSH, and its host key is checked: set scp.host_key "+
				"(the server's public key, e.g. from ssh-keyscan) or scp.host_key_fingerprint (SHA256:..., from ssh-keygen -lf). "+
				"For a lab server only, insecure_ignore_host_key = true skips the check; verify = false skips verification.")
	}
}

func fileAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"kind":     schema.StringAttribute{Computed: true, MarkdownDescription: "What the file holds (`running-config`, `running-config-scp`, `flash-archive-scp`, `ilo-backup`)."},
		"path":     schema.StringAttribute{Computed: true, MarkdownDescription: "Local path, for files in the local backup store."},
		"location": schema.StringAttribute{Computed: true, MarkdownDescription: "Remote location (`scp://user@address/path`), for files on an SCP server."},
		"size":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Size in bytes (0 when a remote file was not verified)."},
		"sha256":   schema.StringAttribute{Computed: true, MarkdownDescription: "SHA-256 of the content, hex (empty when a remote file was not verified)."},
	}
}

// dataFileAttributes is fileAttributes for data source schemas.
func dataFileAttributes() map[string]dsschema.Attribute {
	out := map[string]dsschema.Attribute{}
	for name, a := range fileAttributes() {
		switch a := a.(type) {
		case schema.StringAttribute:
			out[name] = dsschema.StringAttribute{Computed: true, MarkdownDescription: a.MarkdownDescription}
		case schema.Int64Attribute:
			out[name] = dsschema.Int64Attribute{Computed: true, MarkdownDescription: a.MarkdownDescription}
		}
	}
	return out
}
