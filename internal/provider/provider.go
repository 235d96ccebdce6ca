// Package provider maps Terraform configuration onto the backup jobs: schemas,
// plan-time validation, state. Device protocols live in internal/client and the order
// of backup steps in internal/backupjob.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// Environment variables read when the provider configuration leaves a setting unset.
const (
	EnvBackupDir     = "INFRABACKUP_BACKUP_DIR"
	EnvArubaUsername = "ARUBA_USERNAME"
	EnvArubaPassword = "ARUBA_PASSWORD"
	EnvILOUsername   = "ILO_USERNAME"
	EnvILOPassword   = "ILO_PASSWORD"
	// Juniper's own Terraform provider reads these: a team that runs it sets nothing new.
	EnvApstraUsername = "APSTRA_USER"
	EnvApstraPassword = "APSTRA_PASS"
)

var (
	_ provider.Provider                       = (*infrabackupProvider)(nil)
	_ provider.ProviderWithConfigValidators   = (*infrabackupProvider)(nil)
	_ provider.ProviderWithEphemeralResources = (*infrabackupProvider)(nil)
)

type infrabackupProvider struct {
	version string
	// now is the clock backups and restores are timed by: time.Now, or a fixed
	// clock in tests (TestAccILOBackup_providerClock).
	now func() time.Time
}

// New returns the provider factory for providerserver.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &infrabackupProvider{version: version, now: time.Now} }
}

// providerModel is the provider configuration but for the device kinds' blocks
// (deviceKinds), which readConfig reads apart.
type providerModel struct {
	BackupDir      types.String `tfsdk:"backup_dir"`
	S3             types.Object `tfsdk:"s3"`
	Retention      types.Object `tfsdk:"retention"`
	CACertPEM      types.String `tfsdk:"ca_cert_pem"`
	UseSystemRoots types.Bool   `tfsdk:"use_system_ca_roots"`
	Insecure       types.Bool   `tfsdk:"insecure"`
	RequestTimeout types.String `tfsdk:"request_timeout"`
	MaxRetries     types.Int64  `tfsdk:"max_retries"`
	RetryWaitMin   types.String `tfsdk:"retry_wait_min"`
	RetryWaitMax   types.String `tfsdk:"retry_wait_max"`
}

func (p *infrabackupProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "infrabackup"
	resp.Version = p.version
}

func (p *infrabackupProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	durationValidators := []validator.String{durationBetween(100*time.Millisecond, 24*time.Hour)}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Backs up infrastructure management devices (Aruba Mobility Conductors, HPE iLOs) on `terraform apply`.",
		Attributes: map[string]schema.Attribute{
			"backup_dir": schema.StringAttribute{
				MarkdownDescription: "Folder of the local backup store (created with mode 0700 by the first backup). Defaults to `$" + EnvBackupDir + "`. " +
					"Conflicts with `s3`: the provider writes to exactly one store.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"s3":        s3Schema(),
			"retention": providerRetentionSchema(),
			"ca_cert_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificates that device certificates must chain to. When set, they are the " +
					"only trust roots: a device certificate from any other CA, a public one included, is refused (set " +
					"`use_system_ca_roots = true` to trust the system's CAs as well). When not set, the system's CAs are " +
					"trusted. Devices usually have self-signed certificates: put the device's certificate, or the private CA " +
					"that signs the fleet's, here.",
				Optional:   true,
				Validators: []validator.String{pemValidator{}},
			},
			"use_system_ca_roots": schema.BoolAttribute{
				MarkdownDescription: "Also trust the system's CAs when `ca_cert_pem` is set. Default `false`: with " +
					"`ca_cert_pem`, only its CAs are trusted. Without `ca_cert_pem` the system's CAs are always used.",
				Optional: true,
			},
			"insecure": schema.BoolAttribute{
				MarkdownDescription: "Skip TLS certificate verification of devices. **Insecure**: anyone on the path can read the credentials and the backups. Only for lab devices; prefer `ca_cert_pem`. Default `false`.",
				Optional:            true,
			},
			"request_timeout": schema.StringAttribute{
				MarkdownDescription: "How long one request may wait for a device's answer, as a Go duration (`90s`, `2m`). Default `2m` (a conductor's flash backup takes 20-45 s). Downloads are bounded by the resource's timeouts instead, and the answer to an iLO restore upload may take up to 10m (the iLO checks the whole file first).",
				Optional:            true,
				Validators:          durationValidators,
			},
			"max_retries": schema.Int64Attribute{
				MarkdownDescription: "How many times a request that is safe to repeat (reads, logins) is retried on connection errors, HTTP 429 and 5xx, with exponential backoff honouring `Retry-After`. Requests that start a job on a device are never repeated. Default 3.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(0, 10)},
			},
			"retry_wait_min": schema.StringAttribute{
				MarkdownDescription: "Shortest wait before a retry, as a Go duration. Default `500ms`.",
				Optional:            true,
				Validators:          durationValidators,
			},
			"retry_wait_max": schema.StringAttribute{
				MarkdownDescription: "Longest wait before a retry, as a Go duration. Default `30s`.",
				Optional:            true,
				Validators:          durationValidators,
			},
		},
	}
	for _, k := range deviceKinds {
		resp.Schema.Attributes[k.block] = k.schemaAttribute()
	}
}

