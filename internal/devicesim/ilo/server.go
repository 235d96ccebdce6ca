package ilo

import (
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Server is a simulated iLO listening with TLS on a loopback port: URL, Host, Port,
// Close and DeviceInfo come from devicesim.Server.
type Server struct {
	*devicesim.Server
	ILO *ILO
}

// Start creates an iLO from cfg and serves it with the CA's server certificate on
// cfg.ListenAddr (default: a free loopback port). The simulator never logs requests
// (no credentials, tokens or passwords), nor the HTTP server's TLS handshake noise.
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	d := New(cfg)
	s, err := devicesim.Start(ca, cfg.ListenAddr, d, nil)
	if err != nil {
		return nil, err
	}
	return &Server{Server: s, ILO: d}, nil
}
