package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/ephemeral/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// A session ephemeral resource opens a session on one device and hands its tokens
// to the rest of the configuration (another provider's settings, write-only
// arguments), for direct API access: the tokens never reach plan or state. One
// generic implementation serves every device kind; a sessionSpec says what differs.
// Open logs in through start (credentials, log masking, client), Renew keeps the
// session alive while Terraform still uses it, Close logs it out.
//
// The open session stays in the provider process (liveSessions): Terraform keeps only
// a random handle in the resource's private data, so the tokens leave the process
// only in the result, and Renew and Close use the very client that logged in.

// sessionSpec is what a device kind's session resource adds to the generic one.
type sessionSpec[C deviceClient] struct {
	kind     *deviceKind[C]
	typeName string // after the provider's name: "ilo_session"
	// description says what the session is for and how to use its tokens.
	description string
	// results are the session's own computed attributes (its tokens), beside base_url.
	results map[string]schema.Attribute
	// values reads the open session of c: its base URL and its result attributes.
	// false when the client holds no open session.
	values func(c C) (sessionValues, bool)
	// keepAlive makes the device count the session as used, without logging in
	// again; nil when the device ends sessions at a fixed time no call extends.
	keepAlive func(ctx context.Context, c C) error
	// keepAliveDefault is the default keepalive_interval: well inside the device's
	// default idle timeout.
	keepAliveDefault time.Duration
}

// sessionValues are what an open session gives the configuration.
type sessionValues struct {
	baseURL string
	results map[string]attr.Value // by attribute name
}

// Defaults of every session resource.
const (
	defaultSessionOpenTimeout = 2 * time.Minute
	// sessionKeepAliveTimeout bounds one keepalive call.
	sessionKeepAliveTimeout = time.Minute
	sessionHandleKey        = "session"
)

// sessionResource is the ephemeral resource of one device kind's sessions.
type sessionResource[C deviceClient] struct {
	spec *sessionSpec[C]
	data *providerData
}

var (
	_ ephemeral.EphemeralResourceWithConfigure = (*sessionResource[deviceClient])(nil)
	_ ephemeral.EphemeralResourceWithRenew     = (*sessionResource[deviceClient])(nil)
	_ ephemeral.EphemeralResourceWithClose     = (*sessionResource[deviceClient])(nil)
)

// newSessionResource is the factory of spec's ephemeral resource.
func newSessionResource[C deviceClient](spec *sessionSpec[C]) func() ephemeral.EphemeralResource {
	return func() ephemeral.EphemeralResource { return &sessionResource[C]{spec: spec} }
}

func (r *sessionResource[C]) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.spec.typeName
}

func (r *sessionResource[C]) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *sessionResource[C]) Schema(ctx context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	k := r.spec.kind
	attrs := map[string]schema.Attribute{
		"host": schema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("Host name or IP address of the %s.", k.label),
			Required:            true,
			Validators:          []validator.String{hostValidator()},
		},
		"port": schema.Int64Attribute{
			MarkdownDescription: fmt.Sprintf("%s. Defaults to the provider's `%s.port` (%d).", k.portName, k.block, k.defaultPort),
			Optional:            true,
			Validators:          []validator.Int64{int64validator.Between(1, 65535)},
		},
		"username": schema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("%s user the session logs in as. Defaults to the provider's `%s.username` (or `$%s`).", k.account, k.block, k.envUsername),
			Optional:            true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"password": schema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("%s password. Defaults to the provider's `%s.password` (or `$%s`). An ephemeral resource's arguments are never stored, so this is an ordinary sensitive argument.", k.account, k.block, k.envPassword),
			Optional:            true,
			Sensitive:           true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"base_url": schema.StringAttribute{
			MarkdownDescription: "The device's API base, `https://<host>:<port>`.",
			Computed:            true,
		},
		"timeouts": timeouts.AttributesWithOpts(ctx, timeouts.Opts{
			OpenDescription: "How long logging in may take. Default `2m`."}),
	}
	if r.spec.keepAlive != nil {
		attrs["keepalive_interval"] = schema.StringAttribute{
			MarkdownDescription: fmt.Sprintf("How often, while Terraform still uses the session, one cheap call keeps it from reaching the %s's idle timeout, "+
				"as a Go duration. Default `%s`; set it below the device's session timeout when that is shorter.", k.label, strings.TrimSuffix(r.spec.keepAliveDefault.String(), "0s")),
			Optional:   true,
			Validators: []validator.String{durationBetween(10*time.Second, 12*time.Hour)},
		}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: r.spec.description + "\n\n" +
			"The session is opened when Terraform opens the resource (in every plan and apply that uses it), and logged out when " +
			"Terraform closes it, at the end of that run, also when the run fails. Its values are ephemeral: use them in another " +
			"provider's configuration or in write-only arguments; they are never written to plan or state. Opening and logging " +
			"out do not wait for backups of the same device (they change nothing on it).",
		Attributes: withAttributes(attrs, r.spec.results),
	}
}

