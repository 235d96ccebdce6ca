package ilo

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"io"
	"mime/multipart"
	"runtime"
	"testing"
	"time"
)

// TestLargeBackupStreamsWithBoundedMemory downloads a 256 MiB backup, then pipes a
// second download straight into a restore upload: neither side may hold the image.
func TestLargeBackupStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	const size = 256 << 20
	const heapLimit = 48 << 20
	c := start(t, Config{BackupSize: size, ResetDuration: 50 * time.Millisecond})
	c.login()
	loc := c.backupLocation()

	runtime.GC()
	stop := testkit.WatchHeap()
	resp, err := c.req("GET", loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != size {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	peak := stop()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if got := c.d.ServedBackups()[loc[len("/bkupdata/"):]]; got != sum {
		t.Fatalf("recorded %s, downloaded %s", got, sum)
	}
	t.Logf("download peak heap %d MiB", peak>>20)
	if peak > heapLimit {
		t.Fatalf("peak heap %d MiB while streaming a %d MiB backup", peak>>20, size>>20)
	}

	// Download → restore through a pipe.
	runtime.GC()
	stop = testkit.WatchHeap()
	dl, err := c.req("GET", loc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		defer dl.Body.Close()
		_ = mw.WriteField("sessionKey", c.token)
		fw, err := mw.CreateFormFile("file", "backup.bak")
		if err == nil {
			_, err = io.Copy(fw, dl.Body)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	up, err := c.req("POST", HTTPPushURI, pr, map[string]string{"Content-Type": mw.FormDataContentType(), "Cookie": "sessionKey=" + c.token})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(up.Body)
	up.Body.Close()
	peak = stop()
	if up.StatusCode != 200 {
		t.Fatalf("restore: %d %s", up.StatusCode, body)
	}
	r := c.d.LastRestore()
	if r == nil || r.SHA256 != sum || r.Size != size || r.MatchedBackup == "" {
		t.Fatalf("restore %+v", r)
	}
	t.Logf("download+restore peak heap %d MiB", peak>>20)
	if peak > heapLimit {
		t.Fatalf("peak heap %d MiB while piping a %d MiB backup into a restore", peak>>20, size>>20)
	}
}
