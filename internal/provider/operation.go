package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupjob"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// Every operation on a device, whatever its kind and resource, starts through
// start (startCreate for a Create), which takes the same steps in the same order:
//
//  1. ctx is bounded by the operation's timeout;
//  2. the credentials are resolved, field by field the operation's own (a
//     resource's username and write-only password_wo, read from the configuration,
//     never from state) or the provider's, and checked (a backup without them is
//     recorded as failed in the store, as every failed backup is:
//     backupjob.RecordFailure);
//  3. the backup store is opened when the operation uses it (a bucket is checked
//     before the first backup of the provider process), so that a store that
//     cannot work fails before any device is contacted;
//  4. ctx masks every secret the operation knows in logs (the kind's password and
//     the operation's write-only arguments), and carries them as the operation's
//     client.Secrets, with which operationError scrubs errors before they become
//     diagnostics;
//  5. the kind's client is built with those secrets;
//  6. the device's lock is taken, so that operations on one device run one at a
//     time (see keyedMutex), unless the operation changes nothing on the device.
//
// The caller then runs its job with the returned context and op.client (or one
// session of calls with op.inSession), reports errors with op.explain, and ends the
// operation with op.end.

// storeUse says what an operation needs of the backup store.
type storeUse int

const (
	noStore        storeUse = iota // the operation does not use the store
	needStore                      // it writes a backup to the store: without one it fails
	storeIfPresent                 // it checks against the local store when backup_dir is set
	readStore                      // it reads a backup from the store: without one it fails
)

// deadline is the timeout an operation runs under: which of its resource's
// timeouts (create, read, update, delete), and how long it is.
type deadline struct {
	which string
	limit time.Duration
}

// explain is the text of an operation's error for a diagnostic: scrubbed of every
// secret the operation knows, and, when the operation's own deadline has passed,
// saying which timeout to raise.
func (t deadline) explain(ctx context.Context, err error) string {
	return deadlineAware(ctx, err, t.which, t.limit)
}

// opSpec is what differs between operations on a device.
type opSpec struct {
	host    string
	port    types.Int64 // null: the provider's port for the kind
	timeout deadline
	store   storeUse
	// secrets are what the operation sends besides the kind's password (write-only
	// arguments such as a backup password).
	secrets []string
	// name is the device's folder when the resource names it, for a failure record.
	name string
	// own are the operation's own credentials (zero: the provider's).
	own ownCredentials
	// unlocked operations change nothing on the device (a session handed to other
	// tools: its login, keepalive and logout), so they do not wait for a backup of
	// the device to end.
	unlocked bool
}

// deviceOp is one operation on one device, started by start.
type deviceOp[C deviceClient] struct {
	client C
	store  *backupstore.Store // nil unless the operation uses the store
	host   string
	port   int
	deadline
	end func() // releases the device and the operation's deadline
}

// start begins an operation on one device of kind k. It returns nil, and says why in
// the diagnostics, when the operation cannot start.
func (k *deviceKind[C]) start(ctx context.Context, d *providerData, s opSpec) (context.Context, *deviceOp[C], diag.Diagnostics) {
	var diags diag.Diagnostics
	cancel := context.CancelFunc(func() {})
	if s.timeout.limit > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout.limit)
	}
	fail := func() (context.Context, *deviceOp[C], diag.Diagnostics) {
		cancel()
		return ctx, nil, diags
	}
	creds, ok := k.checkCredentials(d, s.host, s.own, &diags)
	if !ok {
		if s.store == needStore {
			k.recordNoStart(ctx, d, s, "check credentials", &diags)
		}
		return fail()
	}
	op := &deviceOp[C]{host: s.host, port: k.port(d, s.port), deadline: s.timeout}
	switch {
	case s.store == needStore:
		store, err := d.storeForBackup(ctx)
		if err != nil {
			diags.AddError("Backup store unavailable", err.Error()+"\n\nNo device was contacted.")
			return fail()
		}
		op.store = store
	case s.store == storeIfPresent && d.backupDir != "":
		store, err := d.Store()
		if err != nil {
			diags.AddError("Local backup store unavailable", err.Error()+
				"\n\nThis operation checks its input against the store's records before it sends anything; nothing was sent.")
			return fail()
		}
		op.store = store
	case s.store == readStore:
		store, err := d.Store()
		if err != nil {
			diags.AddError("Backup store unavailable", err.Error()+"\n\nThe backup is read from the backup store; nothing was sent.")
			return fail()
		}
		op.store = store
	}
	ctx = logContext(ctx, append([]string{creds.password}, s.secrets...)...)
	c, err := k.newClient(d.http, deviceAccess{host: op.host, port: op.port, username: creds.username, password: creds.password,
		secrets: client.SecretsFrom(ctx)})
	if err != nil {
		diags.AddError(fmt.Sprintf("Invalid %s settings", k.label), operationError(ctx, err))
		return fail()
	}
	op.client = c
	unlock := func() {}
	if !s.unlocked {
		unlock = d.deviceLock.Lock(op.host, op.port)
	}
	op.end = func() {
		unlock()
		cancel()
	}
	return ctx, op, diags
}

// target is the device a backup job records, timed by the provider's clock.
func (op *deviceOp[C]) target(d *providerData) backupjob.Target {
	return backupjob.Target{Host: op.host, Port: op.port, Now: d.now, Devices: &d.store.devices}
}

