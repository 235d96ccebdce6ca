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
	"net/url"
	"regexp"
	"strings"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// S3Error is a failed S3 request: which step, on which bucket and key, and what the
// server said, with a hint at what to do. It never holds a credential.
type S3Error struct {
	Step     string // "upload part 3", "complete upload", "list", ...
	Location string // s3://bucket/key, or s3://bucket for bucket-wide steps
	Status   int    // HTTP status, 0 when no response arrived
	Code     string // S3 error code (AccessDenied, NoSuchBucket, ...), if any
	Message  string // the server's message, or the transport error
	Hint     string // what to do next, if known
	err      error
}

func (e *S3Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "S3 %s %s failed: ", e.Step, e.Location)
	switch {
	case e.Code != "" && e.Message != "":
		fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	case e.Code != "":
		b.WriteString(e.Code)
	case e.Message != "":
		b.WriteString(e.Message)
	default:
		b.WriteString(http.StatusText(e.Status))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Hint != "" {
		b.WriteString(". ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *S3Error) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrExists) work.
func (e *S3Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == "NoSuchKey" || (e.Status == http.StatusNotFound && e.Code == "") // HEAD: no body, no code
	case ErrExists:
		return e.Code == "PreconditionFailed" || e.Status == http.StatusPreconditionFailed ||
			e.Code == "ConditionalRequestConflict"
	}
	return false
}

// fail turns an SDK error into an *S3Error for step on key ("" for the bucket).
func (s *S3) fail(step, key string, err error) error {
	if err == nil {
		return nil
	}
	var already *S3Error
	if errors.As(err, &already) {
		return err
	}
	loc := "s3://" + s.cfg.Bucket
	if key != "" {
		loc = s.Location(key)
	}
	e := &S3Error{Step: step, Location: loc, Status: httpStatus(err), err: err}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code = api.ErrorCode()
		e.Message = api.ErrorMessage()
		if e.Code == fmt.Sprint(e.Status) || strings.EqualFold(e.Code, strings.ReplaceAll(http.StatusText(e.Status), " ", "")) {
			e.Code = "" // HEAD responses have no body: the SDK makes a code up from the status
		}
	} else {
		e.Message = transportMessage(err)
	}
	e.Message = scrub(e.Message, s.secrets)
	e.Hint = s.hint(e, err)
	return e
}

// transportMessage is the useful end of an error that got no S3 answer: the SDK
// wraps it in "operation error S3: ..., https response error ..." layers.
func transportMessage(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.As(err, &dns):
		return dns.Error()
	case errors.As(err, &op):
		return op.Error()
	}
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err.Error() // without the method and URL: the step and location say it
	}
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "get credentials: "); ok {
		return after
	}
	if i := strings.LastIndex(msg, ", "); strings.HasPrefix(msg, "operation error") && i > 0 {
		msg = msg[i+2:]
	}
	return msg
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func responseHeader(err error, name string) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// The IAM actions the store sends, as examples/s3/iam-policy.json grants them (a
// test keeps the two equal): on the bucket, on the objects below the key prefix,
// and on those objects with Object Lock.
var (
	IAMBucketActions     = []string{"s3:ListBucket"}
	IAMObjectActions     = []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	IAMObjectLockActions = []string{"s3:PutObjectRetention", "s3:GetObjectRetention", "s3:GetObjectLegalHold"}
)

