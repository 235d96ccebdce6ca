package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/apstra"
)

// apstraSession is infrabackup_apstra_session: an Apstra API token. Apstra tokens
// end at a fixed time (their exp claim, 24 h after login) that no call extends, so
// there is nothing to keep alive.
var apstraSession = &sessionSpec[*apstra.Client]{
	kind:     apstraKind,
	typeName: "apstra_session",
	description: "Logs in to one Juniper Apstra server for direct API access from elsewhere in the configuration: send " +
		"`token` as the `AuthToken` header of every call to `base_url` (`<base_url>/api/...`). Apstra tokens end at a fixed " +
		"time, `expires_at` (24 hours after login), which no call extends.",
	results: map[string]schema.Attribute{
		"token": schema.StringAttribute{
			MarkdownDescription: "The API token (`AuthToken`). A secret.",
			Computed:            true,
			Sensitive:           true,
		},
		"expires_at": schema.StringAttribute{
			MarkdownDescription: "When the token expires (RFC 3339, UTC); null when the server's token does not say.",
			Computed:            true,
		},
	},
	values: func(c *apstra.Client) (sessionValues, bool) {
		t, ok := c.Token()
		expires := types.StringNull()
		if !t.Expires.IsZero() {
			expires = formatTime(t.Expires)
		}
		return sessionValues{baseURL: c.BaseURL(), results: map[string]attr.Value{"token": types.StringValue(t.Value), "expires_at": expires}}, ok
	},
}