// recordNoStart records in the store that a backup failed at step before any device
// was contacted, for the reason diags gives; a store that cannot be used has no
// room for the record (its own error says why).
func (k *deviceKind[C]) recordNoStart(ctx context.Context, d *providerData, s opSpec, step string, diags *diag.Diagnostics) {
	store, err := d.storeForBackup(ctx)
	if err != nil {
		return
	}
	var why []string
	for _, e := range diags.Errors() {
		why = append(why, e.Summary()+": "+e.Detail())
	}
	at := backupjob.Target{Host: s.host, Port: k.port(d, s.port), Now: d.now, Devices: &d.store.devices}
	cause := &backupjob.StepError{Step: step, Err: errors.New(strings.Join(why, "; "))}
	if err := backupjob.RecordFailure(ctx, store, k.family, s.name, at, d.now().UTC(), cause); err != nil {
		addUnrecordedWarning(ctx, diags, err)
	}
}

// addUnrecordedWarning says that a failed backup left no failure record, so the
// fleet's report (infrabackup_backups) does not show this attempt.
func addUnrecordedWarning(ctx context.Context, diags *diag.Diagnostics, err error) {
	diags.AddWarning("Failure not recorded in the backup store", operationError(ctx, err)+
		"\n\nThe backup failed (see the error); its failure record could not be written either, so infrabackup_backups "+
		"still reports the device's previous attempt. Check the backup store.")
}

// inSession runs fn in one session with the device (always logged out). The error
// is scrubbed of every secret the operation knows: it becomes a diagnostic.
func (op *deviceOp[C]) inSession(ctx context.Context, fn func(ctx context.Context, c C) error) error {
	err := client.With(ctx, op.client.Session(), func(ctx context.Context) error { return fn(ctx, op.client) })
	return client.SecretsFrom(ctx).ScrubError(err)
}

// stored reports how a backup ended: its error, or, for a backup that was stored, a
// logout that failed afterwards, as a warning. what names the backup ("Backup of
// iLO x"). It returns whether the backup was stored.
func (op *deviceOp[C]) stored(ctx context.Context, diags *diag.Diagnostics, what string, err, logoutFailed error) bool {
	if err != nil {
		diags.AddError(what+" failed", op.explain(ctx, err))
		var nr *backupjob.FailureNotRecorded
		if errors.As(err, &nr) {
			addUnrecordedWarning(ctx, diags, nr.Record)
		}
		return false
	}
	if logoutFailed != nil {
		addLogoutWarning(ctx, diags, what+" stored, but logging out failed", logoutFailed)
	}
	return true
}

// deviceModel is the model of a resource that acts on one device: it embeds
// deviceTargetModel.
type deviceModel interface {
	target() deviceTargetModel
}

// deviceTargetModel is the device a resource acts on and its own credentials
// (targetAttributes), and the resource's timeouts; every resource on a device
// embeds it. PasswordWO is always null here (write-only: never in plan or state);
// ownCredentials reads it from the configuration.
type deviceTargetModel struct {
	Host              types.String   `tfsdk:"host"`
	Port              types.Int64    `tfsdk:"port"`
	Username          types.String   `tfsdk:"username"`
	PasswordWO        types.String   `tfsdk:"password_wo"`
	PasswordWOVersion types.Int64    `tfsdk:"password_wo_version"`
	Timeouts          timeouts.Value `tfsdk:"timeouts"`
}

func (m deviceTargetModel) target() deviceTargetModel { return m }

// ownCredentials are the resource's own credentials: its username, and password_wo
// from config (write-only values are only in the configuration, and only in a
// Create or Update).
func (m deviceTargetModel) ownCredentials(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) ownCredentials {
	var password types.String
	diags.Append(config.GetAttribute(ctx, path.Root("password_wo"), &password)...)
	return ownCredentials{username: m.Username.ValueString(), password: password.ValueString(), passwordArg: "password_wo", on: "this resource"}
}

// writeOnlyArg is a write-only argument a Create reads from the configuration (it is
// never in the plan) into value.
type writeOnlyArg struct {
	at    path.Path
	value *types.String
}

// startCreate is start for a Create: it reads the plan into plan and the write-only
// arguments from the configuration, and bounds the operation by the resource's
// create timeout (def when unset). It returns nil when the operation cannot start,
// having said why in resp.
func (k *deviceKind[C]) startCreate(ctx context.Context, d *providerData, req resource.CreateRequest, resp *resource.CreateResponse,
	plan deviceModel, def time.Duration, store storeUse, writeOnly ...writeOnlyArg) (context.Context, *deviceOp[C]) {
	resp.Diagnostics.Append(req.Plan.Get(ctx, plan)...)
	target := plan.target()
	own := target.ownCredentials(ctx, req.Config, &resp.Diagnostics)
	secrets := make([]string, 0, len(writeOnly))
	for _, w := range writeOnly {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, w.at, w.value)...)
		secrets = append(secrets, w.value.ValueString())
	}
	if resp.Diagnostics.HasError() || d == nil {
		return ctx, nil
	}
	limit, diags := target.Timeouts.Create(ctx, def)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return ctx, nil
	}
	var name types.String // the resource's folder name, where it has one, for a failure record
	_ = req.Plan.GetAttribute(ctx, path.Root("name"), &name)
	ctx, op, diags := k.start(ctx, d, opSpec{host: target.Host.ValueString(), port: target.Port, timeout: deadline{"create", limit}, store: store, secrets: secrets,
		name: name.ValueString(), own: own})
	resp.Diagnostics.Append(diags...)
	return ctx, op
}
