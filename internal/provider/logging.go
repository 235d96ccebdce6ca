package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// secretFieldKeys are log field names whose values are always masked.
var secretFieldKeys = []string{"password", "passwd", "token", "UIDARUBA", "X-CSRF-Token", "X-Auth-Token", "sessionKey", "cookie", "backup_password"}

// logContext prepares ctx for one operation: it creates the client subsystem and masks
// every secret the operation knows of, in the provider's and the subsystem's logs.
func logContext(ctx context.Context, secrets ...string) context.Context {
	ctx = tflog.NewSubsystem(ctx, client.Subsystem)
	var nonEmpty []string
	for _, s := range secrets {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, secretFieldKeys...)
	ctx = tflog.SubsystemMaskFieldValuesWithFieldKeys(ctx, client.Subsystem, secretFieldKeys...)
	if len(nonEmpty) > 0 {
		ctx = tflog.MaskLogStrings(ctx, nonEmpty...)
		ctx = tflog.SubsystemMaskLogStrings(ctx, client.Subsystem, nonEmpty...)
	}
	return ctx
}
