package fleetreport

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

var (
	now    = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	day    = 24 * time.Hour
	maxAge = 8 * day
)

// hostile is a failure message as a careless device might send it: markup, a table
// separator, XML that ends a CDATA section, a control character and a secret.
const hostile = "auth failed | <script>alert(1)</script> `x` [link](http://evil) ]]> & \"q\" \x01 @team password=hunter2\nsecond line"

func backupDone(id string, completed time.Time) *backupstore.Backup {
	return &backupstore.Backup{ID: id, CompletedAt: completed, StartedAt: completed.Add(-time.Minute),
		Files: []backupstore.File{{Kind: "config", StoreLocation: "/b/aruba/x/" + id + "-config.cfg", Size: 12, SHA256: strings.Repeat("ab", 32)}}}
}

func ok(family, device string, completed time.Time) backupstore.DeviceStatus {
	b := backupDone("20261201T100000.000Z", completed)
	return backupstore.DeviceStatus{Family: family, Device: device, Host: device + ".example.net", Port: 443, Backups: 1, Latest: b,
		LastAttempt: backupstore.Attempt{ID: b.ID, Outcome: backupstore.OutcomeSucceeded, StartedAt: b.StartedAt, EndedAt: b.CompletedAt}}
}

func failed(ds backupstore.DeviceStatus, at time.Time, step, msg string) backupstore.DeviceStatus {
	f := &backupstore.Failure{Family: ds.Family, Device: ds.Device, ID: "20261204T100000.000Z", StartedAt: at, FailedAt: at.Add(time.Second), Step: step, Message: msg}
	ds.LastFailure = f
	ds.LastAttempt = backupstore.Attempt{ID: f.ID, Outcome: backupstore.OutcomeFailed, StartedAt: at, EndedAt: f.FailedAt, Step: step, Message: msg}
	return ds
}

// fleet: fresh, stale, failed (fresh backup), failed and never backed up, and one
// whose clock runs ahead.
func fleet() []backupstore.DeviceStatus {
	never := failed(backupstore.DeviceStatus{Family: "ilo", Device: "ilo-new"}, now.Add(-2*time.Hour), "connect", "connection refused")
	never.Latest, never.Backups = nil, 0
	return []backupstore.DeviceStatus{
		ok("aruba", "mc1", now.Add(-day)),
		ok("aruba", "mc2", now.Add(-9*day)),
		failed(ok("aruba", "mc3", now.Add(-day)), now.Add(-time.Hour), "login", hostile),
		never,
		ok("ilo", "ilo-ahead", now.Add(time.Hour)),
	}
}

func TestNewStalenessAndTotals(t *testing.T) {
	r := New(fleet(), maxAge, now)
	want := []struct {
		status        Status
		stale, failed bool
		age           time.Duration
	}{
		{StatusOK, false, false, day},
		{StatusStale, true, false, 9 * day},
		{StatusFailed, false, true, day},
		{StatusFailed, true, true, 0},
		{StatusOK, false, false, 0},
	}
	for i, w := range want {
		d := r.Devices[i]
		if d.Status != w.status || d.Stale != w.stale || d.Failed != w.failed || d.Age != w.age {
			t.Errorf("%s: status %s stale %v failed %v age %v; want %s %v %v %v", d.Device, d.Status, d.Stale, d.Failed, d.Age, w.status, w.stale, w.failed, w.age)
		}
	}
	if want := (Totals{Devices: 5, BackedUp: 3, Stale: 2, Failed: 2}); r.Totals != want {
		t.Errorf("Totals = %+v, want %+v", r.Totals, want)
	}

	// Time passes: the fresh backup goes stale once it is older than max_age.
	later := New(fleet(), maxAge, now.Add(7*day+time.Minute))
	if d := later.Devices[0]; !d.Stale || d.Status != StatusStale || !strings.Contains(d.Why(), "last backup 8d ago") {
		t.Errorf("a week later, mc1 = %s (%q), want stale", d.Status, d.Why())
	}
	// Without an age limit only a device never backed up is stale.
	if r := New(fleet(), 0, now); r.Totals.Stale != 1 || !r.Devices[3].Stale {
		t.Errorf("without max_age: %+v", r.Totals)
	}
	// A record that cannot be used is a failure, whatever the last attempt did.
	broken := ok("ilo", "ilo9", now.Add(-day))
	broken.Problems = []string{"backup record /b/ilo/ilo9/x.json cannot be used: not JSON"}
	if d := New([]backupstore.DeviceStatus{broken}, maxAge, now).Devices[0]; !d.Failed || !strings.Contains(d.Why(), "needs repair") {
		t.Errorf("a device with problems = %+v (%q), want failed", d, d.Why())
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "<1m", 59 * time.Second: "<1m", 12 * time.Minute: "12m", 5*time.Hour + 12*time.Minute: "5h 12m",
		5 * time.Hour: "5h", 3*day + 4*time.Hour + 30*time.Minute: "3d 4h", 8 * day: "8d",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
}

// unescaped returns the first of chars that appears in s without a backslash
// before it, 0 when none does.
func unescaped(s, chars string) byte {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case strings.IndexByte(chars, s[i]) >= 0:
			return s[i]
		}
	}
	return 0
}

