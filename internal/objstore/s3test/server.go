package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sys/unix"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// Region is the region versitygw reports.
const Region = "us-east-1"

// Server is a running versitygw. Its root user's keys are random per server.
type Server struct {
	Endpoint  string // https://127.0.0.1:PORT
	CAPEM     []byte // the CA that signed the server's certificate
	AccessKey string
	SecretKey string
	Root      string // the folder holding the buckets

	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer

	stopOnce sync.Once
}

// Start runs versitygw with a certificate from a new throw-away CA and stops it
// when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ca, err := devicesim.NewCA()
	if err != nil {
		tb.Fatal(err)
	}
	return StartWithCA(tb, ca)
}

// StartWithCA runs versitygw with the loopback certificate of ca (the simulators'
// CA, say) and stops it when the test ends.
func StartWithCA(tb testing.TB, ca *devicesim.CA) *Server {
	tb.Helper()
	s, err := Launch(ca, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch runs versitygw with the loopback certificate of ca, keeping its
// certificate, buckets and versions in dir, for a server shared by many tests (from
// TestMain): the caller stops it with Stop and removes dir. A dir that an earlier
// Launch used serves its buckets again (make demo-s3 keeps its bucket so).
func Launch(ca *devicesim.CA, dir string) (*Server, error) {
	bin, err := BinaryPath()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.ServerPEM()
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	root, versions := filepath.Join(dir, "buckets"), filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	backend := []string{"posix", "--versioning-dir", versions}
	if !xattrsWork(root) { // object metadata lives in extended attributes by default
		sidecar := filepath.Join(dir, "meta")
		if err := os.MkdirAll(sidecar, 0o700); err != nil {
			return nil, err
		}
		backend = append(backend, "--sidecar", sidecar)
	}
	backend = append(backend, root)

	var lastErr error
	for range 5 { // another process may take the free port before versitygw does
		s := &Server{
			CAPEM: ca.CertPEM, AccessKey: randomHex(10), SecretKey: randomHex(20), Root: root,
			exited: make(chan struct{}), out: &lockedBuffer{},
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.Endpoint = "https://" + addr
		args := append([]string{"--port", addr, "--cert", certFile, "--key", keyFile, "--health", "/health", "--quiet"}, backend...)
		s.cmd = exec.Command(bin, args...)
		s.cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"ROOT_ACCESS_KEY_ID=" + s.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + s.SecretKey,
		}
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		s.cmd.SysProcAttr = procAttr()
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start versitygw: %w", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		if lastErr = s.waitReady(60 * time.Second); lastErr == nil {
			return s, nil
		}
		s.Stop()
		if !strings.Contains(s.out.String(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("versitygw did not start: %w", lastErr)
}

// waitReady polls the health endpoint until it answers 200.
func (s *Server) waitReady(limit time.Duration) error {
	client := s.HTTPClient()
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(s.Endpoint + "/health")
		if err == nil {
			_ = resp.Body.Close() // the status is all the health check reads
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited: %s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s/health within %s (last error: %v); output: %s", s.Endpoint, limit, err, s.out.String())
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s). It is safe to call more
// than once; tests call it to make the server vanish in the middle of a transfer.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Output is what versitygw printed, for test failure messages.
func (s *Server) Output() string { return s.out.String() }

// HTTPClient trusts the server's CA.
func (s *Server) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// Config is an objstore configuration for bucket on this server, with the root
// user's static keys.
func (s *Server) Config(bucket string) objstore.S3Config {
	return objstore.S3Config{
		Bucket:          bucket,
		Region:          Region,
		Endpoint:        s.Endpoint,
		UsePathStyle:    true,
		CAPEM:           s.CAPEM,
		AccessKeyID:     s.AccessKey,
		SecretAccessKey: s.SecretKey,
	}
}

// Client is an S3 client with the root user's keys, to set up buckets and to look
// at them behind the store's back.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		HTTPClient:                 s.HTTPClient(),
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates a bucket; with objectLock, Object Lock is enabled on it
// (which turns versioning on).
func (s *Server) CreateBucket(tb testing.TB, name string, objectLock bool) {
	tb.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client().CreateBucket(context.Background(), in); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// EnableVersioning turns versioning on for a bucket.
func (s *Server) EnableVersioning(tb testing.TB, bucket string) {
	tb.Helper()
	_, err := s.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		tb.Fatalf("enable versioning on %s: %v", bucket, err)
	}
}

var bucketSeq atomic.Int64

// NewBucket creates a bucket with a name no other test of this process uses (with
// Object Lock when objectLock is set) and returns its name: one server, a fresh
// bucket per test.
func (s *Server) NewBucket(tb testing.TB, objectLock bool) string {
	tb.Helper()
	name := fmt.Sprintf("test-%06d", bucketSeq.Add(1))
	s.CreateBucket(tb, name, objectLock)
	return name
}

// OpenUploads lists the multipart uploads in progress in bucket, as "key uploadID".
func (s *Server) OpenUploads(tb testing.TB, bucket string) []string {
	tb.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		tb.Fatalf("list multipart uploads of %s: %v", bucket, err)
	}
	var open []string
	for _, u := range out.Uploads {
		open = append(open, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return open
}

// Keys lists every key in bucket, including objects the store would skip.
func (s *Server) Keys(tb testing.TB, bucket string) []string {
	tb.Helper()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			tb.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	// The port only has to be free when it is picked; the server binds it after.
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("a TCP listener has a %T address", l.Addr())
	}
	return addr.Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// xattrsWork tells whether dir's file system stores user extended attributes.
func xattrsWork(dir string) bool {
	f, err := os.CreateTemp(dir, ".xattr-probe-*")
	if err != nil {
		return false
	}
	defer func() {
		// An empty probe file: a failure to close or remove it changes no answer.
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	return unix.Fsetxattr(int(f.Fd()), "user.probe", []byte("1"), 0) == nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
