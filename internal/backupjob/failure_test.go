package backupjob

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client/redfish"
	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit/fixture"
)

// wrongPasswordClient is a client of the fixture's iLO that logs in with password.
func (f *iloFixture) clientWithPassword(t *testing.T, password string) *redfish.Client {
	t.Helper()
	hc, err := client.New(client.Config{CACertPEM: string(testkit.CA(t).CertPEM), RetryMax: 0})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := redfish.New(hc, redfish.Config{Host: f.Server.Host, Port: f.Server.Port, Username: fixture.ILOUsername, Password: password,
		Secrets: client.NewSecrets(password)})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// A login that fails (a wrong password) is recorded once, beside the device's
// backups (found by its address: the iLO never said its serial), naming the step
// and what the iLO said, without the password; the store's report of the device
// says its last attempt failed, and its latest backup is still the earlier one.
func TestRunILOFailureRecordedBesideTheBackups(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-rec"})
	devices := &DeviceIndex{}
	ok, err := RunILO(t.Context(), f.Store, ILORequest{ILO: f.Client, Target: Target{Host: f.Server.Host, Port: f.Server.Port, Devices: devices}})
	if err != nil {
		t.Fatal(err)
	}
	// A new process: the index has not seen the backup.
	devices = &DeviceIndex{}
	const wrong = "Wr0ng-Pa55word!"
	ctx := client.WithSecrets(t.Context(), client.NewSecrets(wrong))
	_, err = RunILO(ctx, f.Store, ILORequest{ILO: f.clientWithPassword(t, wrong),
		Target: Target{Host: f.Server.Host, Port: f.Server.Port, Devices: devices}})
	if err == nil {
		t.Fatal("a login with a wrong password succeeded")
	}
	var nr *FailureNotRecorded
	if errors.As(err, &nr) {
		t.Fatalf("the failure was not recorded: %v", nr.Record)
	}
	if Step(err) != "log in" {
		t.Errorf("Step(err) = %q, want %q (err: %v)", Step(err), "log in", err)
	}
	st, serr := f.Store.Status(t.Context(), backupstore.FamilyILO, f.Server.ILO.Serial())
	if serr != nil {
		t.Fatal(serr)
	}
	a := st.LastAttempt
	if a.Outcome != backupstore.OutcomeFailed || a.Step != "log in" || !strings.Contains(a.Message, "log in failed") {
		t.Errorf("last attempt %+v, want a failure at step log in with the iLO's answer", a)
	}
	if st.Latest == nil || st.Latest.ID != ok.Backup.ID || st.Host != f.Server.Host || st.Port != f.Server.Port {
		t.Errorf("status %+v: want the earlier backup as latest, and the device's address", st)
	}
	var records []string
	for _, p := range filesUnder(t, f.Root) {
		data, rerr := os.ReadFile(p)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if strings.Contains(string(data), wrong) || strings.Contains(string(data), fixture.ILOPassword) {
			t.Errorf("%s holds a password", p)
		}
		if strings.HasSuffix(p, ".failed.json") {
			records = append(records, p)
		}
	}
	if len(records) != 1 {
		t.Errorf("want exactly one failure record, got %v", records)
	}
}

// Without an index (or an address the store does not know), a failure before the
// device named itself lands under the host made a name.
func TestRunILOFailureOfUnknownDeviceRecordedUnderTheHost(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-new"})
	_, err := RunILO(t.Context(), f.Store, ILORequest{ILO: f.clientWithPassword(t, "nope-nope"),
		Target: Target{Host: f.Server.Host, Port: f.Server.Port, Devices: &DeviceIndex{}}})
	if err == nil {
		t.Fatal("a login with a wrong password succeeded")
	}
	name, _ := backupstore.SanitizeName(f.Server.Host)
	st, serr := f.Store.Status(t.Context(), backupstore.FamilyILO, name)
	if serr != nil || st.LastAttempt.Outcome != backupstore.OutcomeFailed || st.LastAttempt.Step != "log in" {
		t.Fatalf("status of %q: %+v, %v; want a failure at log in", name, st, serr)
	}
}

// The record's text is scrubbed of every secret the operation's context carries,
// also ones the device client did not know, and names the step the error carries.
func TestRecordFailureScrubsTheOperationsSecrets(t *testing.T) {
	store, err := backupstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Scp-Secr3t-42"
	ctx := client.WithSecrets(t.Context(), client.NewSecrets(secret))
	cause := &StepError{Step: "push " + secret, Err: errors.New("the server said: bad password " + secret)}
	at := Target{Host: "mc1.example.net", Port: 4343, Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}
	if err := RecordFailure(ctx, store, backupstore.FamilyAruba, "mc1", at, at.now(), cause); err != nil {
		t.Fatal(err)
	}
	st, err := store.Status(t.Context(), backupstore.FamilyAruba, "mc1")
	if err != nil {
		t.Fatal(err)
	}
	a := st.LastAttempt
	if a.Outcome != backupstore.OutcomeFailed || strings.Contains(a.Step+a.Message, secret) ||
		!strings.HasPrefix(a.Step, "push ") || !strings.Contains(a.Message, "the server said") || !a.EndedAt.Equal(at.now()) {
		t.Errorf("recorded %+v", a)
	}
}

// When the failure record cannot be written, the backup's own error stays the
// error (same text, same chain), and the record's failure rides along for a warning.
func TestRunILOUnrecordedFailureKeepsTheError(t *testing.T) {
	f := newILOFixture(t, ilosim.Config{Name: "ilo-blocked"})
	// The device's folder is a file: nothing can be written under it.
	if err := os.MkdirAll(filepath.Join(f.Root, "ilo"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.Root, "ilo", "blocked"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := RunILO(t.Context(), f.Store, ILORequest{ILO: f.clientWithPassword(t, "nope-nope"), Name: "blocked",
		Target: Target{Host: f.Server.Host, Port: f.Server.Port}})
	var nr *FailureNotRecorded
	var de *client.DeviceError
	if !errors.As(err, &nr) || nr.Record == nil || !errors.As(err, &de) || de.Step != "log in" || err.Error() != nr.Err.Error() {
		t.Fatalf("err = %v (%T); want the login's DeviceError inside a FailureNotRecorded", err, err)
	}
	t.Logf("record error: %v", nr.Record)
}

func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A failure joined with its cleanup's is recorded at the failure's step.
func TestStepOfJoinedErrors(t *testing.T) {
	fetch := &client.DeviceError{Device: "d", Step: "fetch /x", Err: context.Canceled}
	remove := &client.DeviceError{Device: "d", Step: "remove /x", Message: "refused"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.Join(fetch, remove), "fetch /x"},
		{errors.Join(nil, remove), "remove /x"},
		{fmt.Errorf("wrapped: %w", errors.Join(errors.New("plain"), remove)), "remove /x"},
		{errors.Join(errors.New("plain")), ""},
	} {
		if got := Step(tc.err); got != tc.want {
			t.Errorf("Step(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