// cells splits a Markdown table row on its unescaped pipes.
func cells(row string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row):
			cur.WriteByte(row[i])
			cur.WriteByte(row[i+1])
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	out = append(out, strings.TrimSpace(cur.String()))
	return out[1 : len(out)-1] // outside the outer pipes
}

func TestMarkdown(t *testing.T) {
	md := New(fleet(), maxAge, now).Markdown()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	if lines[0] != "### Backups on 2026-12-05 10:00 UTC: 5 devices, 3 backed up within 8d, 2 stale, 2 failed" || lines[1] != "" {
		t.Errorf("heading = %q", lines[:2])
	}
	rows := lines[2:]
	if len(rows) != 2+5 {
		t.Fatalf("table has %d lines, want a header, a separator and 5 rows:\n%s", len(rows), md)
	}
	want := [][]string{
		{"Device", "Kind", "Last backup", "Age", "Status", "Last failure"},
		{"---", "---", "---", "---", "---", "---"},
		{"mc1", "aruba", "2026-12-04 10:00 UTC", "1d", "✅ ok", ""},
		{"mc2", "aruba", "2026-11-26 10:00 UTC", "9d", "⚠️ stale", ""},
		{"mc3", "aruba", "2026-12-04 10:00 UTC", "1d", "❌ failed", ""}, // last failure checked below
		{"ilo-new", "ilo", "never", "", "❌ failed, stale", "2026-12-05 08:00 UTC at step connect: connection refused"},
		{"ilo-ahead", "ilo", "2026-12-05 11:00 UTC", "<1m", "✅ ok", ""},
	}
	for i, w := range want {
		got := cells(rows[i])
		if len(got) != 6 {
			t.Fatalf("row %d has %d cells, want 6: %q", i, len(got), rows[i])
		}
		for j := range w {
			if i == 4 && j == 5 {
				continue
			}
			if got[j] != w[j] {
				t.Errorf("row %d cell %d = %q, want %q", i, j, got[j], w[j])
			}
		}
	}
	failure := cells(rows[4])[5]
	for _, bad := range []string{"hunter2", "\x01", "\n"} {
		if strings.Contains(failure, bad) {
			t.Errorf("mc3's failure cell holds %q: %s", bad, failure)
		}
	}
	if c := unescaped(failure, "<>[]`@|*_&"); c != 0 {
		t.Errorf("mc3's failure cell holds an unescaped %q: %s", c, failure)
	}
	for _, good := range []string{"at step login", `auth failed \| \<script\>`, `password=\*\*\*`, "second line"} {
		if !strings.Contains(failure, good) {
			t.Errorf("mc3's failure cell lacks %q: %s", good, failure)
		}
	}

	if got := New(nil, maxAge, now).Markdown(); !strings.Contains(got, "0 devices") || !strings.Contains(got, "No device") || strings.Contains(got, "|") {
		t.Errorf("empty report = %q", got)
	}
}

type parsedSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			ClassName string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// wellFormed reads every token of an XML document with a strict decoder.
func wellFormed(t *testing.T, doc string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("JUnit report is not well-formed XML: %v\n%s", err, doc)
		}
	}
}

