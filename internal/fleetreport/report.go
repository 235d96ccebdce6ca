// Package fleetreport turns what the backup store knows of every device
// (backupstore.Fleet) into the weekly report: per device whether it is stale (no
// backup within max_age) or failed (its last attempt failed), fleet totals, a
// Markdown table for a CI job summary or a chat message, and a JUnit XML report with
// one test case per device for CI systems.
//
// Device text (failure messages, problems) is hostile input: everything shown
// passes backupstore.SafeText again (secrets masked, control characters gone, length
// capped), then the escaping of its format. The package has no Terraform types.
package fleetreport

import (
	"fmt"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// Status sums a device up, the worst first: failed, then stale, then ok.
type Status string

// Statuses of a device.
const (
	StatusOK     Status = "ok"
	StatusStale  Status = "stale"
	StatusFailed Status = "failed"
)

// Device is one device of the report.
type Device struct {
	backupstore.DeviceStatus
	// Age is how long ago its latest backup completed (never negative); zero when
	// it has none.
	Age time.Duration
	// Stale: it has no backup that completed within MaxAge.
	Stale bool
	// Failed: its last attempt failed, or its records cannot be used (Problems).
	Failed bool
	Status Status
}

// Totals count the devices of a report. A device that failed and is stale counts
// in both Stale and Failed.
type Totals struct {
	Devices  int
	BackedUp int // with a backup that completed within MaxAge
	Stale    int
	Failed   int
}

// Report is the state of every backup at Now.
type Report struct {
	Now     time.Time
	MaxAge  time.Duration
	Devices []Device
	Totals  Totals
}

// New builds the report of devices (in their order) at now. A device is stale when
// it has no backup, or when its latest one completed more than maxAge before now;
// maxAge <= 0 turns the age check off (a device without any backup is still stale).
func New(devices []backupstore.DeviceStatus, maxAge time.Duration, now time.Time) Report {
	r := Report{Now: now.UTC(), MaxAge: maxAge, Devices: make([]Device, 0, len(devices))}
	for _, ds := range devices {
		d := Device{DeviceStatus: ds}
		if ds.Latest == nil {
			d.Stale = true
		} else {
			d.Age = max(now.Sub(ds.Latest.CompletedAt), 0) // a clock ahead of ours
			d.Stale = maxAge > 0 && d.Age > maxAge
		}
		switch ds.LastAttempt.Outcome {
		case backupstore.OutcomeFailed, backupstore.OutcomeUnknown:
			d.Failed = true
		}
		d.Failed = d.Failed || len(ds.Problems) > 0
		switch {
		case d.Failed:
			d.Status = StatusFailed
		case d.Stale:
			d.Status = StatusStale
		default:
			d.Status = StatusOK
		}
		r.Totals.Devices++
		if d.Stale {
			r.Totals.Stale++
		} else {
			r.Totals.BackedUp++
		}
		if d.Failed {
			r.Totals.Failed++
		}
		r.Devices = append(r.Devices, d)
	}
	return r
}

// Text limits, in bytes, of what the report shows of device text.
const (
	maxCellText   = 300  // a Markdown table cell
	maxDetailText = 2048 // a JUnit failure's body
)

// Why says in one line why the device is not ok ("" when it is): the failure
// (step and message), the store's problem, the staleness.
func (d Device) Why() string {
	var parts []string
	a := d.LastAttempt
	switch a.Outcome {
	case backupstore.OutcomeFailed:
		s := "last attempt failed"
		if a.Step != "" {
			s += " at step " + a.Step
		}
		if a.Message != "" {
			s += ": " + a.Message
		}
		parts = append(parts, s)
	case backupstore.OutcomeUnknown:
		parts = append(parts, "the record of the last attempt cannot be used")
	}
	if len(d.Problems) > 0 && a.Outcome != backupstore.OutcomeUnknown {
		parts = append(parts, "the backup store needs repair")
	}
	if d.Stale {
		if d.Latest == nil {
			parts = append(parts, "never backed up")
		} else {
			parts = append(parts, "last backup "+Age(d.Age)+" ago")
		}
	}
	return strings.Join(parts, "; ")
}

// Age formats a duration for people, to the two largest units: "3d 4h", "5h 12m",
// "12m", "<1m".
func Age(d time.Duration) string {
	if d < time.Minute {
		return "<1m"
	}
	days, hours, mins := int64(d/(24*time.Hour)), int64(d/time.Hour)%24, int64(d/time.Minute)%60
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dm", mins)
}

// stamp formats a time for the report: to the minute, in UTC.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
