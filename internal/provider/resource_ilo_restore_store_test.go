package provider

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// restoreFromStore is the restore restoreRes of the iLO d from the backup iloRes
// took, named in the store by attribute ("backup_id": its id; "backup_key": its
// file's key).
func restoreFromStore(d *iloSim, attribute string, opts ...option) *block {
	ref := expr(iloRes + ".id")
	if attribute == "backup_key" {
		ref = expr(iloRes + ".files[0].key")
	}
	return resourceBlock(restoreRes, append([]option{set("host", d.Host), set("port", d.Port), set(attribute, ref)}, opts...)...)
}

// TestAccS3_iloRestoreFromBucket: an iLO backup in a bucket is restored by its id and
// by its key, streamed from the bucket: the iLO receives bytes with the backup's
// SHA-256. Then the object is changed in the bucket (same length, one byte differs):
// the restore fails, naming the changed file, and the iLO completes no restore.
func TestAccS3_iloRestoreFromBucket(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-s3", nil)
	b := e.startS3(false)
	b.prefix = "restores"
	var key string
	tamper := func() {
		ctx := context.Background()
		data, _, err := b.read(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/3] ^= 0x01
		if _, err := b.srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.name), Key: aws.String(b.bucketKey(key)),
			Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	config := func(restore *block) string { return hclConfig(e.s3Provider(b), iloBackup(d), restore) }
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(restoreFromStore(d, "backup_id")),
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(d, 1, false),
					statecheck.CompareValuePairs(restoreRes, at("backup_id"), iloRes, at("id"), compare.ValuesSame()),
					statecheck.ExpectKnownValue(restoreRes, at("outcome"), knownvalue.StringExact("restored")),
					statecheck.ExpectKnownValue(restoreRes, at("backup_serial_number"), knownvalue.StringExact(d.ILO.Serial())),
					e.inBucket(b, iloRes),
					e.noOpenSessions(),
					checkFunc(func(s *tfjson.State) (err error) {
						key, err = attrText(s, iloRes, "files.0.key")
						return err
					}),
				},
			},
			{
				Config: config(restoreFromStore(d, "backup_key")),
				ConfigStateChecks: []statecheck.StateCheck{
					restoredFromBackup(d, 2, false),
					statecheck.CompareValuePairs(restoreRes, at("backup_key"), iloRes, at("files.0.key"), compare.ValuesSame()),
					e.noOpenSessions(),
				},
			},
			{
				PreConfig:   tamper,
				Config:      config(restoreFromStore(d, "backup_key", set("trigger", "after-tampering"))),
				ExpectError: errorRE(`Restore of iLO .* failed.*restore upload.*backup file s3://` + b.name + `/restores/ilo/\S+-ilo-backup\.bak was changed or damaged after the backup.*last bytes were withheld`),
			},
		},
	})
	if n := d.ILO.Restores(); n != 2 {
		t.Errorf("the iLO completed %d restores, want the 2 before the object was changed", n)
	}
	if n := uploads(d); n != 3 {
		t.Errorf("the iLO saw %d uploads, want 3 (the third one, of the changed object, never completed)", n)
	}
}

// TestAccILORestore_fromLocalStoreByID: backup_id works with a local store too.
func TestAccILORestore_fromLocalStoreByID(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-id", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config:            e.config(iloBackup(d), restoreFromStore(d, "backup_id")),
			ConfigStateChecks: []statecheck.StateCheck{restoredFromBackup(d, 1, false), e.noOpenSessions()},
		}},
	})
}

// TestAccILORestore_backupSourceRefusals: a restore names exactly one backup (a plan
// error otherwise); a backup id or key the store does not hold is refused before
// anything is sent (one that cannot name an iLO backup fails the plan:
// TestILORestore_backupNameCheckedAtPlan).
func TestAccILORestore_backupSourceRefusals(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-restore-sources", nil)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(resourceBlock(restoreRes, set("host", d.Host), set("port", d.Port))),
				PlanOnly:    true,
				ExpectError: errorRE(`No backup to restore.*Set one of backup_file \(a local file\), backup_id .* or backup_key`),
			},
			{
				Config:      e.config(iloBackup(d), restoreFromStore(d, "backup_id", set("backup_key", expr(iloRes+".files[0].key")))),
				PlanOnly:    true,
				ExpectError: errorRE(`More than one backup to restore.*backup_id and backup_key are set.*keep one of them`),
			},
			{
				Config: e.config(resourceBlock(restoreRes, set("host", d.Host), set("port", d.Port),
					set("backup_id", "CZ0000000X/20260101T000000.000Z"))),
				ExpectError: errorRE(`Restore of iLO .* refused.*nothing was uploaded.*backup_id "CZ0000000X/20260101T000000\.000Z": the backup store ` +
					`.* holds no such complete iLO backup.*configuration was not changed`),
			},
			{
				Config: e.config(resourceBlock(restoreRes, set("host", d.Host), set("port", d.Port),
					set("backup_key", "ilo/CZ0000000X/20260101T000000.000Z-ilo-backup.bak"))),
				ExpectError: errorRE(`Restore of iLO .* refused.*backup_key "ilo/CZ0000000X/20260101T000000\.000Z-ilo-backup\.bak": the backup store .* holds no such complete iLO backup`),
			},
		},
	})
	if n, u := d.ILO.Restores(), uploads(d); n != 0 || u != 0 {
		t.Errorf("refused restores reached the iLO: %d restores, %d uploads", n, u)
	}
	if got := fmt.Sprint(d.ILO.Stats.Snapshot().Logins); got != "0" {
		t.Errorf("refused restores logged in to the iLO %s times, want none", got)
	}
}
