package provider

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// Environment variables read when the s3 settings leave a value unset. The AWS SDK
// reads the AWS_* variables (credentials, profile, region, shared files) itself.
const (
	EnvS3Bucket            = "INFRABACKUP_S3_BUCKET"
	EnvS3KeyPrefix         = "INFRABACKUP_S3_KEY_PREFIX"
	EnvS3Region            = "INFRABACKUP_S3_REGION"
	EnvS3Endpoint          = "INFRABACKUP_S3_ENDPOINT"
	EnvS3UsePathStyle      = "INFRABACKUP_S3_USE_PATH_STYLE"
	EnvS3CACertPEM         = "INFRABACKUP_S3_CA_CERT_PEM"
	EnvS3SSE               = "INFRABACKUP_S3_SSE"
	EnvS3KMSKeyID          = "INFRABACKUP_S3_KMS_KEY_ID"
	EnvS3LockMode          = "INFRABACKUP_S3_OBJECT_LOCK_MODE"
	EnvS3LockRetentionDays = "INFRABACKUP_S3_OBJECT_LOCK_RETENTION_DAYS"
)

// s3CASetting is how errors about the endpoint's certificate name the CA setting.
const s3CASetting = "s3.ca_cert_pem"

type s3Model struct {
	Bucket                 types.String `tfsdk:"bucket"`
	KeyPrefix              types.String `tfsdk:"key_prefix"`
	Region                 types.String `tfsdk:"region"`
	Endpoint               types.String `tfsdk:"endpoint"`
	UsePathStyle           types.Bool   `tfsdk:"use_path_style"`
	CACertPEM              types.String `tfsdk:"ca_cert_pem"`
	SSE                    types.String `tfsdk:"sse"`
	KMSKeyID               types.String `tfsdk:"kms_key_id"`
	ObjectLock             types.Object `tfsdk:"object_lock"`
	AccessKey              types.String `tfsdk:"access_key"`
	SecretKey              types.String `tfsdk:"secret_key"`
	SessionToken           types.String `tfsdk:"session_token"`
	Profile                types.String `tfsdk:"profile"`
	SharedConfigFiles      types.List   `tfsdk:"shared_config_files"`
	SharedCredentialsFiles types.List   `tfsdk:"shared_credentials_files"`
}

type objectLockModel struct {
	Mode          types.String `tfsdk:"mode"`
	RetentionDays types.Int64  `tfsdk:"retention_days"`
}

func envNote(env string) string { return " Defaults to `$" + env + "`." }

