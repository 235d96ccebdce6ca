package ilo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Server is a simulated iLO listening with TLS on a loopback port.
type Server struct {
	URL  string // https://127.0.0.1:<port>
	Host string // 127.0.0.1
	Port int
	ILO  *ILO

	srv  *http.Server
	done chan struct{}
}

// Start creates an iLO from cfg and serves it with the CA's server certificate on
// cfg.ListenAddr (default: a free loopback port).
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	if ca == nil {
		return nil, errors.New("ilo: a CA is required")
	}
	l, err := ca.Listen(cfg.ListenAddr)
	if err != nil {
		return nil, err
	}
	tcp, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		_ = l.Close()
		return nil, fmt.Errorf("ilo: unexpected listener address %v", l.Addr())
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	d := New(cfg)
	s := &Server{
		URL:  "https://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)),
		Host: host,
		Port: tcp.Port,
		ILO:  d,
		srv: &http.Server{
			Handler:           d.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			// TLS handshake noise from clients that do not trust the CA; the
			// simulator never logs requests (no credentials, tokens or passwords).
			ErrorLog: log.New(io.Discard, "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l) // http.ErrServerClosed after Close/Shutdown
	}()
	return s, nil
}

// Close stops the server and drops every connection (downloads in flight included).
func (s *Server) Close() {
	_ = s.srv.Close()
	<-s.done
}

// Shutdown stops the server gracefully, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// DeviceInfo describes the server for a devicesim.Listing.
func (s *Server) DeviceInfo() devicesim.DeviceInfo {
	return devicesim.DeviceInfo{
		Identity: devicesim.Identity{Kind: "ilo", Name: s.ILO.Name(), Username: s.ILO.Username(), Password: s.ILO.Password()},
		URL:      s.URL,
		Host:     s.Host,
		Port:     s.Port,
		StatsURL: s.URL + StatsPath,
	}
}
