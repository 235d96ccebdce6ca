package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

const gib = 1 << 30

func iloProvider(l devicesim.Listing, st backupStore) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    infrabackup = { source = "infrabackup/infrabackup" }
  }
}
variable "ilo_password" {
  type      = string
  sensitive = true
}
provider "infrabackup" {
  %s
  ca_cert_pem = file(%q)
  ilo = {
    username = %q
    password = var.ilo_password
  }
}
`, st.args, l.CACertFile, l.Devices[0].Username)
}

func iloBackupResource(name string, d devicesim.DeviceInfo, trigger string) string {
	return fmt.Sprintf(`
resource "infrabackup_ilo_backup" %q {
  host    = %q
  port    = %d
  name    = %q
  trigger = %q
}
output %q {
  value = [infrabackup_ilo_backup.%s.started_at, infrabackup_ilo_backup.%s.completed_at]
}
output "%s_path" {
  value = infrabackup_ilo_backup.%s.local_path
}
`, name, d.Host, d.Port, name, trigger, name, name, name, name, name)
}

// iloLarge: a 1 GiB backup downloaded by the provider and by curl from the same
// simulator in the same run, then restored; peak memory of both provider runs.
func (b *bench) iloLarge() error {
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim-ilo-large"), "-aruba", "0", "-ilo", "1",
		"-ilo-backup-size", fmt.Sprint(gib), "-ilo-reset-duration", "1s")
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing
	d := l.Devices[0]
	env := append([]string{"TF_VAR_ilo_password=" + d.Password}, b.env...)

	curlFile := filepath.Join(b.ws.Dir, "curl-download.bak")
	curlSecs, err := curlDownload(l, d, curlFile)
	if err != nil {
		return err
	}
	// The provider's copy is durable (fsync before rename); curl's is not. The same
	// download made durable is curl's time plus the fsync of its file.
	syncStart := time.Now()
	if err := fsyncFile(curlFile); err != nil {
		return err
	}
	curlDurableSecs := curlSecs + time.Since(syncStart).Seconds()
	_ = os.Remove(curlFile)
	diskSecs, err := durableWriteSeconds(filepath.Join(b.ws.Dir, "disk-probe"), gib)
	if err != nil {
		return err
	}
	_ = b.peakRSS()
	dir := filepath.Join(b.ws.Dir, "ilo-large")
	durations, err := b.apply(dir, iloProvider(l, localStore(filepath.Join(b.ws.Dir, "backups")))+iloBackupResource("big", d, "1"), 1, env)
	if err != nil {
		return err
	}
	provSecs := durations["big"].Seconds()
	report("disk_durable_write_1gib", float64(gib)/diskSecs/(1<<20), "MiB/s")
	report("ilo_1gib_download_curl", float64(gib)/curlSecs/(1<<20), "MiB/s")
	report("ilo_1gib_download_curl_then_fsync", float64(gib)/curlDurableSecs/(1<<20), "MiB/s")
	report("ilo_1gib_download_provider", float64(gib)/provSecs/(1<<20), "MiB/s")
	report("ilo_1gib_download_provider_vs_curl", curlSecs/provSecs, "x")
	report("ilo_1gib_download_provider_vs_curl_then_fsync", curlDurableSecs/provSecs, "x")
	report("ilo_1gib_download_provider_peak_rss", b.peakRSS(), "MiB")

	var out strings.Builder
	if err := b.ws.Terraform(b.ctx, dir, &out, os.Stderr, env, "output", "-raw", "big_path"); err != nil {
		return err
	}
	restore := fmt.Sprintf(`
