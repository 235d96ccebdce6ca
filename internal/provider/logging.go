package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// logContext prepares ctx for one operation: it creates the client subsystem, masks
// every secret the operation knows of in the provider's and the subsystem's logs, and
// carries the operation's secret set (client.SecretsFrom): device clients built with
// it add each session token as it is issued, and operationError scrubs with it.
func logContext(ctx context.Context, secrets ...string) context.Context {
	ctx = client.WithSecrets(ctx, client.NewSecrets(secrets...))
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

// operationError is the text of an operation's error for a diagnostic: every secret
// the operation knows (passwords, session tokens) is masked, in every form a device
// may have echoed it, and what Redact recognises too. terraform-plugin-go logs every
// diagnostic unmasked, so an operation error reaches a diagnostic only through here.
func operationError(ctx context.Context, err error) string {
	return client.SecretsFrom(ctx).Scrub(err.Error())
}

// addLogoutWarning reports a logout that failed after the operation's result was
// recorded: the result stands, so it is a warning.
func addLogoutWarning(ctx context.Context, diags *diag.Diagnostics, summary string, err error) {
	diags.AddWarning(summary, operationError(ctx, err)+"\n\nThe backup is complete and recorded, in the state and in the backup store. "+
		"The device keeps the session open until its idle timeout, and it counts against the device's session limit meanwhile; "+
		"if this repeats, check the device's web server.")
}
