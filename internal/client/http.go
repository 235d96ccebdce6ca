package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// Subsystem is the tflog subsystem device traffic is logged in (TF_LOG_PROVIDER_INFRABACKUP_CLIENT).
const Subsystem = "client"

// Config is the transport configuration shared by every device client.
type Config struct {
	// CACertPEM, when set, holds the CA certificates device certificates must chain
	// to: the only trust roots, unless UseSystemRoots adds the system's. When empty,
	// the system's roots are used.
	CACertPEM string
	// UseSystemRoots trusts the system's roots beside CACertPEM.
	UseSystemRoots bool
	// Insecure skips certificate verification: an explicit, documented opt-in.
	Insecure bool
	// RequestTimeout bounds one attempt up to the response headers (dial, TLS,
	// the device's processing). Bodies (multi-GiB downloads) are bounded by the
	// caller's context instead.
	RequestTimeout time.Duration
	// LongAnswerTimeout replaces RequestTimeout for requests marked AwaitsLongAnswer:
	// a device that checks a whole upload before it answers (a restore) may take much
	// longer than usual, and a lost answer leaves the outcome unknown.
	LongAnswerTimeout time.Duration
	// RetryMax is how many times a request that is safe to repeat is retried.
	RetryMax     int
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	// MaxRetryAfter is the longest Retry-After a device can make a retry wait for;
	// a longer one (an address banned for minutes) ends the retries and its answer
	// goes back to the caller. Shorter ones are honoured even beyond RetryWaitMax.
	MaxRetryAfter time.Duration
	// UserAgent is sent on every request.
	UserAgent string
	// MaxConnsPerHost bounds connections to one device (0: no bound).
	MaxConnsPerHost int
}

// Defaults used when a Config field is zero.
const (
	DefaultRequestTimeout    = 2 * time.Minute // flash_backup answers after 20-45 s on real conductors
	DefaultLongAnswerTimeout = 10 * time.Minute
	DefaultRetryMax          = 3
	DefaultRetryWaitMin      = 500 * time.Millisecond
	DefaultRetryWaitMax      = 30 * time.Second
	DefaultMaxRetryAfter     = 2 * time.Minute
)

// Client sends HTTP requests to devices. It is safe for concurrent use and shared by
// every device client of one provider instance.
type Client struct {
	plain      *http.Client
	longAnswer *http.Client // plain, with LongAnswerTimeout for the answer
	retrying   *retryablehttp.Client
	userAgent  string
}

type ctxKey int

const (
	repeatableKey ctxKey = iota
	longAnswerKey
	lostAnswersKey
)

// trackLostAnswers returns ctx making Do count, in the returned counter, the attempts
// of requests made with it that failed after they may have reached the device (any
// transport error but a failed connection or TLS handshake): the device may have
// acted on them without the answer arriving.
func trackLostAnswers(ctx context.Context) (context.Context, *atomic.Int32) {
	n := &atomic.Int32{}
	return context.WithValue(ctx, lostAnswersKey, n), n
}

func countLostAnswer(ctx context.Context, err error) {
	n, _ := ctx.Value(lostAnswersKey).(*atomic.Int32)
	if n == nil || err == nil || ctx.Err() != nil || !mayHaveArrived(err) {
		return
	}
	n.Add(1)
}

// mayHaveArrived reports whether a request that failed with err may have been sent:
// only a failed dial or TLS handshake proves it was not.
func mayHaveArrived(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	return !errors.As(err, &unknownCA) && !errors.As(err, &hostErr) && !errors.As(err, &verifyErr) &&
		!errors.As(err, &recordErr) && !errors.As(err, &alert)
}

// Repeatable marks the requests made with ctx as safe to repeat even though their
// method is not idempotent (for example a POST that only logs in). Never use it for a
// request that starts a job on a device.
func Repeatable(ctx context.Context) context.Context {
	return context.WithValue(ctx, repeatableKey, true)
}

func isRepeatable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return true
	}
	v, _ := req.Context().Value(repeatableKey).(bool)
	return v
}

// AwaitsLongAnswer marks the requests made with ctx as ones whose answer may take up
// to Config.LongAnswerTimeout after the request was sent, instead of RequestTimeout.
// It applies to requests sent once (not repeatable ones).
func AwaitsLongAnswer(ctx context.Context) context.Context {
	return context.WithValue(ctx, longAnswerKey, true)
}

