package ilo

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent logins never exceed the session limit; run-time toggles are safe while
// requests are served (meaningful under -race).
func TestConcurrentLoginsAndToggles(t *testing.T) {
	c := start(t, Config{MaxSessions: 8, BackupSize: 20_000})
	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := c.loginAs(c.d.Username(), c.d.Password())
			switch resp.StatusCode {
			case 201:
				ok.Add(1)
			case 503:
				limited.Add(1)
			default:
				t.Errorf("login: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 8 || limited.Load() != 12 || c.d.OpenSessions() != 8 {
		t.Fatalf("ok %d limited %d open %d", ok.Load(), limited.Load(), c.d.OpenSessions())
	}
	c.d.ExpireAllSessions()
	c.login()

	stop := make(chan struct{})
	var tw sync.WaitGroup
	tw.Add(1)
	go func() {
		defer tw.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.d.SetFIPS(i%2 == 0)
			c.d.SetOldFirmware(i%3 == 0)
			c.d.SetBackupLocation([]string{"", "//other-host/x"}[i%2])
			c.d.SetRelativeLocation(i%2 == 1)
			c.d.SetResetDownloadAfter(0)
			c.d.SetBackupSize(int64(10_000 + i%5))
			_ = c.d.ETag()
			_ = c.d.ServedBackups()
			time.Sleep(time.Millisecond)
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				c.getJSON("/redfish/v1/Managers/1/BackupRestoreService")
				if name := c.d.CurrentBackup(); name != "" {
					resp, _ := c.do("GET", "/bkupdata/"+name, nil, nil)
					if resp.StatusCode != 200 && resp.StatusCode != 404 {
						t.Errorf("download: %d", resp.StatusCode)
					}
				}
				c.do("PATCH", "/redfish/v1/Managers/1/BackupRestoreService", map[string]any{"CustomBackupandRestore": i%2 == 0}, nil)
			}
		}()
	}
	wg.Wait()
	close(stop)
	tw.Wait()
}