// s3Schema is the provider's s3 attribute.
func s3Schema() schema.SingleNestedAttribute {
	sibling := func(name string) path.Expression { return path.MatchRelative().AtParent().AtName(name) }
	return schema.SingleNestedAttribute{
		MarkdownDescription: "Keep the backups in an S3 bucket (AWS S3 or an S3-compatible server) instead of a local folder. " +
			"Conflicts with `backup_dir`: the provider writes to exactly one store. Without this block and without `backup_dir`, " +
			"setting `$" + EnvS3Bucket + "` selects the bucket. Credentials come, in this order, from `access_key`/`secret_key`, " +
			"then the standard AWS chain, as for Terraform's S3 backend: environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, " +
			"`AWS_SESSION_TOKEN`), shared config and credentials files (`profile`, `AWS_PROFILE`), web identity / OIDC " +
			"(`AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`), container and instance roles. Nothing is sent to the bucket " +
			"during `terraform plan` unless a data source reads it.",
		Optional: true,
		Attributes: map[string]schema.Attribute{
			"bucket": schema.StringAttribute{
				MarkdownDescription: "Bucket name." + envNote(EnvS3Bucket) + " Required, here or in the environment.",
				Optional:            true,
				Validators:          []validator.String{stringCheck{description: "an S3 bucket name", check: checkBucketName}},
			},
			"key_prefix": schema.StringAttribute{
				MarkdownDescription: "Prefix of every key the provider writes (`<key_prefix>/aruba/...`, `<key_prefix>/ilo/...`), " +
					"so that one bucket can hold several stores; letters, digits, `.`, `_`, `-` and `/`." + envNote(EnvS3KeyPrefix),
				Optional:   true,
				Validators: []validator.String{stringCheck{description: "a key prefix", check: checkKeyPrefix}},
			},
			"region": schema.StringAttribute{
				MarkdownDescription: "The bucket's region (`eu-central-1`)." + envNote(EnvS3Region) + " Then `AWS_REGION` or the " +
					"profile's region apply, and `us-east-1` for an S3-compatible `endpoint`.",
				Optional:   true,
				Validators: []validator.String{stringCheck{description: "a region name", check: checkRegion}},
			},
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "Base URL of an S3-compatible server (`https://s3.example.net:9000`), without a path; unset " +
					"for AWS." + envNote(EnvS3Endpoint) + " `http://` works but sends the backups unencrypted: the plan warns.",
				Optional:   true,
				Validators: []validator.String{stringCheck{description: "an https:// URL", check: checkEndpoint}},
			},
			"use_path_style": schema.BoolAttribute{
				MarkdownDescription: "Address the bucket as `https://host/bucket` instead of `https://bucket.host`, as most " +
					"S3-compatible servers need. Defaults to `$" + EnvS3UsePathStyle + "`, then `false`.",
				Optional: true,
			},
			"ca_cert_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificates trusted for the endpoint's TLS certificate, in addition to the " +
					"system's (a server with a private CA). TLS is always verified." + envNote(EnvS3CACertPEM),
				Optional:   true,
				Validators: []validator.String{pemValidator{}},
			},
			"sse": schema.StringAttribute{
				MarkdownDescription: "Server-side encryption of every object: `AES256` (keys managed by S3) or `aws:kms` (needs " +
					"`kms_key_id`). Unset: the bucket's default encryption." + envNote(EnvS3SSE),
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(objstore.SSEAES256, objstore.SSEKMS)},
			},
			"kms_key_id": schema.StringAttribute{
				MarkdownDescription: "KMS key for `sse = \"aws:kms\"`: its id, ARN or alias (`alias/aws/s3` for the AWS-managed key)." +
					envNote(EnvS3KMSKeyID),
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"object_lock": schema.SingleNestedAttribute{
				MarkdownDescription: "Object Lock retention for every object written, so that nobody — not even a compromised " +
					"pipeline — can delete a backup before `retention_days` have passed. The bucket must have been created " +
					"with Object Lock enabled. Retention (`retention`) skips locked backups with a warning." +
					" Defaults to `$" + EnvS3LockMode + "` and `$" + EnvS3LockRetentionDays + "`.",
				Optional: true,
				Attributes: map[string]schema.Attribute{
					"mode": schema.StringAttribute{
						MarkdownDescription: "`GOVERNANCE` (users with `s3:BypassGovernanceRetention` can still delete) or " +
							"`COMPLIANCE` (nobody can, not even the account's root user, until the date).",
						Required:   true,
						Validators: []validator.String{stringvalidator.OneOf(objstore.LockGovernance, objstore.LockCompliance)},
					},
					"retention_days": schema.Int64Attribute{
						MarkdownDescription: "How long each object is protected, in days from its creation.",
						Required:            true,
						Validators:          []validator.Int64{int64validator.Between(1, 36500)},
					},
				},
			},
			"access_key": schema.StringAttribute{
				MarkdownDescription: "Static access key id; prefer the standard chain (environment, profile, web identity, roles). " +
					"Needs `secret_key`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(sibling("secret_key"))},
			},
			"secret_key": schema.StringAttribute{
				MarkdownDescription: "Static secret access key. Needs `access_key`.",
				Optional:            true,
				Sensitive:           true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(sibling("access_key"))},
			},
			"session_token": schema.StringAttribute{
				MarkdownDescription: "Session token of temporary static credentials. Needs `access_key` and `secret_key`.",
				Optional:            true,
				Sensitive:           true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(sibling("access_key"))},
			},
			"profile": schema.StringAttribute{
				MarkdownDescription: "Profile of the shared config and credentials files. Default: `$AWS_PROFILE`, then `default`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"shared_config_files": schema.ListAttribute{
				MarkdownDescription: "Shared config files to read instead of `~/.aws/config` (or `$AWS_CONFIG_FILE`).",
				Optional:            true,
				ElementType:         types.StringType,
			},
			"shared_credentials_files": schema.ListAttribute{
				MarkdownDescription: "Shared credentials files to read instead of `~/.aws/credentials` (or `$AWS_SHARED_CREDENTIALS_FILE`).",
				Optional:            true,
				ElementType:         types.StringType,
			},
		},
	}
}

