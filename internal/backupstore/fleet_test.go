package backupstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

const day = 24 * time.Hour

func deviceNames(sts []DeviceStatus) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.Family+"/"+st.Device)
	}
	return out
}

// fleetOf builds a store with devices in every state Fleet tells apart, and returns
// what it wrote.
type fleetFixture struct {
	mc1      []Backup // three backups, the last attempt succeeded
	mc2      []Backup // two backups, then a failure
	mc2Fail  Failure
	ilo1Fail Failure // a failure only
	ilo2Fail Failure // a failure, then a backup
	ilo2     Backup
	ilo3     Backup // a backup, then a record that cannot be used
	ilo3Bad  string // its id
	ilo4     Backup // a backup, then a failure record that cannot be used
	ilo4Bad  string
}

func buildFleet(t *testing.T, ts *tstore) fleetFixture {
	t.Helper()
	var fx fleetFixture
	for i := range 3 {
		fx.mc1 = append(fx.mc1, commitOne(t, ts.Store, FamilyAruba, "mc1", "mc1.example.net", t0.Add(time.Duration(i)*day), []byte(fmt.Sprintf("mc1 config %d\n", i))))
	}
	for i := range 2 {
		fx.mc2 = append(fx.mc2, commitOne(t, ts.Store, FamilyAruba, "mc2", "mc2.example.net", t0.Add(time.Duration(i)*day), []byte(fmt.Sprintf("mc2 config %d\n", i))))
	}
	fx.mc2Fail = failAt(t, ts.Store, FamilyAruba, "mc2", t0.Add(2*day), "login", secretMessage)
	fx.ilo1Fail = failAt(t, ts.Store, FamilyILO, "ilo1", t0, "connect", "dial tcp 10.0.0.7:443: connection refused")
	fx.ilo2Fail = failAt(t, ts.Store, FamilyILO, "ilo2", t0, "download backup", "503 busy")
	fx.ilo2 = commitOne(t, ts.Store, FamilyILO, "ilo2", "ilo2.example.net", t0.Add(day), []byte("ilo2 backup"))
	fx.ilo3 = commitOne(t, ts.Store, FamilyILO, "ilo3", "ilo3.example.net", t0, []byte("ilo3 backup"))
	fx.ilo3Bad = formatStamp(t0.Add(day))
	ts.put(t, recordKey(FamilyILO, "ilo3", fx.ilo3Bad), []byte("not a record"))
	fx.ilo4 = commitOne(t, ts.Store, FamilyILO, "ilo4", "ilo4.example.net", t0, []byte("ilo4 backup"))
	fx.ilo4Bad = formatStamp(t0.Add(day))
	ts.put(t, failureKey(FamilyILO, "ilo4", fx.ilo4Bad), []byte(`{"format_version":1}`))
	// Not devices: a first run in progress, and a folder that is no family's.
	ts.put(t, reservationKey(FamilyAruba, "mc9", formatStamp(t0)), []byte("in progress"))
	ts.put(t, "cisco/r1/"+formatStamp(t0)+".json", []byte("{}"))
	return fx
}

