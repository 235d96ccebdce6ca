package aruba

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// Server is a conductor serving HTTPS.
type Server struct {
	URL       string // https://127.0.0.1:<port>
	Host      string // "127.0.0.1"
	Port      int
	Conductor *Conductor

	srv      *http.Server
	cancel   context.CancelFunc
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
}

// Start creates a conductor with cfg and serves it over HTTPS with a certificate from
// ca, on cfg.ListenAddr (default a free loopback port).
func Start(ca *devicesim.CA, cfg Config) (*Server, error) {
	if ca == nil {
		return nil, errors.New("aruba: a CA is required")
	}
	return serve(ca, New(cfg))
}

// serve serves an existing conductor (tests adjust it before it serves).
func serve(ca *devicesim.CA, c *Conductor) (*Server, error) {
	cfg := c.cfg
	l, err := ca.Listen(cfg.ListenAddr)
	if err != nil {
		return nil, err
	}
	tcp := l.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Host:      host,
		Port:      tcp.Port,
		URL:       "https://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)),
		Conductor: c,
		cancel:    cancel,
	}
	errLog := log.New(io.Discard, "", 0)
	if cfg.Logger != nil {
		errLog = cfg.Logger
	}
	h := c.Handler()
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.begin() {
				devicesim.ResetConnection(w)
				return
			}
			defer s.inflight.Done()
			h.ServeHTTP(w, r)
		}),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog,
	}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Close stops the server: the listener and every connection are closed, requests in
// progress are cancelled (a slow flash_backup, an upload) and waited for.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		_ = s.srv.Close()
		s.inflight.Wait()
	})
}
