package devicesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Device is what Start needs of a simulated device: its handler (Base.Wrap around its
// protocol) and who it is.
type Device interface {
	Handler() http.Handler
	Identity() Identity
}

// Identity is who a simulated device is, as a Listing shows it. Fields a device kind
// does not have stay empty.
type Identity struct {
	Kind     string `json:"kind"` // the device package's Kind: "aruba_conductor", "ilo"
	Name     string `json:"name"`
	Username string `json:"username"`
	Password string `json:"password"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Firmware string `json:"firmware,omitempty"`
}

// Server serves one simulated device over HTTPS.
type Server struct {
	URL  string // https://127.0.0.1:<port>
	Host string // 127.0.0.1
	Port int

	device   Device
	srv      *http.Server
	cancel   context.CancelFunc
	served   chan struct{} // closed when Serve has returned
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
}

// Start serves dev over HTTPS with a certificate from ca, on listenAddr ("" means a
// free port of 127.0.0.1). errLog receives the HTTP server's own errors (TLS
// handshakes of clients that do not trust the CA); nil discards them.
func Start(ca *CA, listenAddr string, dev Device, errLog *log.Logger) (*Server, error) {
	if ca == nil {
		return nil, errors.New("devicesim: a CA is required")
	}
	l, err := ca.Listen(listenAddr)
	if err != nil {
		return nil, err
	}
	return Serve(l, dev, errLog)
}

// Serve serves dev on l (a listener from CA.Listen) until Close, which also closes l.
// A device may be served on several listeners at once.
func Serve(l net.Listener, dev Device, errLog *log.Logger) (*Server, error) {
	tcp, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		_ = l.Close()
		return nil, fmt.Errorf("devicesim: not a TCP listener: %v", l.Addr())
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	if errLog == nil {
		errLog = log.New(io.Discard, "", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URL:    "https://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)),
		Host:   host,
		Port:   tcp.Port,
		device: dev,
		cancel: cancel,
		served: make(chan struct{}),
	}
	h := dev.Handler()
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.begin() {
				ResetConnection(w) // closing: no new work
				return
			}
			defer s.inflight.Done()
			h.ServeHTTP(w, r)
		}),
		// Requests see the server's context, so Close ends the ones that wait (a slow
		// action, an injected delay).
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog,
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(l) // http.ErrServerClosed after Close
	}()
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
// progress are cancelled (a slow action, a download, an upload) and waited for. It is
// safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		_ = s.srv.Close()
		<-s.served
		s.inflight.Wait()
	})
}

// StatsURL is where the device serves its counters.
func (s *Server) StatsURL() string { return s.URL + StatsPath }

// DeviceInfo describes the device for a Listing.
func (s *Server) DeviceInfo() DeviceInfo {
	return DeviceInfo{
		Identity: s.device.Identity(),
		URL:      s.URL,
		Host:     s.Host,
		Port:     s.Port,
		StatsURL: s.StatsURL(),
	}
}