func TestFleet(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		fx := buildFleet(t, ts)
		sts, err := ts.Fleet(bg, FleetFilter{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"aruba/mc1", "aruba/mc2", "ilo/ilo1", "ilo/ilo2", "ilo/ilo3", "ilo/ilo4"}
		if got := deviceNames(sts); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("Fleet lists %q, want %q", got, want)
		}
		by := map[string]DeviceStatus{}
		for _, st := range sts {
			by[st.Device] = st
		}

		mc1 := by["mc1"]
		last := fx.mc1[2]
		if mc1.Latest == nil || mc1.Latest.ID != last.ID || mc1.Backups != 3 || mc1.LastFailure != nil || len(mc1.Problems) != 0 {
			t.Errorf("mc1 = %+v, want its third backup, three backups, no failure", mc1)
		} else {
			f := mc1.Latest.Files[0]
			if f.SHA256 != hexSHA([]byte("mc1 config 2\n")) || f.StoreLocation != ts.wantLocation(last.Files[0].Key) {
				t.Errorf("mc1's latest file = %+v, want the third config's SHA-256 at %s", f, ts.wantLocation(last.Files[0].Key))
			}
		}
		if a := mc1.LastAttempt; a.Outcome != OutcomeSucceeded || a.ID != last.ID || !a.EndedAt.Equal(last.CompletedAt) || a.Step != "" {
			t.Errorf("mc1's last attempt = %+v, want the success of %s", a, last.ID)
		}
		if mc1.Host != "mc1.example.net" || mc1.Port != 443 {
			t.Errorf("mc1 host = %s:%d", mc1.Host, mc1.Port)
		}

		mc2 := by["mc2"]
		if mc2.Latest == nil || mc2.Latest.ID != fx.mc2[1].ID || mc2.LastFailure == nil || *mc2.LastFailure != fx.mc2Fail {
			t.Errorf("mc2 = %+v, want its second backup and its failure", mc2)
		}
		if a := mc2.LastAttempt; a.Outcome != OutcomeFailed || a.ID != fx.mc2Fail.ID || a.Step != "login" ||
			!strings.Contains(a.Message, "login refused") || strings.Contains(a.Message, "hunter2") {
			t.Errorf("mc2's last attempt = %+v, want the failed login, redacted", a)
		}
		if mc2.Host != "10.0.0.7" {
			t.Errorf("mc2 host = %q, want the failed attempt's", mc2.Host)
		}

		ilo1 := by["ilo1"]
		if ilo1.Latest != nil || ilo1.Backups != 0 || ilo1.LastAttempt.Outcome != OutcomeFailed || ilo1.LastAttempt.Step != "connect" || ilo1.Host != "10.0.0.7" {
			t.Errorf("ilo1 = %+v, want no backup and a failed connect", ilo1)
		}

		ilo2 := by["ilo2"]
		if ilo2.LastAttempt.Outcome != OutcomeSucceeded || ilo2.LastFailure == nil || ilo2.LastFailure.ID != fx.ilo2Fail.ID {
			t.Errorf("ilo2 = %+v, want a success after a failure, the failure still known", ilo2)
		}

		ilo3 := by["ilo3"]
		if ilo3.Latest == nil || ilo3.Latest.ID != fx.ilo3.ID || ilo3.Backups != 2 || ilo3.LastAttempt.Outcome != OutcomeUnknown || ilo3.LastAttempt.ID != fx.ilo3Bad {
			t.Errorf("ilo3 = %+v, want the older backup and an unknown last attempt", ilo3)
		}
		if len(ilo3.Problems) != 1 || !strings.Contains(ilo3.Problems[0], ts.wantLocation(recordKey(FamilyILO, "ilo3", fx.ilo3Bad))) {
			t.Errorf("ilo3 problems = %q, want one naming the unusable record", ilo3.Problems)
		}

		ilo4 := by["ilo4"]
		if ilo4.LastAttempt.Outcome != OutcomeFailed || ilo4.LastFailure == nil || ilo4.LastFailure.ID != fx.ilo4Bad || ilo4.Latest == nil {
			t.Errorf("ilo4 = %+v, want a failed last attempt known by its name, and its backup", ilo4)
		}
		if len(ilo4.Problems) != 1 || !strings.Contains(ilo4.Problems[0], "failure record") || !strings.Contains(ilo4.Problems[0], "outcome") {
			t.Errorf("ilo4 problems = %q, want one naming the failure record", ilo4.Problems)
		}

		// Status tells the same of one device.
		st, err := ts.Status(bg, FamilyAruba, "mc2")
		if err != nil || st.LastAttempt != mc2.LastAttempt || st.Latest == nil || st.Latest.ID != mc2.Latest.ID {
			t.Errorf("Status(mc2) = %+v, %v; want %+v", st, err, mc2)
		}
		st, err = ts.Status(bg, FamilyILO, "nothing-here")
		if err != nil || st.LastAttempt.Outcome != OutcomeNone || st.Latest != nil || st.Device != "nothing-here" {
			t.Errorf("Status of an unknown device = %+v, %v", st, err)
		}
	})
}

