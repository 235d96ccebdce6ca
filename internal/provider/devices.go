package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	resschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/apstra"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/aruba"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
)

// A device kind is one kind of device the provider talks to. Its deviceKind value
// is all the provider needs to know about it outside its own resources: its block
// in the provider configuration (credentials and port, and the environment
// variables that stand in for them), what messages call it, and how its client is
// built. Every operation on a device starts from its kind (operation.go).
//
// Adding a kind (each step a file of its own, plus a line where a list names it):
//  1. its client, internal/client/<kind>: New from host, port, credentials and the
//     operation's client.Secrets; the client has Session and Device (deviceClient);
//  2. its store family: a constant in backupstore's Families;
//  3. its backup, internal/backupjob/<kind>.go: a Request embedding Target, and
//     prepare and write steps that runBackup runs in the lifecycle every backup
//     shares;
//  4. its deviceKind value, in this file, listed in deviceKinds: the provider
//     schema gains its block, Configure reads it, and startCreate/start check its
//     credentials and build its client;
//  5. what its backups report, in models.go: a stored-backup model with its
//     attributes() and fromBackup, embedded by both of the next two;
//  6. its resource, resource_<kind>_backup.go: the schema (targetAttributes, the
//     model's attributes, its own arguments), and a Create that calls startCreate,
//     runs the job, reports with op.stored and maps the result; listed in the
//     provider's Resources;
//  7. its data source, data_source_<kind>_backup.go, embedding backupDataSource;
//     listed in DataSources.

// deviceClient is what the provider needs of every device client.
type deviceClient interface {
	// Session is the client's session, opened and closed by client.With.
	Session() *client.Session
	// Device names the device in errors.
	Device() string
}

// deviceAccess is what a kind's client is built from.
type deviceAccess struct {
	host, username, password string
	port                     int
	// secrets is the operation's secret set: the client adds what it learns
	// (session tokens) and scrubs device text with it.
	secrets *client.Secrets
}

// deviceSettings is a device kind's block in the provider configuration.
type deviceSettings struct {
	family      string // the store family its backups are kept under (backupstore)
	block       string // the block's name: aruba.username, aruba.password, aruba.port
	title       string // in "Missing <title> credentials"
	label       string // what messages call one device: "Invalid <label> settings"
	description string // the block's description
	account     string // whose account the credentials are, in the descriptions: "<account> user"
	portName    string // the port's description: "<portName>. Default <defaultPort>."
	envUsername string
	envPassword string
	defaultPort int
}

// deviceKind is a device kind: its settings and its client's constructor.
type deviceKind[C deviceClient] struct {
	deviceSettings
	newClient func(hc *client.Client, a deviceAccess) (C, error)
}

var arubaKind = &deviceKind[*aruba.Conductor]{
	deviceSettings{family: backupstore.FamilyAruba, block: "aruba", title: "Aruba", label: "conductor",
		description: "Credentials of the Aruba Mobility Conductors.", account: "API", portName: "HTTPS API port",
		envUsername: EnvArubaUsername, envPassword: EnvArubaPassword, defaultPort: aruba.DefaultPort},
	func(hc *client.Client, a deviceAccess) (*aruba.Conductor, error) {
		return aruba.New(hc, aruba.Config{Host: a.host, Port: a.port, Username: a.username, Password: a.password, Secrets: a.secrets})
	},
}

var iloKind = &deviceKind[*redfish.Client]{
	deviceSettings{family: backupstore.FamilyILO, block: "ilo", title: "iLO", label: "iLO",
		description: "Credentials of the HPE iLOs.", account: "iLO", portName: "HTTPS port",
		envUsername: EnvILOUsername, envPassword: EnvILOPassword, defaultPort: 443},
	func(hc *client.Client, a deviceAccess) (*redfish.Client, error) {
		return redfish.New(hc, redfish.Config{Host: a.host, Port: a.port, Username: a.username, Password: a.password, Secrets: a.secrets})
	},
}

var apstraKind = &deviceKind[*apstra.Client]{
	deviceSettings{family: backupstore.FamilyApstra, block: "apstra", title: "Apstra", label: "Apstra server",
		description: "Credentials of the Juniper Apstra servers.", account: "Apstra", portName: "HTTPS API port",
		envUsername: EnvApstraUsername, envPassword: EnvApstraPassword, defaultPort: apstra.DefaultPort},
	func(hc *client.Client, a deviceAccess) (*apstra.Client, error) {
		return apstra.New(hc, apstra.Config{Host: a.host, Port: a.port, Username: a.username, Password: a.password, Secrets: a.secrets})
	},
}

// deviceKinds are the kinds whose blocks the provider configuration has.
var deviceKinds = []*deviceSettings{&arubaKind.deviceSettings, &iloKind.deviceSettings, &apstraKind.deviceSettings}

// deviceCredentials are the provider's credentials and port for one kind.
type deviceCredentials struct {
	username, password string
	port               int
}

// credentialsModel is a kind's block in the provider configuration.
type credentialsModel struct {
	Username types.String `tfsdk:"username"`
	Password types.String `tfsdk:"password"`
	Port     types.Int64  `tfsdk:"port"`
}

