package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

// iloSession is infrabackup_ilo_session: a Redfish session on an iLO.
var iloSession = &sessionSpec[*redfish.Client]{
	kind:     iloKind,
	typeName: "ilo_session",
	description: "Opens a Redfish session on one HPE iLO for direct API access from elsewhere in the configuration: send " +
		"`x_auth_token` as the `X-Auth-Token` header of every call to `base_url`. While Terraform still uses it, a read of " +
		"the session's own resource every `keepalive_interval` keeps it from reaching the iLO's session timeout (30 minutes by " +
		"default). iLOs allow few concurrent sessions: this one counts until it is logged out.",
	results: map[string]schema.Attribute{
		"x_auth_token": schema.StringAttribute{
			MarkdownDescription: "The session's token (`X-Auth-Token`). A secret.",
			Computed:            true,
			Sensitive:           true,
		},
		"session_uri": schema.StringAttribute{
			MarkdownDescription: "The session's resource on the iLO, a path (`/redfish/v1/SessionService/Sessions/<id>/`): `DELETE` on it ends the session.",
			Computed:            true,
		},
	},
	values: func(c *redfish.Client) (sessionValues, bool) {
		s, ok := c.SessionToken()
		return sessionValues{baseURL: c.BaseURL(), results: map[string]attr.Value{
			"x_auth_token": types.StringValue(s.Token), "session_uri": types.StringValue(s.Path),
		}}, ok
	},
	keepAlive:        func(ctx context.Context, c *redfish.Client) error { return c.KeepAlive(ctx) },
	keepAliveDefault: 5 * time.Minute,
}