func TestFleetFilter(t *testing.T) {
	ts := openLocal(t)
	buildFleet(t, ts)
	for _, c := range []struct {
		filter FleetFilter
		want   string
	}{
		{FleetFilter{Families: []string{FamilyILO}}, "ilo/ilo1 ilo/ilo2 ilo/ilo3 ilo/ilo4"},
		{FleetFilter{Families: []string{FamilyILO, FamilyAruba, FamilyILO}}, "aruba/mc1 aruba/mc2 ilo/ilo1 ilo/ilo2 ilo/ilo3 ilo/ilo4"},
		{FleetFilter{Name: regexp.MustCompile(`^mc`)}, "aruba/mc1 aruba/mc2"},
		{FleetFilter{Families: []string{FamilyAruba}, Name: regexp.MustCompile(`2$`)}, "aruba/mc2"},
		{FleetFilter{Name: regexp.MustCompile(`^none`)}, ""},
	} {
		sts, err := ts.Fleet(bg, c.filter)
		if got := strings.Join(deviceNames(sts), " "); err != nil || got != c.want {
			t.Errorf("Fleet(%+v) = %q, %v; want %q", c.filter, got, err, c.want)
		}
	}
	if _, err := ts.Fleet(bg, FleetFilter{Families: []string{"cisco"}}); err == nil || !strings.Contains(err.Error(), "unknown device family") {
		t.Errorf("Fleet of an unknown family = %v", err)
	}
	sts, err := ts.Fleet(bg, FleetFilter{})
	if err != nil || len(sts) != 6 {
		t.Errorf("Fleet of everything = %d devices, %v", len(sts), err)
	}
	if sts, err := New(mustLocal(t, t.TempDir())).Fleet(bg, FleetFilter{}); err != nil || len(sts) != 0 {
		t.Errorf("Fleet of an empty store = %v, %v", sts, err)
	}
}

func mustLocal(t *testing.T, dir string) objstore.Store {
	t.Helper()
	l, err := objstore.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// counting counts the listings and reads a store sends to its backend.
type counting struct {
	objstore.Store
	lists, opens atomic.Int64
}

func (c *counting) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, prefix)
}

func (c *counting) Open(ctx context.Context, key string) (io.ReadCloser, objstore.ObjectInfo, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, key)
}

// Fleet lists the store once and reads two records per device, however many
// backups each has.
func TestFleetReadsOnlyNewestRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		const devices, backups = 6, 5
		for d := range devices {
			name := fmt.Sprintf("dev%d", d)
			failAt(t, ts.Store, FamilyILO, name, t0.Add(-day), "login", "old failure")
			for b := range backups {
				commitOne(t, ts.Store, FamilyILO, name, name, t0.Add(time.Duration(b)*time.Hour), []byte(name))
			}
		}
		c := &counting{Store: ts.Objects()}
		s := New(c)
		sts, err := s.Fleet(bg, FleetFilter{})
		if err != nil || len(sts) != devices {
			t.Fatalf("Fleet = %d devices, %v", len(sts), err)
		}
		for _, st := range sts {
			if st.Backups != backups || st.LastAttempt.Outcome != OutcomeSucceeded || st.LastFailure == nil {
				t.Errorf("%s = %+v", st.Device, st)
			}
		}
		if l, o := c.lists.Load(), c.opens.Load(); l != 1 || o != 2*devices {
			t.Errorf("Fleet sent %d listings and %d reads; want 1 and %d", l, o, 2*devices)
		}
		c.lists.Store(0)
		c.opens.Store(0)
		if _, err := s.Fleet(bg, FleetFilter{Families: []string{FamilyILO, FamilyAruba}}); err != nil {
			t.Fatal(err)
		}
		if l, o := c.lists.Load(), c.opens.Load(); l != 2 || o != 2*devices {
			t.Errorf("Fleet of two families sent %d listings and %d reads; want 2 and %d", l, o, 2*devices)
		}
	})
}

