package provider

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// planOnlyConfig is a provider block with opts and one conductor backup that no
// plan contacts (nothing listens on port 1): for tests of plan-time checks.
func planOnlyConfig(opts ...option) string {
	return hclConfig(
		build(&block{kind: "provider", labels: []string{"infrabackup"}}, opts),
		resourceBlock(arubaRes, set("host", "127.0.0.1"), set("port", 1), set("trigger", "1")),
	)
}

// s3With is an s3 argument with a bucket and opts.
func s3With(opts ...option) option {
	return set("s3", object(append([]option{set("bucket", "backups")}, opts...)...))
}

// TestStoreConfig_badCombinationsFailThePlan: every store setting that cannot work
// is refused at plan time, with a message that names the setting and the fix.
func TestStoreConfig_badCombinationsFailThePlan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []option
		want string
	}{
		{"two stores", []option{set("backup_dir", t.TempDir()), s3With()},
			`Two backup stores are configured.*backup_dir \(a local folder\) and s3 \(a bucket\) are both set`},
		{"kms without key", []option{s3With(set("sse", "aws:kms"))},
			`aws:kms encryption needs a KMS key.*s3.kms_key_id`},
		{"key without kms", []option{s3With(set("sse", "AES256"), set("kms_key_id", "alias/backups"))},
			`A KMS key is set without aws:kms encryption.*s3.kms_key_id names a KMS key, but server-side encryption is "AES256"`},
		{"key without any encryption", []option{s3With(set("kms_key_id", "alias/backups"))},
			`A KMS key is set without aws:kms encryption`},
		{"unknown encryption", []option{s3With(set("sse", "aws:kms:dsse"))},
			`s3.sse value must be one of`},
		{"lock mode without retention", []option{s3With(set("object_lock", object(set("mode", "COMPLIANCE"))))},
			`attribute "retention_days" is required`},
		{"lock retention without mode", []option{s3With(set("object_lock", object(set("retention_days", 30))))},
			`attribute "mode" is required`},
		{"lock mode misspelt", []option{s3With(set("object_lock", object(set("mode", "compliance"), set("retention_days", 30))))},
			`s3.object_lock.mode value must be one of`},
		{"lock of zero days", []option{s3With(set("object_lock", object(set("mode", "GOVERNANCE"), set("retention_days", 0))))},
			`s3.object_lock.retention_days value must be between 1 and 36500`},
		{"region with spaces", []option{s3With(set("region", "EU Central 1"))},
			`"EU Central 1" is not a region name`},
		{"endpoint without scheme", []option{s3With(set("endpoint", "s3.example.net:9000"))},
			`s3.example.net:9000.* does not start with https://|s3.example.net:9000.* is not a URL`},
		{"endpoint with a path", []option{s3With(set("endpoint", "https://s3.example.net/backups"))},
			`"https://s3.example.net/backups" has a path.*s3.bucket`},
		{"endpoint of another protocol", []option{s3With(set("endpoint", "ftp://s3.example.net"))},
			`does not start with https://`},
		{"bucket as a URL", []option{s3With(set("bucket", "s3://backups"))},
			`"s3://backups" is not a bucket name`},
		{"bucket with capitals", []option{s3With(set("bucket", "Backups"))},
			`"Backups" is not a bucket name`},
		{"prefix with dot-dot", []option{s3With(set("key_prefix", "site/../other"))},
			`"site/../other" cannot prefix keys`},
		{"access key alone", []option{s3With(set("access_key", "AKIAEXAMPLE"))},
			`Attribute "s3.secret_key" must be specified when "s3.access_key" is\s+specified`},
		{"session token alone", []option{s3With(set("session_token", "token"))},
			`Attribute "s3.access_key" must be specified when "s3.session_token" is\s+specified`},
		{"CA that is no PEM", []option{s3With(set("ca_cert_pem", "not a certificate"))},
			`s3.ca_cert_pem must hold at least one PEM block`},
		{"negative retention", []option{set("backup_dir", t.TempDir()), set("retention", object(set("keep_last", -1)))},
			`retention.keep_last value must be between 0 and 100000`},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config:      planOnlyConfig(c.opts...),
			PlanOnly:    true,
			ExpectError: errorRE(c.want),
		})
	}
	resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestStoreConfig_resourceRetentionIsCheckedAtPlan: a resource's retention override
// is checked like the provider's.
func TestStoreConfig_resourceRetentionIsCheckedAtPlan(t *testing.T) {
	t.Parallel()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: hclConfig(
				build(&block{kind: "provider", labels: []string{"infrabackup"}}, []option{set("backup_dir", t.TempDir())}),
				resourceBlock(iloRes, set("host", "127.0.0.1"), set("port", 1), set("trigger", "1"),
					set("retention", object(set("keep_days", -3)))),
			),
			PlanOnly:    true,
			ExpectError: errorRE(`retention.keep_days value must be between 0 and 100000`),
		}},
	})
}

