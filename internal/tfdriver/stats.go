package tfdriver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Stats reads a simulated device's counters (GET /_sim/stats), trusting caPEM.
func Stats(ctx context.Context, statsURL string, caPEM []byte) (devicesim.StatsSnapshot, error) {
	var snap devicesim.StatsSnapshot
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return snap, fmt.Errorf("no CA certificate to trust")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL, nil)
	if err != nil {
		return snap, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return snap, err
	}
	defer func() { _ = resp.Body.Close() }() // read below, or abandoned with an error
	if resp.StatusCode != http.StatusOK {
		return snap, fmt.Errorf("%s: HTTP %d", statsURL, resp.StatusCode)
	}
	return snap, json.NewDecoder(resp.Body).Decode(&snap)
}