// When the store stops answering, Fleet fails: a report half made of errors would
// read as a fleet of failed devices.
func TestFleetStoreDown(t *testing.T) {
	ts, proxy := proxied(t, func(c *objstore.S3Config) { c.MaxAttempts = 1 })
	commitOne(t, ts.Store, FamilyILO, "ilo1", "ilo1", t0, []byte("x"))
	proxy.SetRule(func(r *s3test.Request) s3test.Action {
		if r.Op == "GetObject" {
			return s3test.SlowDown
		}
		return s3test.Pass
	})
	sts, err := ts.Fleet(bg, FleetFilter{})
	if err == nil || !strings.Contains(err.Error(), "SlowDown") || !strings.Contains(err.Error(), "ilo1") {
		t.Errorf("Fleet with a failing server = %+v, %v; want an error naming the device and the server's answer", sts, err)
	}
	proxy.SetRule(nil)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := ts.Fleet(ctx, FleetFilter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Fleet with an ended context = %v, want context.Canceled", err)
	}
}

// failAddress records a failure of the device at host:443 under folder, as a
// failure before the device said who it is is recorded under its host.
func failAddress(t *testing.T, s *Store, folder, host string, started time.Time, step string) {
	t.Helper()
	if _, err := s.RecordFailure(bg, FamilyILO, folder, Failure{Host: host, Port: 443, StartedAt: started,
		FailedAt: started.Add(time.Second), Step: step, Message: step + " refused"}); err != nil {
		t.Fatal(err)
	}
}

// A new iLO whose first login failed is recorded under its host; once it is backed
// up under its serial, the host's folder is that iLO's earlier attempt: one device,
// whose last attempt is whichever is newer. A folder of failures at an address
// where nothing was backed up stays a device of its own.
func TestFleetFoldsFailuresRecordedUnderTheAddress(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		failAddress(t, ts.Store, "10.0.0.9", "10.0.0.9", t0, "log in")
		b := commitOne(t, ts.Store, FamilyILO, "SN123", "10.0.0.9", t0.Add(time.Hour), []byte("backup"))
		failAddress(t, ts.Store, "10.0.0.10", "10.0.0.10", t0, "log in")
		sts, err := ts.Fleet(bg, FleetFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deviceNames(sts), " "); got != "ilo/10.0.0.10 ilo/SN123" {
			t.Fatalf("Fleet reports %q, want the unreachable address and the iLO backed up since", got)
		}
		if st := sts[1]; st.LastAttempt.Outcome != OutcomeSucceeded || st.Latest == nil || st.Latest.ID != b.ID || st.LastFailure != nil {
			t.Errorf("SN123 = %+v; want its backup as its last attempt, the older failure superseded", st)
		}
		if st := sts[0]; st.LastAttempt.Outcome != OutcomeFailed || st.LastAttempt.Step != "log in" {
			t.Errorf("10.0.0.10 = %+v; want its failure", st)
		}

		// A newer failure at the address, recorded under the host again (a store
		// that could not be read when it failed): it is SN123's last attempt.
		failAddress(t, ts.Store, "10.0.0.9", "10.0.0.9", t0.Add(2*time.Hour), "download the backup")
		sts, err = ts.Fleet(bg, FleetFilter{Families: []string{FamilyILO}})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deviceNames(sts), " "); got != "ilo/10.0.0.10 ilo/SN123" {
			t.Fatalf("Fleet reports %q after the new failure", got)
		}
		st := sts[1]
		if st.LastAttempt.Outcome != OutcomeFailed || st.LastAttempt.Step != "download the backup" || st.Latest == nil || st.Latest.ID != b.ID ||
			st.LastFailure == nil || st.LastFailure.Step != "download the backup" {
			t.Errorf("SN123 = %+v; want the newer failure as its last attempt, its backup still the latest", st)
		}

		// A filter by name tells the same of the device.
		for _, filter := range []FleetFilter{{Names: []string{"SN123"}}, {Name: regexp.MustCompile(`^SN`)}} {
			sts, err = ts.Fleet(bg, filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) != 1 || sts[0].Device != "SN123" || sts[0].LastAttempt.Outcome != OutcomeFailed {
				t.Errorf("Fleet(%+v) = %+v; want SN123 alone, its last attempt the failure recorded under its address", filter, sts)
			}
		}

		// A folder of failures that is not named after its address is a device of
		// its own, also at an address where another device was backed up (a
		// replaced board).
		if _, err := ts.RecordFailure(bg, FamilyILO, "SN-NEW", Failure{Host: "10.0.0.9", Port: 443, StartedAt: t0.Add(3 * time.Hour),
			FailedAt: t0.Add(3 * time.Hour), Step: "log in", Message: "refused"}); err != nil {
			t.Fatal(err)
		}
		sts, err = ts.Fleet(bg, FleetFilter{})
		if got := strings.Join(deviceNames(sts), " "); err != nil || got != "ilo/10.0.0.10 ilo/SN-NEW ilo/SN123" {
			t.Errorf("Fleet reports %q, %v; want SN-NEW as a device of its own", got, err)
		}
	})
}

