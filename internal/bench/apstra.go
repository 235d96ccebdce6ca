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
	"github.com/infrabackup/terraform-provider-infrabackup/internal/tfdriver"
)

// Apstra catalog and pool paths a backup exports (as internal/client/apstra lists
// them); curl fetches the same.
var apstraCollections = []string{
	"/api/design/logical-devices", "/api/design/interface-maps", "/api/design/rack-types", "/api/design/templates",
	"/api/design/configlets", "/api/design/tags", "/api/design/config-templates", "/api/property-sets", "/api/device-profiles",
	"/api/resources/asn-pools", "/api/resources/vni-pools", "/api/resources/integer-pools", "/api/resources/ip-pools",
	"/api/resources/ipv6-pools", "/api/resources/vlan-pools",
}

// apstra: one server with 10 blueprints of 20,000 nodes and 50 managed devices each,
// 50 ms per call: the provider's backup against curl fetching the same URLs one
// after another with a token, in the same run; peak memory; logins per backup.
func (b *bench) apstra() error {
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim-apstra"), "-aruba", "0", "-apstra", "1",
		"-apstra-blueprints", "10", "-apstra-nodes", "20000", "-apstra-relationships", "250000", "-apstra-managed", "50", "-latency", "50ms")
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing
	d := l.Devices[0]
	ca, err := os.ReadFile(l.CACertFile)
	if err != nil {
		return err
	}
	curlSecs, urls, err := apstraCurl(l, d, filepath.Join(b.ws.Dir, "apstra-curl"))
	if err != nil {
		return err
	}
	_ = b.peakRSS()
	before, err := tfdriver.Stats(b.ctx, d.StatsURL, ca)
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`
terraform {
  required_providers {
    infrabackup = { source = "infrabackup/infrabackup" }
  }
}
variable "apstra_password" {
  type      = string
  sensitive = true
}
provider "infrabackup" {
  backup_dir  = %q
  ca_cert_pem = file(%q)
  apstra = {
    username = %q
    password = var.apstra_password
  }
}
resource "infrabackup_apstra_backup" "fabric" {
  host    = %q
  port    = %d
  trigger = "1"
}
output "fabric" {
  value = [infrabackup_apstra_backup.fabric.started_at, infrabackup_apstra_backup.fabric.completed_at]
}
output "largest_file" {
  value = max([for f in infrabackup_apstra_backup.fabric.files : f.size]...)
}
`, filepath.Join(b.ws.Dir, "backups"), l.CACertFile, d.Username, d.Host, d.Port)
	dir := filepath.Join(b.ws.Dir, "apstra")
	env := append([]string{"TF_VAR_apstra_password=" + d.Password}, b.env...)
	durations, err := b.apply(dir, config, 1, env)
	if err != nil {
		return err
	}
	after, err := tfdriver.Stats(b.ctx, d.StatsURL, ca)
	if err != nil {
		return err
	}
	var largest strings.Builder
	if err := b.ws.Terraform(b.ctx, dir, &largest, os.Stderr, env, "output", "-raw", "largest_file"); err != nil {
		return err
	}
	var largestBytes float64
	if _, err := fmt.Sscan(largest.String(), &largestBytes); err != nil {
		return fmt.Errorf("output largest_file %q: %w", largest.String(), err)
	}
	provSecs := durations["fabric"].Seconds()
	report("apstra_urls", len(urls), "urls")
	report("apstra_largest_file", largestBytes/(1<<20), "MiB")
	report("apstra_backup_provider", provSecs, "s")
	report("apstra_backup_curl_sequential", curlSecs, "s")
	report("apstra_backup_provider_vs_curl", curlSecs/provSecs, "x")
	report("apstra_apply_wall_time", b.lastApply.Seconds(), "s")
	report("apstra_provider_peak_rss", b.peakRSS(), "MiB")
	report("apstra_logins_per_backup", after.Logins-before.Logins, "logins")
	report("apstra_logouts_per_backup", after.Logouts-before.Logouts, "logouts")
	report("apstra_calls_per_backup", after.TotalCalls()-before.TotalCalls(), "calls")
	report("apstra_open_sessions_after_apply", after.OpenSessions, "sessions")
	return nil
}

// apstraCurl logs in, lists what a backup fetches (untimed), then times one curl
// process fetching every URL one after another on one connection with the token,
// each into a file, and logs out. It returns the seconds curl took and the URLs.
func apstraCurl(l devicesim.Listing, d devicesim.DeviceInfo, dir string) (float64, []string, error) {
	if _, err := exec.LookPath("curl"); err != nil {
		return 0, nil, fmt.Errorf("the comparison needs curl (apt-get install -y curl)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, nil, err
	}
	caPEM, err := os.ReadFile(l.CACertFile)
	if err != nil {
		return 0, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	body, _ := json.Marshal(map[string]string{"username": d.Username, "password": d.Password})
	resp, err := hc.Post(d.URL+"/api/aaa/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	var login struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&login)
	_ = resp.Body.Close() // decoded, or failed with an error reported below
	if err != nil || login.Token == "" {
		return 0, nil, fmt.Errorf("curl comparison: login failed (HTTP %d, %v)", resp.StatusCode, err)
	}
	get := func(p string, v any) error {
		req, _ := http.NewRequest(http.MethodGet, d.URL+p, nil)
		req.Header.Set("AuthToken", login.Token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }() // only read
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	defer func() {
		req, _ := http.NewRequest(http.MethodPost, d.URL+"/api/aaa/logout", nil)
		req.Header.Set("AuthToken", login.Token)
		if r, err := hc.Do(req); err == nil {
			_ = r.Body.Close() // the logout's answer says nothing the figures need
		}
	}()
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	if err := get("/api/blueprints", &list); err != nil {
		return 0, nil, err
	}
	urls := []string{d.URL + "/api/blueprints"}
	for _, bp := range list.Items {
		var nodes struct {
			Nodes map[string]struct {
				ID       string `json:"id"`
				SystemID string `json:"system_id"`
			} `json:"nodes"`
		}
		if err := get("/api/blueprints/"+bp.ID+"/nodes?node_type=system", &nodes); err != nil {
			return 0, nil, err
		}
		base := d.URL + "/api/blueprints/" + bp.ID
		urls = append(urls, base, base+"/deploy", base+"/revisions", base+"/obj-policy-export")
		for _, n := range nodes.Nodes {
			if n.SystemID != "" {
				urls = append(urls, base+"/nodes/"+url.PathEscape(n.ID)+"/config-rendering?type=deployed")
			}
		}
	}
	for _, p := range apstraCollections {
		urls = append(urls, d.URL+p)
	}
	// The token, in the bench's own folder, for curl: removed after it.
	headers := filepath.Join(dir, "headers")
	if err := os.WriteFile(headers, []byte("AuthToken: "+login.Token+"\n"), 0o600); err != nil {
		return 0, nil, err
	}
	defer func() { _ = os.Remove(headers) }()
	var cfg strings.Builder
	for i, u := range urls {
		fmt.Fprintf(&cfg, "url = %q\noutput = %q\n", u, filepath.Join(dir, fmt.Sprintf("%04d.json", i)))
	}
	cfgFile := filepath.Join(dir, "urls.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return 0, nil, err
	}
	start := time.Now()
	cmd := exec.Command("curl", "-sS", "--fail", "--cacert", l.CACertFile, "-H", "@"+headers, "-K", cfgFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, nil, fmt.Errorf("curl: %w", err)
	}
	return time.Since(start).Seconds(), urls, nil
}