resource "infrabackup_ilo_restore" "big" {
  host        = %q
  port        = %d
  backup_file = %q
}
`, d.Host, d.Port, out.String())
	if _, err := b.apply(filepath.Join(b.ws.Dir, "ilo-restore"), iloProvider(l, localStore(filepath.Join(b.ws.Dir, "backups")))+restore, 1, env); err != nil {
		return err
	}
	report("ilo_1gib_restore_apply_time", b.lastApply.Seconds(), "s")
	report("ilo_1gib_restore_provider_peak_rss", b.peakRSS(), "MiB")
	return nil
}

func fsyncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // the Sync error is the one to report
		return err
	}
	return f.Close()
}

// durableWriteSeconds writes n zero bytes to name and fsyncs them: what the disk
// allows a durable writer, whatever the network does.
func durableWriteSeconds(name string, n int64) (float64, error) {
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer func() {
		// A scratch file of zeros in the bench's own folder: what closing or removing
		// it says changes no figure.
		_ = f.Close()
		_ = os.Remove(name)
	}()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for written := int64(0); written < n; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// iloMany: n iLOs (50 ms per call) at -parallelism p versus p-sized waves of one
// iLO's critical path.
func (b *bench) iloMany(n, parallelism int) error {
	// The same apply against iLOs that answer at once measures what Terraform and the
	// provider cost by themselves, whatever the devices do.
	overhead, err := b.iloApplyTime(n, parallelism, "0s", "ilo-overhead")
	if err != nil {
		return err
	}
	report("ilo_apply_wall_time_zero_latency_devices", overhead.Seconds(), "s")
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim-ilo-many"), "-aruba", "0", "-ilo", fmt.Sprint(n), "-latency", "50ms")
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing
	ca, err := os.ReadFile(l.CACertFile)
	if err != nil {
		return err
	}
	env := append([]string{"TF_VAR_ilo_password=" + l.Devices[0].Password}, b.env...)
	st := localStore(filepath.Join(b.ws.Dir, "backups"))
	single, err := b.apply(filepath.Join(b.ws.Dir, "ilo-single"), iloProvider(l, st)+iloBackupResource(l.Devices[0].Name, l.Devices[0], "one"), 1, env)
	if err != nil {
		return err
	}
	critical := single[l.Devices[0].Name]
	before := sumStats(b.ctx, l.Devices, ca)
	cfg := iloProvider(l, st)
	for _, d := range l.Devices {
		cfg += iloBackupResource(d.Name, d, "all")
	}
	if _, err := b.apply(filepath.Join(b.ws.Dir, "ilo-all"), cfg, parallelism, env); err != nil {
		return err
	}
	wall := b.lastApply
	after := sumStats(b.ctx, l.Devices, ca)
	ideal := time.Duration((len(l.Devices)+parallelism-1)/parallelism) * critical
	report("ilo_devices", len(l.Devices), "devices")
	report("ilo_backup_critical_path", critical.Seconds(), "s")
	report("ilo_plan_wall_time", b.lastPlan.Seconds(), "s")
	report("ilo_apply_wall_time", wall.Seconds(), "s")
	report("ilo_ideal_time", ideal.Seconds(), "s")
	report("ilo_apply_vs_ideal", wall.Seconds()/ideal.Seconds(), "x")
	report("ilo_plan_and_apply_vs_ideal", (b.lastPlan+wall).Seconds()/ideal.Seconds(), "x")
	report("ilo_sessions_per_backup", float64(after.Logins-before.Logins)/float64(len(l.Devices)), "sessions")
	report("ilo_logouts_per_backup", float64(after.Logouts-before.Logouts)/float64(len(l.Devices)), "logouts")
	report("ilo_calls_per_backup", float64(after.TotalCalls()-before.TotalCalls())/float64(len(l.Devices)), "calls")
	report("ilo_open_sessions_after_apply", after.OpenSessions, "sessions")
	return nil
}

// curlDownload times curl fetching a fresh backup of d to the file dest.
func curlDownload(l devicesim.Listing, d devicesim.DeviceInfo, dest string) (float64, error) {
	dl, err := openDownload(l, d, dest+".headers")
	if err != nil {
		return 0, err
	}
	defer dl.close()
	start := time.Now()
	cmd := dl.curl("-o", dest)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("curl: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

// iloDownload is a backup an iLO minted for a session of its own, ready for curl to
// fetch.
type iloDownload struct {
	url, caFile, headers string
	logout               func()
}

// openDownload logs in (Go), has the iLO mint a backup and returns where to fetch
// it. The session token reaches curl through a 0600 header file, not argv; close
// removes it and logs out.
func openDownload(l devicesim.Listing, d devicesim.DeviceInfo, headers string) (*iloDownload, error) {
	if _, err := exec.LookPath("curl"); err != nil {
		return nil, fmt.Errorf("the download comparison needs curl (apt-get install -y curl)")
	}
	caPEM, err := os.ReadFile(l.CACertFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	body, _ := json.Marshal(map[string]string{"UserName": d.Username, "Password": d.Password})
	resp, err := hc.Post(d.URL+"/redfish/v1/SessionService/Sessions/", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close() // the login's answer is in its headers
	token, location := resp.Header.Get("X-Auth-Token"), resp.Header.Get("Location")
	if token == "" {
		return nil, fmt.Errorf("curl comparison: login failed (HTTP %d)", resp.StatusCode)
	}
	loc, err := url.Parse(location) // iLO names itself without the port
	if err != nil {
		return nil, err
	}
	dl := &iloDownload{caFile: l.CACertFile, headers: headers, logout: func() {
		req, _ := http.NewRequest(http.MethodDelete, d.URL+loc.RequestURI(), nil)
		req.Header.Set("X-Auth-Token", token)
		if r, err := hc.Do(req); err == nil {
			_ = r.Body.Close() // the logout's answer says nothing the figures need
		}
	}}
	req, _ := http.NewRequest(http.MethodGet, d.URL+"/redfish/v1/Managers/1/BackupRestoreService", nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err = hc.Do(req)
	if err != nil {
		dl.logout()
		return nil, err
	}
	var svc struct{ BackupFileLocation string }
	err = json.NewDecoder(resp.Body).Decode(&svc)
	_ = resp.Body.Close() // decoded, or failed with an error reported below
	if err != nil || svc.BackupFileLocation == "" {
		dl.logout()
		return nil, fmt.Errorf("curl comparison: no backup location (%v)", err)
	}
	dl.url = d.URL + svc.BackupFileLocation
	if err := os.WriteFile(headers, []byte("X-Auth-Token: "+token+"\n"), 0o600); err != nil {
		dl.logout()
		return nil, err
	}
	return dl, nil
}

// curl is the command fetching the backup, with args (the output) before the URL.
func (dl *iloDownload) curl(args ...string) *exec.Cmd {
	args = append([]string{"-sS", "--fail", "--cacert", dl.caFile, "-H", "@" + dl.headers}, args...)
	return exec.Command("curl", append(args, dl.url)...)
}

func (dl *iloDownload) close() {
	// The simulator's session token, in the bench's own folder: a failed removal
	// leaves a token the simulator forgets on exit.
	_ = os.Remove(dl.headers)
	dl.logout()
}

// iloApplyTime applies n iLO backups against simulators with the given latency and
// returns the apply's wall time.
func (b *bench) iloApplyTime(n, parallelism int, latency, name string) (time.Duration, error) {
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim-"+name), "-aruba", "0", "-ilo", fmt.Sprint(n), "-latency", latency)
	if err != nil {
		return 0, err
	}
	defer sims.Stop()
	l := sims.Listing
	env := append([]string{"TF_VAR_ilo_password=" + l.Devices[0].Password}, b.env...)
	cfg := iloProvider(l, localStore(filepath.Join(b.ws.Dir, "backups-"+name)))
	for _, d := range l.Devices {
		cfg += iloBackupResource(d.Name, d, name)
	}
	durations, err := b.apply(filepath.Join(b.ws.Dir, name), cfg, parallelism, env)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, d := range durations {
		sum += d
	}
	if len(durations) > 0 {
		report(name+"_mean_backup_time", (sum / time.Duration(len(durations))).Seconds(), "s")
	}
	return b.lastApply, nil
}
