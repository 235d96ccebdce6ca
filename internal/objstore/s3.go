package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
)

// Defaults of S3Config.
const (
	DefaultPartSize    = 8 << 20
	MinPartSize        = 5 << 20 // the smallest part S3 accepts, but for the last
	DefaultConcurrency = 4
	DefaultIdleTimeout = 2 * time.Minute
	DefaultMaxAttempts = 5
	maxParts           = 10000 // S3's limit per multipart upload
	// abortTimeout bounds the clean-up requests sent after the write's context ended.
	abortTimeout = time.Minute
)

// Server-side encryption modes.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// Object Lock retention modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// S3Config configures the S3 backend. Only Bucket is required.
type S3Config struct {
	Bucket string
	// Prefix is prepended, with a '/', to every key; it must be a valid key itself.
	Prefix string
	// Region of the bucket; when empty, the standard sources (AWS_REGION, the
	// profile) apply, then "us-east-1" for a custom Endpoint.
	Region string
	// Endpoint is the base URL of an S3-compatible server (https://host:port); empty
	// for AWS.
	Endpoint string
	// UsePathStyle addresses buckets as https://host/bucket instead of
	// https://bucket.host, as most S3-compatible servers need.
	UsePathStyle bool
	// CAPEM holds CA certificates (PEM) trusted for the endpoint, in addition to
	// the system's. TLS is always verified.
	CAPEM []byte
	// CASetting is how users name CAPEM in their configuration; error hints about
	// an untrusted certificate point at it.
	CASetting string

	// SSE is "", SSEAES256 or SSEKMS; KMSKeyID selects the key for SSEKMS (empty
	// means the bucket's or the account's default key).
	SSE      string
	KMSKeyID string

	// LockMode (LockGovernance or LockCompliance) and LockRetention apply Object
	// Lock retention to every object created: it cannot be deleted (COMPLIANCE: by
	// anyone; GOVERNANCE: without a special permission) before creation time +
	// LockRetention. The bucket must have Object Lock enabled.
	LockMode      string
	LockRetention time.Duration

	// Static credentials, optional. Without them the standard chain applies, in
	// the order Terraform's S3 backend uses: environment, shared config and
	// credentials files (Profile), web identity (OIDC), container and instance
	// roles.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Profile         string
	// SharedConfigFiles and SharedCredentialsFiles replace the default
	// ~/.aws/config and ~/.aws/credentials when set.
	SharedConfigFiles      []string
	SharedCredentialsFiles []string

	// PartSize is the size of each part of a multipart upload (default 8 MiB, at
	// least 5 MiB). Streams up to one part are sent in a single request. Memory per
	// writer is at most (Concurrency+1) × PartSize; objects are limited to 10,000
	// parts (78 GiB with the default).
	PartSize int64
	// Concurrency is how many parts of one writer are uploaded at once (default 4).
	Concurrency int
	// ListPageSize is the number of keys per listing request (default: the
	// server's, 1000 on AWS).
	ListPageSize int32
	// IdleTimeout fails a request attempt when its connection neither sends nor
	// receives anything for this long (default 2 minutes); the attempt is retried.
	IdleTimeout time.Duration
	// MaxAttempts per request, the first included (default 5); 503 SlowDown,
	// throttling, 5xx and broken connections are retried with backoff.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts (default: the SDK's, 20 s).
	MaxBackoff time.Duration
	// Now is the clock used for Object Lock dates (default time.Now).
	Now func() time.Time
}

// S3 is a Store in an S3-compatible bucket: key "a/b" is the object
// "<prefix>/a/b". It never overwrites an object (If-None-Match: *), sends the
// SHA-256 of what it uploads so the server verifies it, and streams multipart
// uploads with bounded memory.
type S3 struct {
	cfg    S3Config
	client *s3.Client
	// unconditional is set once the server answered 501 NotImplemented to
	// If-None-Match: from then on the key is checked with HEAD before writing, which
	// still refuses existing keys but no longer closes the race between two writers.
	unconditional atomic.Bool
	secrets       []string // scrubbed from error messages
}

var _ Store = (*S3)(nil)