// storeChoice is the backup store a provider configuration selects.
type storeChoice struct {
	backupDir string             // the local folder; "" when the store is a bucket
	s3        *objstore.S3Config // the bucket; nil for the local folder
	// unknown is set when a setting is not known yet (it depends on a resource):
	// the store can be chosen only at apply.
	unknown bool
}

// setting is one value of the configuration or of its environment fallback, with
// where it came from, for error messages.
type setting struct {
	value string
	path  path.Path
	env   string // set when the value came from the environment
}

func (s setting) set() bool { return s.value != "" }

// name is how an error names the setting.
func (s setting) name() string {
	if s.env != "" {
		return "$" + s.env
	}
	return s.path.String()
}

// fail reports a bad value at the configuration's attribute, or names the variable.
func (s setting) fail(diags *diag.Diagnostics, summary, detail string) {
	if s.env != "" {
		diags.AddError(summary, detail+" (The value comes from the environment variable "+s.env+".)")
		return
	}
	diags.AddAttributeError(s.path, summary, detail)
}

// settings reads configuration values with their environment fallbacks, and
// records whether any of them is still unknown.
type settings struct {
	unknown bool
	diags   diag.Diagnostics
}

func (r *settings) str(v types.String, p path.Path, env string) setting {
	switch {
	case v.IsUnknown():
		r.unknown = true
		return setting{path: p}
	case !v.IsNull():
		return setting{value: v.ValueString(), path: p}
	case env != "" && os.Getenv(env) != "":
		return setting{value: os.Getenv(env), path: p, env: env}
	}
	return setting{path: p}
}

func (r *settings) list(v types.List) []string {
	if v.IsUnknown() {
		r.unknown = true
		return nil
	}
	var out []string
	for _, e := range v.Elements() {
		s, ok := e.(types.String)
		switch {
		case !ok || e.IsUnknown():
			r.unknown = true
		case !s.IsNull():
			out = append(out, s.ValueString())
		}
	}
	return out
}

// chooseStore applies the environment's fallbacks to the provider's store settings
// and checks them: exactly one store, and settings that work together. It is the
// one place these rules live, run by the provider's config validator (validate and
// plan) and by Configure.
func chooseStore(ctx context.Context, cfg providerModel) (storeChoice, diag.Diagnostics) {
	r := &settings{}
	var c storeChoice
	dir := r.str(cfg.BackupDir, path.Root("backup_dir"), "")
	if cfg.S3.IsUnknown() {
		r.unknown = true
	}
	switch {
	case r.unknown:
	case dir.set() && !cfg.S3.IsNull():
		r.diags.AddAttributeError(path.Root("s3"), "Two backup stores are configured",
			"backup_dir (a local folder) and s3 (a bucket) are both set, but the provider writes every backup to exactly one "+
				"store: remove backup_dir to keep the backups in the bucket, or remove the s3 block to keep them in the folder.")
	case !cfg.S3.IsNull():
		c.s3 = r.s3(ctx, cfg.S3)
	case dir.set():
		c.backupDir = dir.value
	case os.Getenv(EnvBackupDir) != "" && os.Getenv(EnvS3Bucket) != "":
		r.diags.AddError("Two backup stores are configured",
			fmt.Sprintf("Both %s (a local folder) and %s (a bucket) are set in the environment, and the provider block "+
				"chooses neither: the provider writes every backup to exactly one store. Unset one of the two, or set "+
				"backup_dir or an s3 block in the provider block.", EnvBackupDir, EnvS3Bucket))
	case os.Getenv(EnvS3Bucket) != "":
		c.s3 = r.s3(ctx, types.ObjectNull(s3AttrTypes()))
	default:
		c.backupDir = os.Getenv(EnvBackupDir)
	}
	c.unknown = r.unknown
	if r.unknown {
		c.s3 = nil
	}
	return c, r.diags
}