// TestStoreConfig_environmentFallbacksAreCheckedToo: settings from INFRABACKUP_S3_*
// and INFRABACKUP_BACKUP_DIR go through the same checks, and the error names the
// variable. (It sets the process's environment, so it does not run in parallel.)
func TestStoreConfig_environmentFallbacksAreCheckedToo(t *testing.T) {
	dir := t.TempDir()
	env := func(kv ...string) func() {
		return func() {
			for _, name := range []string{EnvBackupDir, EnvS3Bucket, EnvS3SSE, EnvS3KMSKeyID, EnvS3Endpoint, EnvS3Region,
				EnvS3LockMode, EnvS3LockRetentionDays, EnvS3UsePathStyle} {
				t.Setenv(name, "")
			}
			for i := 0; i+1 < len(kv); i += 2 {
				t.Setenv(kv[i], kv[i+1])
			}
		}
	}
	step := func(want string, kv ...string) resource.TestStep {
		return resource.TestStep{PreConfig: env(kv...), Config: planOnlyConfig(), PlanOnly: true, ExpectError: errorRE(want)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			step(`Both INFRABACKUP_BACKUP_DIR \(a local folder\) and INFRABACKUP_S3_BUCKET \(a bucket\) are set`,
				EnvBackupDir, dir, EnvS3Bucket, "backups"),
			step(`aws:kms encryption needs a KMS key.*environment variable INFRABACKUP_S3_SSE`,
				EnvS3Bucket, "backups", EnvS3SSE, "aws:kms"),
			step(`\$INFRABACKUP_S3_ENDPOINT.*"http//s3" does not start with https://`,
				EnvS3Bucket, "backups", EnvS3Endpoint, "http//s3"),
			step(`\$INFRABACKUP_S3_REGION.*"Frankfurt" is not a region name`,
				EnvS3Bucket, "backups", EnvS3Region, "Frankfurt"),
			step(`Object Lock mode without a retention period.*INFRABACKUP_S3_OBJECT_LOCK_RETENTION_DAYS`,
				EnvS3Bucket, "backups", EnvS3LockMode, "COMPLIANCE"),
			step(`\$INFRABACKUP_S3_USE_PATH_STYLE.*"yes please" is not true or false`,
				EnvS3Bucket, "backups", EnvS3UsePathStyle, "yes please"),
			step(`\$INFRABACKUP_S3_BUCKET.*"Backups_2026" is not a bucket name`,
				EnvS3Bucket, "Backups_2026"),
			// The provider block's choice wins over the environment's: backup_dir
			// here and a bucket in the environment is the folder, and plans.
			{
				PreConfig: env(EnvS3Bucket, "backups"), Config: planOnlyConfig(set("backup_dir", dir)),
				PlanOnly: true, ExpectNonEmptyPlan: true,
			},
		},
	})
}

// TestStoreConfig_planContactsNoS3Server: Configure runs during every plan, and a
// plan of backups reads nothing from the store, so it must not open a connection to
// the endpoint (a plan must work where the bucket cannot be reached).
func TestStoreConfig_planContactsNoS3Server(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_ = c.Close()
		}
	}()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{
			Config: planOnlyConfig(s3With(set("endpoint", "https://"+l.Addr().String()), set("use_path_style", true),
				set("access_key", "AKIAPLANONLY0000TEST"), set("secret_key", "plan-only-secret"),
				set("object_lock", object(set("mode", "GOVERNANCE"), set("retention_days", 7))),
				set("sse", "aws:kms"), set("kms_key_id", "alias/backups"))),
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
		}},
	})
	if n := conns.Load(); n != 0 {
		t.Errorf("terraform plan opened %d connections to the S3 endpoint, want none", n)
	}
}

// TestStoreConfig_endpointCredentialsAreNotRepeated: an endpoint URL with a user
// and password in it is refused without repeating them (diagnostics are logged).
func TestStoreConfig_endpointCredentialsAreNotRepeated(t *testing.T) {
	t.Parallel()
	const secret = "Endpoint-Pw-4711"
	p := newProtocolProvider(t)
	typ := p.objectType(p.schemas.Provider, "the provider")
	cfg := p.object(typ, map[string]any{"s3": map[string]any{
		"bucket": tftypes.NewValue(tftypes.String, "backups"), "endpoint": tftypes.NewValue(tftypes.String, "https://backup:"+secret+"@s3.example.net"),
	}})
	resp, err := p.srv.ValidateProviderConfig(t.Context(), &tfprotov6.ValidateProviderConfigRequest{Config: p.dynamic(typ, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range resp.Diagnostics {
		text := d.Summary + " " + d.Detail
		if strings.Contains(text, secret) {
			t.Errorf("a diagnostic repeats the endpoint's password: %s", text)
		}
		found = found || d.Severity == tfprotov6.DiagnosticSeverityError && strings.Contains(text, "credentials never go in the URL")
	}
	if !found {
		t.Errorf("no error says that credentials do not belong in the endpoint: %+v", resp.Diagnostics)
	}
}

// TestStoreConfig_plainHTTPEndpointWarns: an http:// endpoint works (labs) but the
// backups travel unencrypted, which the provider says at every plan.
func TestStoreConfig_plainHTTPEndpointWarns(t *testing.T) {
	t.Parallel()
	p := newProtocolProvider(t)
	typ := p.objectType(p.schemas.Provider, "the provider")
	cfg := p.object(typ, map[string]any{"s3": map[string]any{
		"bucket": tftypes.NewValue(tftypes.String, "backups"), "endpoint": tftypes.NewValue(tftypes.String, "http://127.0.0.1:9000"),
	}})
	resp, err := p.srv.ConfigureProvider(t.Context(), &tfprotov6.ConfigureProviderRequest{Config: p.dynamic(typ, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if w := findWarning(t, resp.Diagnostics, func(summary, detail string) bool {
		return summary == "The S3 endpoint is not encrypted" && strings.Contains(detail, "travel unencrypted")
	}); w == nil {
		t.Errorf("no warning about the unencrypted endpoint: %+v", resp.Diagnostics)
	}
}