// NewS3 checks cfg and builds the client. It sends no request: call Check for that.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.CAPEM) {
			return nil, fmt.Errorf("S3 %s holds no PEM-encoded certificate", cfg.CASetting)
		}
		tlsCfg.RootCAs = pool
	}
	idle := cfg.IdleTimeout
	httpClient := awshttp.NewBuildableClient().
		WithReadTimeout(0). // replaced by the read-and-write idle timeout below
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = tlsCfg
			tr.ForceAttemptHTTP2 = false // S3 speaks HTTP/1.1; large bodies are faster without h2 flow control
			tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
			tr.IdleConnTimeout = idle / 2
			dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &idleConn{Conn: c, timeout: idle}, nil
			}
		})

	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// SDKs since 2025 add CRC32 checksums to every upload, which many
		// S3-compatible servers refuse; this package sends SHA-256 itself.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithLogger(logging.Nop{}),
		config.WithClientLogMode(0),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				if cfg.MaxBackoff > 0 {
					o.MaxBackoff = cfg.MaxBackoff
				}
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if len(cfg.SharedConfigFiles) > 0 {
		opts = append(opts, config.WithSharedConfigFiles(cfg.SharedConfigFiles))
	}
	if len(cfg.SharedCredentialsFiles) > 0 {
		opts = append(opts, config.WithSharedCredentialsFiles(cfg.SharedCredentialsFiles))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 bucket %s: load AWS configuration (region, profile, credentials sources): %s",
			cfg.Bucket, scrub(err.Error(), cfg.secretValues()))
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("S3 bucket %s: no region: set the region of the bucket (or AWS_REGION)", cfg.Bucket)
		}
		awsCfg.Region = "us-east-1" // S3-compatible servers mostly ignore it
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.UsePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3{cfg: cfg, client: client, secrets: cfg.secretValues()}, nil
}

func (c *S3Config) secretValues() []string {
	return []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken}
}

// normalize checks the configuration and fills in defaults.
func (c *S3Config) normalize() error {
	if c.Bucket == "" {
		return errors.New("S3 bucket must not be empty")
	}
	if c.Prefix != "" {
		c.Prefix = strings.TrimSuffix(c.Prefix, "/")
		if err := ValidKey(c.Prefix); err != nil {
			return fmt.Errorf("S3 key prefix: %w", err)
		}
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://") {
		return fmt.Errorf("S3 endpoint %q must start with https:// (or http://)", c.Endpoint)
	}
	if c.CASetting == "" {
		c.CASetting = "ca_cert_pem"
	}
	switch c.SSE {
	case "", SSEAES256:
		if c.KMSKeyID != "" {
			return fmt.Errorf("S3 KMS key id is set but server-side encryption is %q: set it to %q or remove the key id", c.SSE, SSEKMS)
		}
	case SSEKMS:
	default:
		return fmt.Errorf("S3 server-side encryption %q is not supported: use %q or %q", c.SSE, SSEAES256, SSEKMS)
	}
	switch c.LockMode {
	case "":
		if c.LockRetention != 0 {
			return errors.New("S3 Object Lock retention is set without a mode: set the mode to GOVERNANCE or COMPLIANCE")
		}
	case LockGovernance, LockCompliance:
		if c.LockRetention <= 0 {
			return fmt.Errorf("S3 Object Lock mode %s needs a retention period longer than zero", c.LockMode)
		}
	default:
		return fmt.Errorf("S3 Object Lock mode %q is not supported: use GOVERNANCE or COMPLIANCE", c.LockMode)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("S3 static credentials need both an access key id and a secret access key")
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		return errors.New("S3 session token is set without an access key id and secret access key")
	}
	switch {
	case c.PartSize == 0:
		c.PartSize = DefaultPartSize
	case c.PartSize < MinPartSize:
		return fmt.Errorf("S3 part size %d is below the minimum of %d bytes (5 MiB)", c.PartSize, MinPartSize)
	case c.PartSize > 5<<30:
		return fmt.Errorf("S3 part size %d is above the maximum of 5 GiB", c.PartSize)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ListPageSize < 0 || c.ListPageSize > 1000 {
		return fmt.Errorf("S3 listing page size %d must be between 1 and 1000", c.ListPageSize)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Bucket is the configured bucket.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Client is the underlying S3 client, for tests and diagnostics.
func (s *S3) Client() *s3.Client { return s.client }

// objectKey is the bucket key of key.
func (s *S3) objectKey(key string) string {
	if s.cfg.Prefix == "" {
		return key
	}
	return s.cfg.Prefix + "/" + key
}

// Location is the s3:// URL of key.
func (s *S3) Location(key string) string {
	return "s3://" + s.cfg.Bucket + "/" + s.objectKey(key)
}

// Check sends HeadBucket: it proves the endpoint, TLS, credentials, region and
// bucket all work before any backup starts.
func (s *S3) Check(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil {
		return s.fail("check bucket", "", err)
	}
	return nil
}

// Stat sends HeadObject, asking for the stored checksum.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.cfg.Bucket),
		Key:          aws.String(s.objectKey(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return ObjectInfo{}, s.fail("stat", key, err)
	}
	return ObjectInfo{
		Key:            key,
		Size:           aws.ToInt64(out.ContentLength),
		ModTime:        aws.ToTime(out.LastModified),
		ServerChecksum: aws.ToString(out.ChecksumSHA256),
		LockMode:       string(out.ObjectLockMode),
		RetainUntil:    aws.ToTime(out.ObjectLockRetainUntilDate),
		LegalHold:      out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn,
	}, nil
}

// Open sends GetObject and streams its body.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		return nil, ObjectInfo{}, s.fail("read", key, err)
	}
	info := ObjectInfo{
		Key:            key,
		Size:           aws.ToInt64(out.ContentLength),
		ModTime:        aws.ToTime(out.LastModified),
		ServerChecksum: aws.ToString(out.ChecksumSHA256),
		LockMode:       string(out.ObjectLockMode),
		RetainUntil:    aws.ToTime(out.ObjectLockRetainUntilDate),
		LegalHold:      out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn,
	}
	return &s3Body{s: s, key: key, body: out.Body}, info, nil
}

// s3Body names the object in read errors (a connection lost mid-download).
type s3Body struct {
	s    *S3
	key  string
	body io.ReadCloser
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		err = b.s.fail("read", b.key, err)
	}
	return n, err
}