// s3AttrTypes are the attribute types of the s3 object.
func s3AttrTypes() map[string]attr.Type {
	attrTypes := map[string]attr.Type{}
	for name, a := range s3Schema().Attributes {
		attrTypes[name] = a.GetType()
	}
	return attrTypes
}

// s3 reads the s3 object (null: everything from the environment) into an objstore
// configuration, or nil when a setting is bad or unknown.
func (r *settings) s3(ctx context.Context, obj types.Object) *objstore.S3Config {
	var m s3Model
	if !obj.IsNull() {
		if d := obj.As(ctx, &m, basetypes.ObjectAsOptions{}); d.HasError() {
			r.diags.Append(d...)
			return nil
		}
	} else {
		m = s3Model{ObjectLock: types.ObjectNull(objectLockAttrTypes()),
			SharedConfigFiles: types.ListNull(types.StringType), SharedCredentialsFiles: types.ListNull(types.StringType)}
	}
	at := func(name string) path.Path { return path.Root("s3").AtName(name) }
	bucket := r.str(m.Bucket, at("bucket"), EnvS3Bucket)
	prefix := r.str(m.KeyPrefix, at("key_prefix"), EnvS3KeyPrefix)
	region := r.str(m.Region, at("region"), EnvS3Region)
	endpoint := r.str(m.Endpoint, at("endpoint"), EnvS3Endpoint)
	caPEM := r.str(m.CACertPEM, at("ca_cert_pem"), EnvS3CACertPEM)
	sse := r.str(m.SSE, at("sse"), EnvS3SSE)
	kmsKey := r.str(m.KMSKeyID, at("kms_key_id"), EnvS3KMSKeyID)
	pathStyle := r.str(boolText(m.UsePathStyle), at("use_path_style"), EnvS3UsePathStyle)
	cfg := &objstore.S3Config{
		Bucket: bucket.value, Prefix: strings.TrimSuffix(prefix.value, "/"), Region: region.value, Endpoint: endpoint.value,
		CAPEM: []byte(caPEM.value), CASetting: s3CASetting, SSE: sse.value, KMSKeyID: kmsKey.value,
		AccessKeyID: m.AccessKey.ValueString(), SecretAccessKey: m.SecretKey.ValueString(), SessionToken: m.SessionToken.ValueString(),
		Profile:                m.Profile.ValueString(),
		SharedConfigFiles:      r.list(m.SharedConfigFiles),
		SharedCredentialsFiles: r.list(m.SharedCredentialsFiles),
	}
	for _, v := range []types.String{m.AccessKey, m.SecretKey, m.SessionToken, m.Profile} {
		r.str(v, path.Empty(), "") // records unknown values
	}
	if r.unknown {
		return nil
	}
	before := r.diags.ErrorsCount()

	if !bucket.set() {
		r.diags.AddAttributeError(at("bucket"), "The S3 bucket is not set",
			fmt.Sprintf("The s3 block needs the bucket's name: set s3.bucket, or the %s environment variable.", EnvS3Bucket))
	}
	// Values from the configuration were checked by the attributes' validators;
	// those from the environment are checked here by the same functions.
	for _, c := range []struct {
		s     setting
		check func(string) error
	}{{bucket, checkBucketName}, {prefix, checkKeyPrefix}, {region, checkRegion}, {endpoint, checkEndpoint}} {
		if c.s.env != "" && c.s.set() {
			if err := c.check(c.s.value); err != nil {
				c.s.fail(&r.diags, "Invalid "+c.s.name(), err.Error())
			}
		}
	}
	if caPEM.env != "" && !pemHoldsCertificate(caPEM.value) {
		caPEM.fail(&r.diags, "Invalid CA certificate", caPEM.name()+" must hold at least one PEM block starting with -----BEGIN CERTIFICATE-----.")
	}
	if pathStyle.set() {
		b, err := strconv.ParseBool(pathStyle.value)
		if err != nil {
			pathStyle.fail(&r.diags, "Invalid "+pathStyle.name(), fmt.Sprintf("%q is not true or false.", pathStyle.value))
		}
		cfg.UsePathStyle = b
	}

	switch {
	case sse.env != "" && sse.value != objstore.SSEAES256 && sse.value != objstore.SSEKMS:
		sse.fail(&r.diags, "Invalid "+sse.name(), fmt.Sprintf("%q is not a server-side encryption this provider supports: use %q or %q.",
			sse.value, objstore.SSEAES256, objstore.SSEKMS))
	case sse.value == objstore.SSEKMS && !kmsKey.set():
		sse.fail(&r.diags, "aws:kms encryption needs a KMS key",
			fmt.Sprintf("sse = %q encrypts every backup with a KMS key: name it in s3.kms_key_id (or %s), as a key id, "+
				"an ARN or an alias (alias/aws/s3 for the key AWS manages for S3), so that the key the backups depend on "+
				"is written down.", objstore.SSEKMS, EnvS3KMSKeyID))
	case kmsKey.set() && sse.value != objstore.SSEKMS:
		kmsKey.fail(&r.diags, "A KMS key is set without aws:kms encryption",
			fmt.Sprintf("%s names a KMS key, but server-side encryption is %q: set s3.sse = %q to encrypt with that key, "+
				"or remove the key.", kmsKey.name(), sse.value, objstore.SSEKMS))
	}
	r.objectLock(ctx, m.ObjectLock, cfg)

	if r.diags.ErrorsCount() > before {
		return nil
	}
	return cfg
}