// providerData is what resources and data sources receive from Configure.
type providerData struct {
	http *client.Client
	// backupDir is the local store's folder; "" when the store is a bucket.
	backupDir string
	store     *backupStore
	// retention is the provider's default retention (keeps everything when unset).
	retention backupstore.Policy
	// credentials are the provider's credentials for each device kind, by block.
	credentials map[string]deviceCredentials
	now         func() time.Time
	deviceLock  *keyedMutex
	// sessions are the sessions ephemeral resources hold open.
	sessions liveSessions
}

func (p *infrabackupProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	cfg, credentials, diags := readConfig(ctx, req.Config)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, _ := parseDurationOr(cfg.RequestTimeout, client.DefaultRequestTimeout)
	waitMin, _ := parseDurationOr(cfg.RetryWaitMin, client.DefaultRetryWaitMin)
	waitMax, _ := parseDurationOr(cfg.RetryWaitMax, client.DefaultRetryWaitMax)
	retries := int64(client.DefaultRetryMax)
	if !cfg.MaxRetries.IsNull() && !cfg.MaxRetries.IsUnknown() {
		retries = cfg.MaxRetries.ValueInt64()
	}
	if waitMax < waitMin {
		resp.Diagnostics.AddAttributeError(path.Root("retry_wait_max"), "retry_wait_max is shorter than retry_wait_min",
			fmt.Sprintf("retry_wait_max (%s) must be at least retry_wait_min (%s).", waitMax, waitMin))
		return
	}
	if cfg.CACertPEM.ValueString() == "" && !cfg.UseSystemRoots.IsNull() && !cfg.UseSystemRoots.IsUnknown() && !cfg.UseSystemRoots.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("use_system_ca_roots"), "No trust roots",
			"use_system_ca_roots = false without ca_cert_pem leaves nothing to verify device certificates against: "+
				"set ca_cert_pem to the CA certificates your devices chain to, or remove use_system_ca_roots.")
		return
	}
	hc, err := client.New(client.Config{
		CACertPEM:      cfg.CACertPEM.ValueString(),
		UseSystemRoots: cfg.UseSystemRoots.ValueBool(),
		Insecure:       cfg.Insecure.ValueBool(),
		RequestTimeout: timeout,
		RetryMax:       int(retries),
		RetryWaitMin:   waitMin,
		RetryWaitMax:   waitMax,
		UserAgent:      fmt.Sprintf("terraform-provider-infrabackup/%s", p.version),
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ca_cert_pem"), "Invalid TLS settings", err.Error())
		return
	}
	if cfg.Insecure.ValueBool() {
		resp.Diagnostics.AddWarning("TLS certificate verification is off",
			"insecure = true: device certificates are not verified, so credentials and backups can be intercepted. Use ca_cert_pem instead wherever possible.")
	}
	data := &providerData{http: hc, credentials: credentials, now: p.now, deviceLock: &keyedMutex{}}

	choice, diags := chooseStore(ctx, cfg)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	switch {
	case choice.unknown:
		data.store = failedStore(errors.New("the backup store settings (backup_dir, s3) depend on values known only during apply, " +
			"so the store cannot be read during this plan"))
	case choice.s3 != nil:
		data.store = s3Store(*choice.s3)
		if strings.HasPrefix(choice.s3.Endpoint, "http://") {
			resp.Diagnostics.AddAttributeWarning(path.Root("s3").AtName("endpoint"), "The S3 endpoint is not encrypted",
				"The endpoint is an http:// URL: the backups (configurations, iLO user databases) travel unencrypted to the bucket. "+
					"Use https:// with s3.ca_cert_pem for a private CA.")
		}
	case choice.backupDir != "":
		data.backupDir = choice.backupDir
		data.store = localStore(choice.backupDir)
	default:
		data.store = failedStore(fmt.Errorf("no backup store is configured: set backup_dir (a local folder) or an s3 block (a bucket) "+
			"in the provider block, or the %s or %s environment variable", EnvBackupDir, EnvS3Bucket))
	}
	policy, _, d := retentionPolicy(ctx, cfg.Retention)
	resp.Diagnostics.Append(d...)
	data.retention = policy

	resp.ResourceData = data
	resp.DataSourceData = data
	resp.EphemeralResourceData = data
}

