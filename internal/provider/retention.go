package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	providerschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// Retention: after a backup of a device is committed, the backups of that device
// that the policy does not keep are deleted from the store (backupstore.Prune).

type retentionModel struct {
	KeepLast types.Int64 `tfsdk:"keep_last"`
	KeepDays types.Int64 `tfsdk:"keep_days"`
}

const retentionRule = "A backup is kept when it is among the newest `keep_last` backups of its device or younger than " +
	"`keep_days` days; the others are deleted from the store after a new backup of that device succeeded — never after a " +
	"failure, never the backup just made, never the newest usable one. A backup under S3 Object Lock is kept, with a " +
	"warning naming it and its retain-until date. The files of a run that died before it completed (a killed runner) are " +
	"deleted too, once a newer backup of the device exists and the run started over a day ago. " +
	"Files a conductor pushed to an SCP server are not the store's and stay. " +
	"On a versioned bucket a deletion adds a delete marker: expire noncurrent versions with a lifecycle rule."

func retentionAttributeDescriptions() (keepLast, keepDays string) {
	return "Keep the newest N backups of each device. Unset or 0: no count rule.",
		"Keep the backups younger than N days (by the time each started). Unset or 0: no age rule."
}

// providerRetentionSchema is the provider's default retention.
func providerRetentionSchema() providerschema.SingleNestedAttribute {
	keepLast, keepDays := retentionAttributeDescriptions()
	return providerschema.SingleNestedAttribute{
		MarkdownDescription: "Default retention of every backup resource (a resource's own `retention` replaces it). " +
			retentionRule + " Without it, every backup is kept.",
		Optional: true,
		Attributes: map[string]providerschema.Attribute{
			"keep_last": providerschema.Int64Attribute{MarkdownDescription: keepLast, Optional: true, Validators: retentionValidators()},
			"keep_days": providerschema.Int64Attribute{MarkdownDescription: keepDays, Optional: true, Validators: retentionValidators()},
		},
	}
}

// resourceRetentionSchema is a backup resource's retention override. Changing it
// takes no new backup: it applies from the next backup on.
func resourceRetentionSchema() schema.SingleNestedAttribute {
	keepLast, keepDays := retentionAttributeDescriptions()
	return schema.SingleNestedAttribute{
		MarkdownDescription: "Retention of this device's backups, replacing the provider's `retention` as a whole " +
			"(`retention = {}` keeps everything). " + retentionRule + " Changing it takes no new backup: it applies from the next one.",
		Optional: true,
		Attributes: map[string]schema.Attribute{
			"keep_last": schema.Int64Attribute{MarkdownDescription: keepLast, Optional: true, Validators: retentionValidators()},
			"keep_days": schema.Int64Attribute{MarkdownDescription: keepDays, Optional: true, Validators: retentionValidators()},
		},
	}
}

func retentionValidators() []validator.Int64 {
	return []validator.Int64{int64validator.Between(0, 100000)}
}

// retentionPolicy converts a retention object; ok is false when it is null.
func retentionPolicy(ctx context.Context, obj types.Object) (backupstore.Policy, bool, diag.Diagnostics) {
	if obj.IsNull() || obj.IsUnknown() {
		return backupstore.Policy{}, false, nil
	}
	var m retentionModel
	diags := obj.As(ctx, &m, basetypes.ObjectAsOptions{})
	return backupstore.Policy{KeepLast: int(m.KeepLast.ValueInt64()), KeepDays: int(m.KeepDays.ValueInt64())}, true, diags
}

// pruneAfterBackup applies retention to the device of backup b, which was just
// committed: the resource's override when set, else the provider's default. Call it
// only after a backup succeeded. Nothing it meets fails the operation — the backup
// stands — so everything it has to say is a warning: one per backup that Object
// Lock keeps, naming it and its date, one for the locked objects no backup records
// any more, and one when pruning failed.
func (d *providerData) pruneAfterBackup(ctx context.Context, store *backupstore.Store, b backupstore.Backup, override types.Object, diags *diag.Diagnostics) {
	policy, ok, pd := retentionPolicy(ctx, override)
	diags.Append(pd...)
	if !ok {
		policy = d.retention
	}
	if policy.KeepsEverything() {
		return
	}
	what := fmt.Sprintf("%s device %s", b.Family, b.Device)
	res, err := store.Prune(ctx, b.Family, b.Device, policy, b.ID, d.now())
	if len(res.Deleted) > 0 || len(res.Orphans) > 0 || len(res.Abandoned) > 0 {
		tflog.Info(ctx, "retention deleted old backups", map[string]any{
			"device": what, "deleted": strings.Join(res.Deleted, ","), "orphans": len(res.Orphans),
			"abandoned_runs": strings.Join(res.Abandoned, ","), "store": store.Location(),
		})
	}
	for _, k := range res.Locked() {
		until := "its legal hold is removed"
		if !k.RetainUntil.IsZero() {
			until = k.RetainUntil.UTC().Format(time.RFC3339)
		}
		diags.AddWarning(fmt.Sprintf("Backup %s of %s kept: Object Lock until %s", k.ID, what, until),
			k.String()+". The retention policy would delete it; a backup of this device after that date deletes it. "+
				"The new backup succeeded.")
	}
	if len(res.Leftovers) > 0 {
		diags.AddWarning(fmt.Sprintf("Retention of %s left %d locked objects", what, len(res.Leftovers)),
			"These objects of deleted backups are under Object Lock and stay until their date; no record names them, "+
				"so they are never listed as a backup: "+strings.Join(res.Leftovers, ", "))
	}
	if len(res.LockedOrphans) > 0 {
		locks := make([]string, len(res.LockedOrphans))
		for i, l := range res.LockedOrphans {
			locks[i] = "- " + l.Error()
		}
		files := fmt.Sprintf("%d locked files", len(locks))
		if len(locks) == 1 {
			files = "a locked file"
		}
		diags.AddWarning(fmt.Sprintf("Retention of %s kept %s that no backup records", what, files),
			"These files of runs that never completed (or of backups deleted earlier) would be deleted, but Object Lock "+
				"protects them. No record names them, so they are never listed as a backup; a backup of this device after "+
				"their date deletes them. The new backup succeeded.\n\n"+strings.Join(locks, "\n"))
	}
	if err != nil {
		deleted := "nothing was deleted"
		if len(res.Deleted) > 0 {
			deleted = "deleted so far: " + strings.Join(res.Deleted, ", ")
		}
		diags.AddWarning(fmt.Sprintf("Old backups of %s were not pruned", what),
			operationError(ctx, err)+fmt.Sprintf(" (%s).\n\nThe new backup %s succeeded and is recorded in the state and in the "+
				"backup store; the older backups stay until a later backup of this device prunes them.", deleted, b.ID))
	}
}