// Fleet keeps the devices Names lists before it reads their records.
func TestFleetNamesReadsOnlyThoseDevices(t *testing.T) {
	ts := openLocal(t)
	for d := range 5 {
		name := fmt.Sprintf("dev%d", d)
		commitOne(t, ts.Store, FamilyILO, name, name, t0, []byte(name))
	}
	c := &counting{Store: ts.Objects()}
	sts, err := New(c).Fleet(bg, FleetFilter{Names: []string{"dev1", "dev3", "absent"}})
	if got := strings.Join(deviceNames(sts), " "); err != nil || got != "ilo/dev1 ilo/dev3" {
		t.Fatalf("Fleet(names) = %q, %v", got, err)
	}
	if o := c.opens.Load(); o != 2 {
		t.Errorf("Fleet(names) read %d records; want 2, the named devices' only", o)
	}
}

// What Problems says of a record that cannot be used comes from the record, which
// anybody with write access to the store may have written: it is made safe as a
// failure message is (no control or format characters, secrets masked, whole
// characters).
func TestFleetProblemsAreSafeText(t *testing.T) {
	ts := openLocal(t)
	commitOne(t, ts.Store, FamilyILO, "ilo1", "ilo1", t0, []byte("backup"))
	evil := "ilo\u202e\x1b[31m password=hunter2 " + strings.Repeat("é", 60)
	id := formatStamp(t0.Add(day))
	record, err := json.Marshal(map[string]any{"format_version": FormatVersion, "outcome": outcomeFailed, "family": evil, "device": "ilo1", "id": id,
		"failed_at": t0.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	ts.put(t, failureKey(FamilyILO, "ilo1", id), record)
	sts, err := ts.Fleet(bg, FleetFilter{})
	if err != nil || len(sts) != 1 || len(sts[0].Problems) == 0 {
		t.Fatalf("Fleet = %+v, %v; want ilo1 with a problem", sts, err)
	}
	for _, p := range sts[0].Problems {
		if strings.ContainsAny(p, "\u202e\x1b") || strings.Contains(p, "hunter2") || !utf8.ValidString(p) {
			t.Errorf("problem %q holds a control character, a secret or a cut character", p)
		}
	}
}