// objectLock reads s3.object_lock, or its environment variables, into cfg.
func (r *settings) objectLock(ctx context.Context, obj types.Object, cfg *objstore.S3Config) {
	at := path.Root("s3").AtName("object_lock")
	if obj.IsUnknown() {
		r.unknown = true
		return
	}
	if !obj.IsNull() {
		var m objectLockModel
		if d := obj.As(ctx, &m, basetypes.ObjectAsOptions{}); d.HasError() {
			r.diags.Append(d...)
			return
		}
		if m.Mode.IsUnknown() || m.RetentionDays.IsUnknown() {
			r.unknown = true
			return
		}
		cfg.LockMode = m.Mode.ValueString()
		cfg.LockRetention = time.Duration(m.RetentionDays.ValueInt64()) * 24 * time.Hour
		return
	}
	mode := setting{value: os.Getenv(EnvS3LockMode), path: at.AtName("mode"), env: EnvS3LockMode}
	days := setting{value: os.Getenv(EnvS3LockRetentionDays), path: at.AtName("retention_days"), env: EnvS3LockRetentionDays}
	switch {
	case !mode.set() && !days.set():
		return
	case !mode.set():
		days.fail(&r.diags, "Object Lock retention without a mode",
			fmt.Sprintf("%s is set but %s is not: set it to GOVERNANCE or COMPLIANCE, or unset both.", EnvS3LockRetentionDays, EnvS3LockMode))
		return
	case !days.set():
		mode.fail(&r.diags, "Object Lock mode without a retention period",
			fmt.Sprintf("%s is set but %s is not: set the number of days each backup stays locked.", EnvS3LockMode, EnvS3LockRetentionDays))
		return
	case mode.value != objstore.LockGovernance && mode.value != objstore.LockCompliance:
		mode.fail(&r.diags, "Invalid "+mode.name(), fmt.Sprintf("%q is not an Object Lock mode: use GOVERNANCE or COMPLIANCE.", mode.value))
		return
	}
	n, err := strconv.Atoi(days.value)
	if err != nil || n < 1 || n > 36500 {
		days.fail(&r.diags, "Invalid "+days.name(), fmt.Sprintf("%q is not a number of days between 1 and 36500.", days.value))
		return
	}
	cfg.LockMode, cfg.LockRetention = mode.value, time.Duration(n)*24*time.Hour
}

