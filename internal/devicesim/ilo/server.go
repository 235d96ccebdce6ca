package ilo

import (
	"context"
	"errors"
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

// Start creates an iLO from cfg and serves it on a free loopback port with the CA's
// server certificate.
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	l, err := ca.Listen("")
	if err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	d := New(cfg)
	s := &Server{
		URL:  "https://" + net.JoinHostPort(host, portStr),
		Host: host,
		Port: port,
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
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // listener failure after Close: nothing to report to
		}
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
		Kind:     "ilo",
		Name:     s.ILO.Name(),
		URL:      s.URL,
		Host:     s.Host,
		Port:     s.Port,
		Username: s.ILO.Username(),
		Password: s.ILO.Password(),
		StatsURL: s.URL + StatsPath,
	}
}