// New builds a Client. The TLS configuration is verified by default, TLS 1.2 minimum.
func New(cfg Config) (*Client, error) {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.LongAnswerTimeout <= 0 {
		cfg.LongAnswerTimeout = DefaultLongAnswerTimeout
	}
	cfg.LongAnswerTimeout = max(cfg.LongAnswerTimeout, cfg.RequestTimeout)
	if cfg.RetryMax < 0 {
		cfg.RetryMax = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = DefaultRetryWaitMin
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = DefaultRetryWaitMax
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.RetryWaitMax < cfg.RetryWaitMin {
		return nil, fmt.Errorf("retry maximum wait (%s) is shorter than the minimum wait (%s)", cfg.RetryWaitMax, cfg.RetryWaitMin)
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		ForceAttemptHTTP2:     false, // device web servers speak HTTP/1.1; large downloads are faster without h2 flow control
	}
	plain := &http.Client{
		Transport: transport,
		// Device APIs do not redirect; following one could send a session token to
		// another host, so a redirect is returned to the caller as is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	longTransport := transport.Clone()
	longTransport.ResponseHeaderTimeout = cfg.LongAnswerTimeout
	longAnswer := &http.Client{Transport: longTransport, CheckRedirect: plain.CheckRedirect}
	rc := &retryablehttp.Client{
		HTTPClient:   plain,
		Logger:       nil, // logging is done by the hooks below, with secrets masked
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		RetryMax:     cfg.RetryMax,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			countLostAnswer(ctx, err)
			if d, ok := RetryAfter(resp); ok && d > cfg.MaxRetryAfter {
				return false, nil
			}
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		},
		Backoff:      retryablehttp.DefaultBackoff, // honours Retry-After on 429 and 503
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		RequestLogHook: func(_ retryablehttp.Logger, req *http.Request, attempt int) {
			if attempt > 0 {
				tflog.SubsystemDebug(req.Context(), Subsystem, "retrying request", map[string]any{
					"method": req.Method, "url": RedactURL(req.URL), "attempt": attempt + 1,
				})
			}
		},
	}
	return &Client{plain: plain, longAnswer: longAnswer, retrying: rc, userAgent: cfg.UserAgent}, nil
}

// RetryAfter is the wait a 429 or 503 answer asks for in its Retry-After header
// (seconds or an HTTP date); false when it asks for none.
func RetryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > math.MaxInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// tlsConfig verifies devices' certificates (TLS 1.2 minimum) against CACertPEM alone,
// CACertPEM and the system's roots (UseSystemRoots), or the system's roots when no
// CACertPEM is given. A fleet whose devices all chain to a private CA thus trusts
// nothing else.
func tlsConfig(cfg Config) (*tls.Config, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertPEM != "" {
		pool := x509.NewCertPool()
		if cfg.UseSystemRoots {
			if system, err := x509.SystemCertPool(); err == nil && system != nil {
				pool = system
			}
		}
		if !pool.AppendCertsFromPEM([]byte(cfg.CACertPEM)) {
			return nil, errors.New("ca_cert_pem holds no PEM-encoded certificate")
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.Insecure {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // explicit, documented user opt-in (insecure = true)
	}
	return tlsCfg, nil
}

// Do sends req and returns the response; the caller closes its body. Requests that are
// safe to repeat (GET, HEAD, OPTIONS, DELETE, or a context marked Repeatable) are
// retried on transport errors, 429 and 5xx with backoff; every other request is sent
// exactly once, so a POST that starts a device job is never repeated. Bodies of
// requests that are sent once are streamed, never buffered.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	start := time.Now()
	var (
		resp *http.Response
		err  error
	)
	if isRepeatable(req) {
		var rreq *retryablehttp.Request
		rreq, err = retryablehttp.FromRequest(req)
		if err != nil {
			return nil, fmt.Errorf("prepare request: %w", err)
		}
		resp, err = c.retrying.Do(rreq)
	} else {
		hc := c.plain
		if v, _ := ctx.Value(longAnswerKey).(bool); v {
			hc = c.longAnswer
		}
		resp, err = hc.Do(req)
		countLostAnswer(ctx, err)
	}
	fields := map[string]any{
		"method":      req.Method,
		"url":         RedactURL(req.URL),
		"duration_ms": time.Since(start).Milliseconds(),
	}
	if err != nil {
		// A transport error may quote device bytes (a malformed status line): scrub
		// it with the operation's secrets before it is logged or returned.
		err = SecretsFrom(ctx).ScrubError(transportError(err))
		fields["error"] = err.Error()
		tflog.SubsystemDebug(ctx, Subsystem, "request failed", fields)
		return nil, err
	}
	fields["status"] = resp.StatusCode
	tflog.SubsystemTrace(ctx, Subsystem, "request done", fields)
	return resp, nil
}
