package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

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
	// Log field names whose values are always masked: the client's one list.
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, client.SecretKeys()...)
	ctx = tflog.SubsystemMaskFieldValuesWithFieldKeys(ctx, client.Subsystem, client.SecretKeys()...)
	if len(nonEmpty) > 0 {
		ctx = tflog.MaskLogStrings(ctx, nonEmpty...)
		ctx = tflog.SubsystemMaskLogStrings(ctx, client.Subsystem, nonEmpty...)
	}
	return ctx
}
