package client_test

import (
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

func TestTargetCheck(t *testing.T) {
	cases := []struct {
		host         string
		port         int
		wantName     string
		wantHostPort string
		wantErr      string
	}{
		{host: "dev1.example.com", wantName: "dev1.example.com", wantHostPort: "dev1.example.com:443"},
		{host: "10.0.0.5", port: 8443, wantName: "10.0.0.5:8443", wantHostPort: "10.0.0.5:8443"},
		{host: "::1", wantName: "[::1]", wantHostPort: "[::1]:443"},
		{host: "[fe80::1]", port: 1443, wantName: "[fe80::1]:1443", wantHostPort: "[fe80::1]:1443"},
		{host: "fe80::1%eth0", wantName: "[fe80::1%eth0]", wantHostPort: "[fe80::1%eth0]:443"},
		{host: "", wantErr: "dev host is empty"},
		{host: "https://dev1", wantErr: "without https://"},
		{host: "dev1/redfish", wantErr: "without a path"},
		{host: "dev1:443", wantErr: "must not include a port"},
		{host: "10.0.0.5:443", wantErr: "must not include a port"},
		{host: "[10.0.0.5]", wantErr: "only for IPv6"},
		{host: "[::1", wantErr: "not a valid"},
		{host: "user@dev1", wantErr: "without a path, user"},
		{host: "dev 1", wantErr: "spaces"},
		{host: "dev1\x00", wantErr: "spaces"},
		{host: "dev%1", wantErr: "not a valid"},
		{host: "dev1", port: 70000, wantErr: "dev port 70000 is out of range: use 1-65535 (the default is 443)"},
		{host: "dev1", port: -1, wantErr: "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			a, err := client.Target{Kind: "dev", Host: tc.host, Port: tc.port, DefaultPort: 443, Username: "u", Password: "p"}.Check()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Check(%q, %d) error = %v, want it to contain %q", tc.host, tc.port, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Name != tc.wantName || a.HostPort != tc.wantHostPort || strings.ContainsAny(a.Host, "[]") {
				t.Errorf("Check(%q, %d) = %+v, want name %q, host:port %q", tc.host, tc.port, a, tc.wantName, tc.wantHostPort)
			}
		})
	}
	for _, tc := range []struct{ user, password, want string }{
		{"", "p", "dev username is empty"},
		{"u", "", "dev password is empty"},
	} {
		if _, err := (client.Target{Kind: "dev", Host: "dev1", DefaultPort: 443, Username: tc.user, Password: tc.password}).Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("credentials %q/%q: error %v, want %q", tc.user, tc.password, err, tc.want)
		}
	}
}