func TestJUnitXML(t *testing.T) {
	doc, err := New(fleet(), maxAge, now).JUnitXML()
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, doc)
	if !strings.HasPrefix(doc, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.60s", doc)
	}
	for _, bad := range []string{"hunter2", "<script", "\x01"} {
		if strings.Contains(doc, bad) {
			t.Errorf("JUnit report holds %q", bad)
		}
	}
	var p parsedSuites
	if err := xml.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if p.Tests != 5 || p.Failures != 3 || len(p.Suites) != 2 {
		t.Fatalf("testsuites: %d tests, %d failures, %d suites; want 5, 3, 2", p.Tests, p.Failures, len(p.Suites))
	}
	type result struct{ class, typ string }
	got := map[string]result{}
	for _, s := range p.Suites {
		n := 0
		for _, c := range s.Cases {
			r := result{class: c.ClassName}
			if c.Failure != nil {
				r.typ = c.Failure.Type
				n++
			}
			got[c.Name] = r
		}
		if s.Tests != len(s.Cases) || s.Failures != n {
			t.Errorf("suite %s says %d tests, %d failures; it has %d and %d", s.Name, s.Tests, s.Failures, len(s.Cases), n)
		}
	}
	want := map[string]result{
		"mc1": {"infrabackup.aruba", ""}, "mc2": {"infrabackup.aruba", "stale"}, "mc3": {"infrabackup.aruba", "failed"},
		"ilo-new": {"infrabackup.ilo", "failed"}, "ilo-ahead": {"infrabackup.ilo", ""},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("test case %s = %+v, want %+v", name, got[name], w)
		}
	}
	mc3 := p.Suites[0].Cases[2].Failure
	// The hostile message comes back as the device said it (secret masked, control
	// character gone): escaping made it data, not markup.
	if !strings.Contains(mc3.Message, `at step login: auth failed | <script>alert(1)</script> `+"`x`"+` [link](http://evil) ]]> & "q"`) ||
		!strings.Contains(mc3.Message, "password=***") {
		t.Errorf("mc3's failure message = %q", mc3.Message)
	}
	if !strings.Contains(mc3.Text, "host: mc3.example.net:443") || !strings.Contains(mc3.Text, "sha256 "+strings.Repeat("ab", 32)) {
		t.Errorf("mc3's failure details = %q", mc3.Text)
	}
	if mc2 := p.Suites[0].Cases[1].Failure; !strings.Contains(mc2.Message, "last backup 9d ago") {
		t.Errorf("mc2's failure message = %q", mc2.Message)
	}
}

// The scenario on a real store: four devices, one whose backup failed.
func TestReportFromStore(t *testing.T) {
	s, err := backupstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	started := now.Add(-2 * day)
	for _, d := range []struct{ family, device string }{{"aruba", "mc1"}, {"aruba", "mc2"}, {"ilo", "ilo1"}, {"ilo", "ilo2"}} {
		r, err := s.Begin(ctx, d.family, d.device, started)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.WriteFile(ctx, "config", "cfg", bytes.NewReader([]byte(d.device))); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Commit(ctx, d.device+".example.net", 443, nil, started.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RecordFailure(ctx, "ilo", "ilo2", backupstore.Failure{StartedAt: now.Add(-time.Hour), Step: "login", Message: hostile}); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Fleet(ctx, backupstore.FleetFilter{})
	if err != nil {
		t.Fatal(err)
	}
	r := New(sts, maxAge, now)
	if want := (Totals{Devices: 4, BackedUp: 4, Failed: 1}); r.Totals != want {
		t.Errorf("Totals = %+v, want %+v", r.Totals, want)
	}
	doc, err := r.JUnitXML()
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, doc)
	var p parsedSuites
	if err := xml.Unmarshal([]byte(doc), &p); err != nil || p.Tests != 4 || p.Failures != 1 {
		t.Fatalf("JUnit: %d tests, %d failures, %v", p.Tests, p.Failures, err)
	}
	if f := p.Suites[1].Cases[1].Failure; f == nil || !strings.Contains(f.Message, "ilo2: last attempt failed at step login") {
		t.Errorf("ilo2's failure = %+v", f)
	}
	md := r.Markdown()
	if strings.Contains(md+doc, "hunter2") || !strings.Contains(md, "4 devices, 4 backed up within 8d, 0 stale, 1 failed") {
		t.Errorf("Markdown:\n%s", md)
	}
	// A week on, nothing new: every device is stale.
	if r := New(sts, maxAge, now.Add(7*day)); r.Totals.Stale != 4 || r.Totals.BackedUp != 0 {
		t.Errorf("a week later: %+v, want all four stale", r.Totals)
	}
}