// schemaAttribute is the kind's block in the provider schema.
func (k *deviceSettings) schemaAttribute() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		MarkdownDescription: k.description + " A device resource's own `username` and `password_wo`, or a session's `username` and `password`, take precedence, field by field; data sources always use these.",
		Optional:            true,
		Attributes: map[string]schema.Attribute{
			"username": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("%s user. Defaults to `$%s`.", k.account, k.envUsername),
				Optional:            true,
			},
			"password": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("%s password. Defaults to `$%s`.", k.account, k.envPassword),
				Optional:            true,
				Sensitive:           true,
			},
			"port": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("%s. Default %d.", k.portName, k.defaultPort),
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(1, 65535)},
			},
		},
	}
}

// credentials reads the kind's block (nil when the configuration leaves it out);
// the environment variables stand in for what it leaves unset.
func (k *deviceSettings) credentials(block *credentialsModel) deviceCredentials {
	c := deviceCredentials{port: k.defaultPort}
	if block != nil {
		c.username = block.Username.ValueString()
		c.password = block.Password.ValueString()
		if !block.Port.IsNull() {
			c.port = int(block.Port.ValueInt64())
		}
	}
	c.username = orEnv(c.username, k.envUsername)
	c.password = orEnv(c.password, k.envPassword)
	return c
}

// ownCredentials are the credentials an operation's own arguments give (a
// resource's username and password_wo, a session's username and password); each
// that is "" falls back to the provider's.
type ownCredentials struct {
	username, password string
	// passwordArg and on name the argument that gives the password and where it is
	// ("password_wo", "this resource"), for the error that says what to set;
	// passwordArg is "" when the caller has no credential arguments (a data source:
	// its arguments are kept in state, where no password may go).
	passwordArg, on string
}

// checkCredentials resolves an operation's credentials, field by field its own or
// the provider's (block, then environment), and says in diags what to set when one
// is missing. host names the device in that message.
func (k *deviceSettings) checkCredentials(d *providerData, host string, own ownCredentials, diags *diag.Diagnostics) (deviceCredentials, bool) {
	c := d.credentials[k.block]
	if own.username != "" {
		c.username = own.username
	}
	if own.password != "" {
		c.password = own.password
	}
	var usernameArg, passwordArg string
	if own.passwordArg != "" {
		usernameArg = "username on " + own.on + ", "
		passwordArg = own.passwordArg + " on " + own.on + ", "
	}
	var missing []string
	if c.username == "" {
		missing = append(missing, fmt.Sprintf("no user name (set %s%s.username in the provider block, or the %s environment variable)", usernameArg, k.block, k.envUsername))
	}
	if c.password == "" {
		missing = append(missing, fmt.Sprintf("no password (set %s%s.password in the provider block, or the %s environment variable)", passwordArg, k.block, k.envPassword))
	}
	if len(missing) > 0 {
		diags.AddError(fmt.Sprintf("Missing %s credentials", k.title),
			fmt.Sprintf("The %s %s has %s.", k.label, host, strings.Join(missing, " and ")))
		return c, false
	}
	return c, true
}

// credentialAttributes are a device resource's own credentials, each falling back to
// the provider's. The password is write-only: a Create or Update reads it from the
// configuration, and it never reaches plan or state.
func (k *deviceSettings) credentialAttributes() map[string]resschema.Attribute {
	return map[string]resschema.Attribute{
		"username": resschema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("%s user for this device. Defaults to the provider's `%s.username` (or `$%s`).", k.account, k.block, k.envUsername),
			Optional:            true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"password_wo": resschema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("%s password for this device, for fleets whose devices do not share one. Defaults to the provider's `%s.password` (or `$%s`). "+
				"Write-only: never stored in state or plan; give it from an ephemeral or sensitive source (a secret store, an ephemeral variable).", k.account, k.block, k.envPassword),
			Optional:   true,
			WriteOnly:  true,
			Sensitive:  true,
			Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"password_wo_version": resschema.Int64Attribute{
			MarkdownDescription: "Bump to record that `password_wo` changed (write-only values are not compared between runs). Changing it alone contacts no device.",
			Optional:            true,
		},
	}
}

// targetAttributes are the host and port of a resource that acts on one device of
// the kind, and its own credentials; host describes the host. Changing the host or
// the port replaces the resource; the credentials are only recorded.
func (k *deviceSettings) targetAttributes(host string) map[string]resschema.Attribute {
	return withAttributes(k.credentialAttributes(), map[string]resschema.Attribute{
		"host": resschema.StringAttribute{
			MarkdownDescription: host,
			Required:            true,
			Validators:          []validator.String{hostValidator()},
			PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"port": resschema.Int64Attribute{
			MarkdownDescription: fmt.Sprintf("%s. Defaults to the provider's `%s.port` (%d).", k.portName, k.block, k.defaultPort),
			Optional:            true,
			Validators:          []validator.Int64{int64validator.Between(1, 65535)},
			PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
		},
	})
}

// port is the port a resource names, or the provider's port for the kind.
func (k *deviceSettings) port(d *providerData, port types.Int64) int {
	if !port.IsNull() && !port.IsUnknown() {
		return int(port.ValueInt64())
	}
	return d.credentials[k.block].port
}