func (r *sessionResource[C]) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	// The result attributes differ between kinds: the arguments are read one by one.
	var host, username, password, interval types.String
	var port types.Int64
	var t timeouts.Value
	for name, target := range map[string]any{"host": &host, "port": &port, "username": &username, "password": &password, "timeouts": &t} {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(name), target)...)
	}
	every := r.spec.keepAliveDefault
	if r.spec.keepAlive != nil {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("keepalive_interval"), &interval)...)
		every, _ = parseDurationOr(interval, every) // checked by its validator
	}
	limit, diags := t.Open(ctx, defaultSessionOpenTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	ctx, op, diags := r.spec.kind.start(ctx, r.data, opSpec{
		host: host.ValueString(), port: port, timeout: deadline{"open", limit}, unlocked: true,
		own: ownCredentials{username: username.ValueString(), password: password.ValueString(), passwordArg: "password", on: "this session"},
	})
	resp.Diagnostics.Append(diags...)
	if op == nil {
		return
	}
	defer op.end()
	device := op.client.Device()
	s := op.client.Session()
	if err := s.Open(ctx); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Opening a session on %s failed", device), op.explain(ctx, err))
		return
	}
	v, ok := r.spec.values(op.client)
	if !ok {
		closeQuietly(ctx, s)
		resp.Diagnostics.AddError(fmt.Sprintf("Opening a session on %s failed", device),
			"The login succeeded but the client holds no session afterwards: this is a bug in the provider. The session was logged out.")
		return
	}
	live := &liveSession{device: device, session: s, secrets: client.SecretsFrom(ctx), every: every}
	if r.spec.keepAlive != nil {
		c := op.client
		live.keepAlive = func(ctx context.Context) error { return r.spec.keepAlive(ctx, c) }
	}
	handle, err := r.data.sessions.add(live)
	if err != nil {
		closeQuietly(ctx, s)
		resp.Diagnostics.AddError(fmt.Sprintf("Opening a session on %s failed", device), err.Error()+" The session was logged out.")
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, sessionHandleKey, handle)...)
	resp.Diagnostics.Append(resp.Result.SetAttribute(ctx, path.Root("base_url"), v.baseURL)...)
	for name, value := range v.results {
		resp.Diagnostics.Append(resp.Result.SetAttribute(ctx, path.Root(name), value)...)
	}
	if resp.Diagnostics.HasError() {
		r.data.sessions.take(handle)
		closeQuietly(ctx, s)
		return
	}
	if live.keepAlive != nil {
		resp.RenewAt = time.Now().Add(every)
	}
}

func (r *sessionResource[C]) Renew(ctx context.Context, req ephemeral.RenewRequest, resp *ephemeral.RenewResponse) {
	live, handle := r.find(ctx, req.Private, &resp.Diagnostics)
	if live == nil {
		if len(handle) > 0 {
			resp.Diagnostics.AddError("Session not found",
				"Terraform asked to keep a session alive that this provider process does not hold (it was opened by another "+
					"process, or already closed): its values can no longer be relied on. Run Terraform again.")
		}
		return
	}
	if live.keepAlive == nil {
		return
	}
	ctx, cancel := context.WithTimeout(live.context(ctx), sessionKeepAliveTimeout)
	defer cancel()
	if err := live.keepAlive(ctx); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Keeping the session on %s alive failed", live.device),
			operationError(ctx, err)+"\n\nThe session's values that this run handed to other configuration may no longer be valid: "+
				"the device may have ended the session (an administrator, a reboot, a session timeout shorter than keepalive_interval). "+
				"A new session is opened on the next run.")
		return
	}
	resp.RenewAt = time.Now().Add(live.every)
}

func (r *sessionResource[C]) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	live, handle := r.find(ctx, req.Private, &resp.Diagnostics)
	if live == nil {
		return
	}
	r.data.sessions.take(handle)
	if err := live.session.Close(live.context(ctx)); err != nil {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Logging out the session on %s failed", live.device),
			operationError(live.context(ctx), err)+"\n\nThe device keeps the session open until its idle timeout, and it counts "+
				"against the device's session limit meanwhile.")
	}
}

// find returns the live session that the private data names, and its handle.
func (r *sessionResource[C]) find(ctx context.Context, p privateData, diags *diag.Diagnostics) (*liveSession, []byte) {
	handle, d := p.GetKey(ctx, sessionHandleKey)
	diags.Append(d...)
	if len(handle) == 0 || r.data == nil {
		return nil, handle
	}
	return r.data.sessions.get(handle), handle
}

// closeQuietly logs out a session that could not be handed out; a failure is only
// logged (the error that made the session useless is what the user needs).
func closeQuietly(ctx context.Context, s *client.Session) {
	if err := s.Close(ctx); err != nil {
		tflog.Warn(ctx, "logging out a session that could not be handed out failed", map[string]any{"error": operationError(ctx, err)})
	}
}

// liveSession is one open session of an ephemeral resource.
type liveSession struct {
	device    string
	session   *client.Session
	secrets   *client.Secrets // the operation's: password and tokens
	keepAlive func(ctx context.Context) error
	every     time.Duration
}

// context is ctx for a later step on the session (Renew, Close): its logs mask the
// session's secrets, and its errors are scrubbed of them, as in the step that
// opened it.
func (l *liveSession) context(ctx context.Context) context.Context {
	return client.WithSecrets(logContext(ctx, l.secrets.Values()...), l.secrets)
}

// liveSessions are the sessions the provider process holds open for ephemeral
// resources, by handle. The zero value is ready to use.
type liveSessions struct {
	mu       sync.Mutex
	byHandle map[string]*liveSession
}

// add keeps s and returns its handle, as JSON for private data.
func (ls *liveSessions) add(s *liveSession) ([]byte, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("no random handle for the session: %w", err)
	}
	handle := hex.EncodeToString(b[:])
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.byHandle == nil {
		ls.byHandle = map[string]*liveSession{}
	}
	ls.byHandle[handle] = s
	return json.Marshal(handle)
}

// get returns the session of a handle (as private data holds it); nil when none.
func (ls *liveSessions) get(handle []byte) *liveSession {
	var h string
	if json.Unmarshal(handle, &h) != nil {
		return nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.byHandle[h]
}

// take forgets the session of a handle.
func (ls *liveSessions) take(handle []byte) {
	var h string
	if json.Unmarshal(handle, &h) != nil {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.byHandle, h)
}
