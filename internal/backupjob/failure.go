package backupjob

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// StepError is the error of a backup step that is not a device's (a
// client.DeviceError names its own step): the store, a name check, the provider's
// checks before a backup. Its text is Err's.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Step is the step err says failed: that of the outermost client.DeviceError or
// StepError in its chain, "" when there is none. Of joined errors (a failure and
// its cleanup's), the first that names a step names it.
func Step(err error) string {
	for err != nil {
		switch e := err.(type) {
		case *client.DeviceError:
			return e.Step
		case *StepError:
			return e.Step
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				if step := Step(err); step != "" {
					return step
				}
			}
			return ""
		}
		err = errors.Unwrap(err)
	}
	return ""
}

// inStep is err with step as its step when it names none itself.
func inStep(step string, err error) error {
	if err == nil || Step(err) != "" {
		return err
	}
	return &StepError{Step: step, Err: err}
}

// FailureNotRecorded is the error of a failed backup whose failure record could not
// be written either: its text is the backup's error (which it unwraps to), Record
// says why the record is missing, for a warning beside it.
type FailureNotRecorded struct {
	Err    error
	Record error
}

func (e *FailureNotRecorded) Error() string { return e.Err.Error() }
func (e *FailureNotRecorded) Unwrap() error { return e.Err }

// recordTimeout bounds the writing of a failure record: the backup's own context
// may have ended, which may be why it failed.
const recordTimeout = 30 * time.Second

// RecordFailure records in store that a backup of the device at at (of family,
// in folder name when known) failed: when it started, the step cause names
// (Step) and cause's text, scrubbed of every secret ctx carries
// (client.SecretsFrom) before the store's own SafeText. The device's folder is
// name, else the folder of the device the store knows at that address
// (at.Devices), else the host made a name: a failure before the device said who
// it is (a login) lands beside its backups. It returns why the record could not
// be written, for a warning: the backup's own error stays the error.
func RecordFailure(ctx context.Context, store *backupstore.Store, family, name string, at Target, started time.Time, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	folder := name
	if folder == "" {
		folder = at.Devices.folder(ctx, store, family, at.Host, at.Port)
	}
	if folder == "" {
		n, err := backupstore.SanitizeName(at.Host)
		if err != nil {
			return fmt.Errorf("the host %q cannot name a folder for the failure record: %w", at.Host, err)
		}
		folder = n
	}
	secrets := client.SecretsFrom(ctx)
	f, err := store.RecordFailure(ctx, family, folder, backupstore.Failure{
		Host: at.Host, Port: at.Port, StartedAt: started, FailedAt: at.now().UTC(),
		Step:    secrets.Scrub(Step(cause)),
		Message: secrets.Scrub(cause.Error()),
	})
	if err != nil {
		return err
	}
	at.Devices.note(family, at.Host, at.Port, f.Device)
	return nil
}

// DeviceIndex knows, per family, the folder of the device the store last saw at
// each address, so that a failure before a device said who it is (its serial
// number, its hostname) is recorded beside its backups. It reads the store
// (Store.Fleet, one listing per family) on the first such failure only, and learns
// from every backup and failure recorded since. Its zero value is ready; a nil
// *DeviceIndex knows nothing. One index serves one store.
type DeviceIndex struct {
	mu       sync.Mutex
	byFamily map[string]map[string]deviceSeen
}

type deviceSeen struct {
	folder string
	at     time.Time
}

func addressKey(host string, port int) string {
	return strings.ToLower(host) + "|" + strconv.Itoa(port)
}

// folder is the folder of the device of family at host:port, "" when the store
// knows none (or cannot be read: the failure is then recorded under the host).
func (x *DeviceIndex) folder(ctx context.Context, store *backupstore.Store, family, host string, port int) string {
	if x == nil {
		return ""
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	known, ok := x.byFamily[family]
	if !ok {
		devices, err := store.Fleet(ctx, backupstore.FleetFilter{Families: []string{family}})
		if err != nil {
			return ""
		}
		known = map[string]deviceSeen{}
		for _, d := range devices {
			seen := deviceSeen{folder: d.Device, at: d.LastAttempt.StartedAt}
			k := addressKey(d.Host, d.Port)
			if prev, dup := known[k]; !dup || seen.at.After(prev.at) {
				known[k] = seen
			}
		}
		if x.byFamily == nil {
			x.byFamily = map[string]map[string]deviceSeen{}
		}
		x.byFamily[family] = known
	}
	return known[addressKey(host, port)].folder
}

// note learns that the device of family at host:port is kept in folder, when the
// family's addresses are known already (else the next lookup reads them anyway).
func (x *DeviceIndex) note(family, host string, port int, folder string) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if known, ok := x.byFamily[family]; ok {
		known[addressKey(host, port)] = deviceSeen{folder: folder, at: time.Now()}
	}
}
