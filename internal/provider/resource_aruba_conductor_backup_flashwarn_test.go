package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestArubaBackupPlanWarnsFlashClean checks that a plan that takes a conductor
// backup with flash_backup on warns that every tar file on the conductor's flash is
// deleted, and that other plans do not.
func TestArubaBackupPlanWarnsFlashClean(t *testing.T) {
	t.Parallel()
	const res = "infrabackup_aruba_conductor_backup"
	p := newProtocolProvider(t)
	typ := p.resourceType(res)
	scp := func(withPassword bool) map[string]any {
		s := map[string]any{"host": "127.0.0.1", "username": "mcbackup", "host_key_fingerprint": "SHA256:" + strings.Repeat("A", 43)}
		if withPassword { // write-only: in the configuration only
			s["password_wo"] = "pw"
		}
		return s
	}
	config := func(withSCP, withPassword bool, flash *bool) tftypes.Value {
		set := map[string]any{"host": "mc1.example.net", "trigger": "1"}
		if withSCP {
			set["scp"] = scp(withPassword)
		}
		if flash != nil {
			set["flash_backup"] = *flash
		}
		return p.object(typ, set)
	}
	// state is a backup with scp and flash_backup on, as recorded after its apply.
	recorded := scp(false)
	recorded["port"], recorded["remote_dir"], recorded["verify"], recorded["insecure_ignore_host_key"] = 22, "", true, false
	state := p.object(typ, map[string]any{
		"host": "mc1.example.net", "trigger": "1", "id": "mc1/20260101T000000.000Z", "name": "mc1",
		"config_path": "/md", "flash_backup": true, "scp": recorded,
	})
	warns := func(prior, proposed, config tftypes.Value) bool {
		t.Helper()
		return findWarning(t, p.plan(res, prior, proposed, config), func(summary, detail string) bool {
			return strings.Contains(summary, "mc1.example.net") && strings.Contains(summary, "every tar file") &&
				strings.Contains(detail, "tar_flash_clean") && strings.Contains(detail, "archives an administrator made") &&
				strings.Contains(detail, "flash_backup = false")
		}) != nil
	}
	newBackupWarns := func(withSCP bool, flash *bool) bool {
		t.Helper()
		return warns(tftypes.NewValue(typ, nil), config(withSCP, false, flash), config(withSCP, true, flash))
	}
	on, off := true, false
	if !newBackupWarns(true, nil) {
		t.Error("a new backup with scp (flash_backup on by default) carries no warning that every tar file on flash is deleted")
	}
	if !newBackupWarns(true, &on) {
		t.Error("a new backup with flash_backup = true carries no warning that every tar file on flash is deleted")
	}
	if newBackupWarns(true, &off) {
		t.Error("a backup with flash_backup = false warns about deleting tar files")
	}
	if newBackupWarns(false, nil) {
		t.Error("a backup without scp (no flash archive) warns about deleting tar files")
	}
	// A plan that takes no new backup does not warn. (A replacement warns: Terraform
	// plans it again as a create, with no prior state, which is the case above.)
	if warns(state, state, config(true, true, nil)) {
		t.Error("a plan that takes no new backup warns about deleting tar files")
	}
}
