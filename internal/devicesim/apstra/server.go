package apstra

import (
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Server is a simulated Apstra serving HTTPS: URL, Host, Port, Close and DeviceInfo
// come from devicesim.Server.
type Server struct {
	*devicesim.Server
	Apstra *Apstra
}

// Start creates an Apstra server with cfg and serves it over HTTPS with a
// certificate from ca, on cfg.ListenAddr (default a free loopback port). The
// simulator never logs credentials or tokens.
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	a := New(cfg)
	s, err := devicesim.Start(ca, cfg.ListenAddr, a, nil)
	if err != nil {
		return nil, err
	}
	return &Server{Server: s, Apstra: a}, nil
}
