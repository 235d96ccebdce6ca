package aruba

import (
	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Server is a conductor serving HTTPS: URL, Host, Port, Close and DeviceInfo come
// from devicesim.Server.
type Server struct {
	*devicesim.Server
	Conductor *Conductor
}

// Start creates a conductor with cfg and serves it over HTTPS with a certificate from
// ca, on cfg.ListenAddr (default a free loopback port).
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	c := New(cfg)
	s, err := devicesim.Start(ca, cfg.ListenAddr, c, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Server{Server: s, Conductor: c}, nil
}