func objectLockAttrTypes() map[string]attr.Type {
	return map[string]attr.Type{"mode": types.StringType, "retention_days": types.Int64Type}
}

// boolText is a bool setting as text, so that it can fall back on the environment.
func boolText(b types.Bool) types.String {
	switch {
	case b.IsUnknown():
		return types.StringUnknown()
	case b.IsNull():
		return types.StringNull()
	}
	return types.StringValue(strconv.FormatBool(b.ValueBool()))
}

var (
	bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionRE     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// checkBucketName applies S3's bucket naming rules.
func checkBucketName(s string) error {
	switch {
	case !bucketNameRE.MatchString(s):
		return fmt.Errorf("%q is not a bucket name: 3 to 63 lower-case letters, digits, '.' and '-', starting and ending "+
			"with a letter or digit (give the name only, not an s3:// URL or an ARN)", s)
	case strings.Contains(s, ".."):
		return fmt.Errorf("%q is not a bucket name: it has two dots in a row", s)
	case net.ParseIP(s) != nil:
		return fmt.Errorf("%q is not a bucket name: it is formatted as an IP address", s)
	}
	return nil
}

func checkKeyPrefix(s string) error {
	if err := objstore.ValidKey(strings.TrimSuffix(s, "/")); err != nil {
		return fmt.Errorf("%q cannot prefix keys: %v", s, err)
	}
	return nil
}

func checkRegion(s string) error {
	if !regionRE.MatchString(s) || len(s) > 64 {
		return fmt.Errorf("%q is not a region name: lower-case letters, digits and single '-' between them, such as "+
			"\"eu-central-1\" (S3-compatible servers usually accept \"us-east-1\")", s)
	}
	return nil
}

// checkEndpoint accepts the base URL of an S3 server. Its error never repeats a URL
// that holds credentials.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		if strings.Contains(s, "@") {
			return fmt.Errorf("the endpoint is not a URL")
		}
		return fmt.Errorf("%q is not a URL: write it as https://host[:port]", s)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("the endpoint holds a user name or password: credentials never go in the URL; use the AWS " +
			"credential chain (environment, profile, web identity) or access_key and secret_key")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q does not start with https:// (or http://): write it as https://host[:port]", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q names no host: write it as https://host[:port]", s)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%q has a path: the endpoint is the server's base URL (https://host[:port]); the bucket goes in s3.bucket and a folder in s3.key_prefix", s)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a query or fragment: the endpoint is the server's base URL (https://host[:port])", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has an invalid port", s)
		}
	}
	return nil
}

// storeValidator is the provider's config validator for its store settings: it
// runs chooseStore on what is known, so that `terraform validate` and plan report
// a bad combination before anything runs.
type storeValidator struct{}

var _ provider.ConfigValidator = storeValidator{}

func (storeValidator) Description(context.Context) string {
	return "exactly one backup store (backup_dir or s3), with S3 settings that work together"
}

func (v storeValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (storeValidator) ValidateProvider(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	cfg, _, d := readConfig(ctx, req.Config)
	if d.HasError() {
		return // the framework reports the type errors itself
	}
	_, diags := chooseStore(ctx, cfg)
	resp.Diagnostics.Append(diags...)
}