// hint says what to do about the commonest failures.
func (s *S3) hint(e *S3Error, err error) string {
	bucket := s.cfg.Bucket
	switch e.Code {
	case "AccessDenied", "AllAccessDisabled", "AccountProblem":
		return fmt.Sprintf("The credentials in use may not %s in bucket %s: check the IAM policy (%s on the bucket; %s on the key prefix; "+
			"with Object Lock also %s; with SSE-KMS kms:GenerateDataKey and kms:Decrypt on the key) and the bucket policy",
			e.Step, bucket, strings.Join(IAMBucketActions, ", "), strings.Join(IAMObjectActions, ", "), strings.Join(IAMObjectLockActions, ", "))
	case "NoSuchBucket":
		return fmt.Sprintf("Bucket %s does not exist at this endpoint: check the bucket name, the endpoint and the account", bucket)
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "InvalidRegion":
		return s.regionHint(e, err)
	case "ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "InvalidToken":
		return "The session credentials have expired or are invalid: renew them (the CI job's OIDC/web identity token, the assumed role's session, or AWS_SESSION_TOKEN) and run again"
	case "InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError":
		return "STS refused the web identity (OIDC) token: check the role's trust policy (audience and subject conditions) and the token file (AWS_WEB_IDENTITY_TOKEN_FILE)"
	case "InvalidAccessKeyId", "XAdminUserNotFound":
		return "The server does not know this access key id: check the credentials and that the endpoint is the intended one"
	case "SignatureDoesNotMatch":
		return "The secret access key does not match the access key id (or something on the way changed the request): check the credentials"
	case "RequestTimeTooSkewed":
		return "This machine's clock differs too much from the server's: synchronise it (NTP)"
	case "SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded":
		return "The server kept asking to slow down after several retries: lower the number of backups run in parallel, or retry later"
	case "NoSuchUpload":
		return "The multipart upload vanished while it was written (aborted by someone else, or by a lifecycle rule): run the backup again"
	case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest":
		return "The server received different bytes than were sent: the data was changed in transit; run the backup again"
	case "EntityTooLarge":
		return "The object is larger than the server accepts"
	case "NotImplemented":
		return "The server does not support this request: it may not be fully S3-compatible"
	case "InvalidRequest", "InvalidArgument":
		if strings.Contains(strings.ToLower(strings.ReplaceAll(e.Message, " ", "")), "objectlock") {
			return fmt.Sprintf("Object Lock settings need a bucket created with Object Lock enabled: enable it on bucket %s or remove the Object Lock settings", bucket)
		}
	}
	if strings.HasPrefix(e.Code, "KMS.") || strings.Contains(e.Code, "KMS") {
		return "Server-side encryption with KMS failed: check the KMS key id and that the credentials may use it (kms:GenerateDataKey, kms:Decrypt)"
	}
	if e.Status == http.StatusMovedPermanently {
		return s.regionHint(e, err)
	}
	if e.Status == http.StatusNotFound && e.Code == "" && e.Step == "check bucket" {
		return fmt.Sprintf("Bucket %s does not exist at this endpoint: check the bucket name, the endpoint and the account", bucket)
	}
	if e.Status == http.StatusForbidden && e.Code == "" {
		return fmt.Sprintf("Access was denied: check the credentials, the IAM policy and the bucket policy of %s", bucket)
	}
	return transportHint(s.cfg, err)
}

func (s *S3) regionHint(e *S3Error, err error) string {
	region := responseHeader(err, "x-amz-bucket-region")
	if region == "" {
		if m := expectingRegion.FindStringSubmatch(e.Message); m != nil {
			region = m[1]
		}
	}
	if region != "" {
		return fmt.Sprintf("Bucket %s is in region %s: set the region to %s", s.cfg.Bucket, region, region)
	}
	return fmt.Sprintf("Bucket %s is in another region than the one configured: set the bucket's region", s.cfg.Bucket)
}

// transportHint explains failures that got no answer from S3.
func transportHint(cfg S3Config, err error) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return caHint(cfg)
	case errors.As(err, &hostname):
		return fmt.Sprintf("The endpoint's TLS certificate is not valid for %s: use the host name the certificate names in the endpoint", hostname.Host)
	case errors.As(err, &invalid):
		return "The endpoint's TLS certificate is invalid (expired or not yet valid?): renew it on the server"
	case errors.As(err, &verify):
		return caHint(cfg)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Nothing accepts connections at the endpoint: check the endpoint's host and port and that the server runs"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "The connection broke in the middle of the request, on every attempt: check that the server runs and is reachable, then run again"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "The endpoint's host name does not resolve: check the endpoint (or the bucket name, with virtual-hosted addressing)"
	}
	if msg := err.Error(); strings.Contains(msg, "failed to refresh cached credentials") ||
		strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no EC2 IMDS role found") {
		return "No S3 credentials were found: set static keys, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile (AWS_PROFILE), or web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE), or run where a container or instance role is available"
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() && !errors.Is(err, context.DeadlineExceeded) {
		return "The connection stalled: check the network path to the endpoint and that the server is healthy"
	}
	return ""
}

func caHint(cfg S3Config) string {
	return fmt.Sprintf("The endpoint's TLS certificate is not signed by a trusted CA: put the PEM certificate of the CA that signed it in the S3 %s setting", cfg.CASetting)
}

// AWS access key ids, and runs of base64 long enough to be a secret key (40) or a
// session token. Object keys do not match: their '.', '-' and '_' break the runs.
var (
	accessKeyLike = regexp.MustCompile(`\b(AKIA|ASIA|AIDA|AROA|AGPA)[A-Z0-9]{16}\b`)
	secretLike    = regexp.MustCompile(`[A-Za-z0-9+/=]{40,}`)
)

// scrub removes the configured credentials, and anything that looks like one, from
// a message a server or the SDK produced, since credentials from the standard chain
// are not known here.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	msg = accessKeyLike.ReplaceAllString(msg, "***")
	return secretLike.ReplaceAllString(msg, "***")
}