func (b *s3Body) Close() error { return b.body.Close() }

// List pages through ListObjectsV2. Objects whose key is not a valid key (put in
// the bucket by something else) are skipped: no caller could name them.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, err
	}
	base := ""
	if s.cfg.Prefix != "" {
		base = s.cfg.Prefix + "/"
	}
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(base + prefix),
	}
	if s.cfg.ListPageSize > 0 {
		in.MaxKeys = aws.Int32(s.cfg.ListPageSize)
	}
	var out []ObjectInfo
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), base)
			if !ok || ValidKey(key) != nil {
				continue
			}
			out = append(out, ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete checks the object's retention with HeadObject, then sends DeleteObject
// without a version id: on a versioned bucket this adds a delete marker (the data
// stays as a noncurrent version until a lifecycle rule expires it), otherwise it
// removes the object. An object under retention or legal hold is left alone and
// reported with *RetainedError, since on a versioned bucket S3 itself would accept
// the delete marker.
func (s *S3) Delete(ctx context.Context, key string) error {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if info.LegalHold || (info.LockMode != "" && info.RetainUntil.After(s.cfg.Now())) {
		return &RetainedError{Location: s.Location(key), Mode: info.LockMode, RetainUntil: info.RetainUntil, LegalHold: info.LegalHold}
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

// retainUntil is the Object Lock date for an object created now, rounded up to
// the second so that the retention is never shorter than configured.
func (s *S3) retainUntil() *time.Time {
	if s.cfg.LockMode == "" {
		return nil
	}
	t := s.cfg.Now().Add(s.cfg.LockRetention).UTC()
	if r := t.Truncate(time.Second); r.Before(t) {
		t = r.Add(time.Second)
	}
	return &t
}

// ifNoneMatch is the If-None-Match header for creating objects: "*" unless the
// server said it does not implement it.
func (s *S3) ifNoneMatch() *string {
	if s.unconditional.Load() {
		return nil
	}
	return aws.String("*")
}

// exists reports whether key is taken, for the checks made before writing. A 403
// (a policy without s3:ListBucket answers 403 for missing keys) counts as absent:
// the conditional write still protects the key.
func (s *S3) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err == nil {
		return true, nil
	}
	if st := httpStatus(err); st == http.StatusNotFound || st == http.StatusForbidden {
		return false, nil
	}
	return false, s.fail("check for existing object", key, err)
}
