package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/aruba"
)

// arubaSession is infrabackup_aruba_session: a conductor API session.
var arubaSession = &sessionSpec[*aruba.Conductor]{
	kind:     arubaKind,
	typeName: "aruba_session",
	description: "Opens an API session on one Aruba Mobility Conductor (ArubaOS 8) for direct API access from elsewhere in the " +
		"configuration: send `uidaruba` as the `UIDARUBA` query parameter (and the `SESSION` cookie) and `csrf_token` as the " +
		"`X-CSRF-Token` header of every call to `base_url`. While Terraform still uses it, a `show hostname` every " +
		"`keepalive_interval` keeps the session from reaching the conductor's idle timeout (900 s by default). The session counts " +
		"against the conductor's limit of 64 CLI, WebUI and API sessions until it is logged out.",
	results: map[string]schema.Attribute{
		"uidaruba": schema.StringAttribute{
			MarkdownDescription: "The session id (`UIDARUBA`). A secret.",
			Computed:            true,
			Sensitive:           true,
		},
		"csrf_token": schema.StringAttribute{
			MarkdownDescription: "The session's CSRF token (`X-CSRF-Token`); null when the conductor's build issues none. A secret.",
			Computed:            true,
			Sensitive:           true,
		},
	},
	values: func(c *aruba.Conductor) (sessionValues, bool) {
		t, ok := c.SessionTokens()
		return sessionValues{baseURL: c.BaseURL(), results: map[string]attr.Value{
			"uidaruba": optionalString(t.UID), "csrf_token": optionalString(t.CSRFToken),
		}}, ok
	},
	keepAlive:        func(ctx context.Context, c *aruba.Conductor) error { return c.KeepAlive(ctx) },
	keepAliveDefault: 5 * time.Minute,
}