func (p *infrabackupProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{storeValidator{}}
}

func (p *infrabackupProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newArubaConductorBackupResource,
		newILOBackupResource,
		newApstraBackupResource,
		newILOCustomBackupRestoreResource,
		newILORestoreResource,
	}
}

func (p *infrabackupProvider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{newSessionResource(arubaSession), newSessionResource(iloSession), newSessionResource(apstraSession)}
}

func (p *infrabackupProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newArubaConductorBackupDataSource,
		newILOBackupDataSource,
		newApstraBackupDataSource,
		newBackupsDataSource,
	}
}

// readConfig reads the provider configuration: the settings every device shares
// into providerModel, and each device kind's block into its credentials, by block.
func readConfig(ctx context.Context, config tfsdk.Config) (providerModel, map[string]deviceCredentials, diag.Diagnostics) {
	var cfg providerModel
	var all types.Object
	diags := config.Get(ctx, &all)
	if diags.HasError() {
		return cfg, nil, diags
	}
	values, attrTypes := all.Attributes(), all.AttributeTypes(ctx)
	credentials := map[string]deviceCredentials{}
	for _, k := range deviceKinds {
		var block *credentialsModel
		v, ok := values[k.block].(types.Object)
		if !ok {
			diags.AddError("Unexpected provider configuration", fmt.Sprintf("the %s block is a %T: this is a bug in the provider", k.block, values[k.block]))
			return cfg, nil, diags
		}
		diags.Append(v.As(ctx, &block, basetypes.ObjectAsOptions{})...)
		credentials[k.block] = k.credentials(block)
		delete(values, k.block)
		delete(attrTypes, k.block)
	}
	common, d := types.ObjectValue(attrTypes, values)
	diags.Append(d...)
	if !diags.HasError() {
		diags.Append(common.As(ctx, &cfg, basetypes.ObjectAsOptions{})...)
	}
	return cfg, credentials, diags
}

func orEnv(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}

func parseDurationOr(v types.String, def time.Duration) (time.Duration, error) {
	if v.IsNull() || v.IsUnknown() || v.ValueString() == "" {
		return def, nil
	}
	return time.ParseDuration(v.ValueString())
}

// failedBackupNote says, in the backup resources' descriptions, what a failed backup leaves.
const failedBackupNote = "A failed backup leaves no file in the store, only a small failure record (when, the step that failed " +
	"and what the device said, secrets masked) that `infrabackup_backups` reports and no lookup takes for a backup. "

// deviceLockNote documents the per-device lock in the resources' descriptions.
const deviceLockNote = "Within one provider process (one `terraform plan` or `apply`), operations on the same device run " +
	"one at a time. A device is `host` and `port`, host names compared case-insensitively and IP addresses by value; " +
	"names are not resolved, so a name and its address count as two devices. Separate Terraform runs are not " +
	"serialised with each other: do not point two configurations that run at the same time at one device."

// keyedMutex serialises work on one device: two resources naming the same conductor
// would otherwise overwrite each other's fixed-name files on its flash.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Lock waits until no other operation of this provider process holds the device at
// host:port, and returns the function that releases it.
func (k *keyedMutex) Lock(host string, port int) func() {
	m := k.mutex(deviceKey(host, port))
	m.Lock()
	return m.Unlock
}

func (k *keyedMutex) mutex(key string) *sync.Mutex {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locks == nil {
		k.locks = map[string]*sync.Mutex{}
	}
	m, ok := k.locks[key]
	if !ok {
		m = &sync.Mutex{}
		k.locks[key] = m
	}
	return m
}

// deviceKey names a device for the lock: names compare case-insensitively and
// without a final dot (as DNS does), addresses by value (::1 is 0:0:0:0:0:0:0:1).
// Names are not resolved: a name and its address are two keys.
func deviceKey(host string, port int) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}
