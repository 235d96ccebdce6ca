package provider

import (
	"regexp"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// TestAccS3_serverStopsMidILOUpload: the S3 server stops answering in the middle of
// a 64 MiB iLO backup's upload (from its third part on, every request is cut, until
// it is back for the clean-up). The apply fails with an error that names the iLO,
// the step, the bucket and the key; nothing of the backup is visible in the bucket,
// no multipart upload is left open, and the iLO's session is closed.
func TestAccS3_serverStopsMidILOUpload(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-s3-stop", func(c *ilosim.Config) { c.BackupSize = 64 << 20 })
	b := e.startS3(false)
	b.prefix = "stops"
	proxy := s3test.NewProxy(t, b.srv, e.ca)
	var mu sync.Mutex
	gone, back, cut := false, false, 0
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		mu.Lock()
		defer mu.Unlock()
		if !back && r.Op == "UploadPart" && r.Query.Get("partNumber") == "3" {
			gone = true
		}
		if gone && r.Op == "AbortMultipartUpload" {
			gone, back = false, true // the server is back for the clean-up's retry
			return s3test.Drop
		}
		if gone {
			cut++
			return s3test.Reset
		}
		return s3test.Pass
	})
	provider := e.provider(unset("backup_dir"), b.store(set("endpoint", proxy.URL)))
	key := `stops/ilo/` + regexp.QuoteMeta(d.ILO.Serial()) + `/\d{8}T\d{6}\.\d{3}Z-ilo-backup\.bak`
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(provider, iloBackup(d)),
			ExpectError: errorRE(`Backup of iLO ` + regexp.QuoteMeta(d.Host) + `:\d+ failed.*` + regexp.QuoteMeta(d.Host) + `:\d+: store the backup: .*` +
				`S3 upload part \d+ s3://` + b.name + `/` + key),
		}},
	})
	mu.Lock()
	defer mu.Unlock()
	if cut == 0 || !back {
		t.Fatalf("the proxy cut %d requests and the server came back: %t: the test did not test what it should", cut, back)
	}
	if keys := visibleKeys(t, b); len(keys) != 0 {
		t.Errorf("the failed backup left objects in the bucket: %v", keys)
	}
	if open := b.srv.OpenUploads(t, b.name); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
	st := d.ILO.Stats.Snapshot()
	if st.Logins != 1 || st.Logouts != 1 || d.ILO.OpenSessions() != 0 {
		t.Errorf("the iLO's session must be closed: %d logins, %d logouts, %d open sessions", st.Logins, st.Logouts, d.ILO.OpenSessions())
	}
}
