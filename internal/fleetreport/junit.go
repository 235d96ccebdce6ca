package fleetreport

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// The JUnit XML schema as CI systems (GitLab, Jenkins, GitHub actions that publish
// test reports) read it.
type junitSuites struct {
	XMLName   xml.Name     `xml:"testsuites"`
	Name      string       `xml:"name,attr"`
	Tests     int          `xml:"tests,attr"`
	Failures  int          `xml:"failures,attr"`
	Errors    int          `xml:"errors,attr"`
	Timestamp string       `xml:"timestamp,attr"`
	Suites    []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"` // "failed" or "stale"
	Text    string `xml:",chardata"`
}

// JUnitXML is the report as a JUnit XML document: one test suite per kind of
// device, one test case per device (classname infrabackup.<kind>, name the
// device), failed when its last attempt failed, its records cannot be used, or it
// is stale. The failure's message says why in one line; its body and the case's
// system-out give the details. Every text is escaped by encoding/xml.
func (r Report) JUnitXML() (string, error) {
	ts := r.Now.Format(time.RFC3339)
	doc := junitSuites{Name: "infrabackup backups", Timestamp: ts}
	index := map[string]int{}
	for _, d := range r.Devices {
		i, ok := index[d.Family]
		if !ok {
			i = len(doc.Suites)
			index[d.Family] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: "infrabackup " + d.Family + " backups", Timestamp: ts})
		}
		s := &doc.Suites[i]
		c := junitCase{Name: d.Device, ClassName: "infrabackup." + d.Family, Time: "0", SystemOut: r.details(d)}
		if d.Failed || d.Stale {
			typ := string(StatusStale)
			if d.Failed {
				typ = string(StatusFailed)
			}
			c.Failure = &junitFailure{
				Message: backupstore.SafeText(oneLine(d.Device+": "+d.Why()), maxCellText),
				Type:    typ,
				Text:    r.details(d),
			}
			s.Failures++
			doc.Failures++
		}
		s.Tests++
		doc.Tests++
		s.Cases = append(s.Cases, c)
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode the JUnit report: %w", err)
	}
	return xml.Header + string(out) + "\n", nil
}

// details describes a device over a few lines: where it is, its latest backup and
// its files, its last attempt and failure, the store's problems.
func (r Report) details(d Device) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		b.WriteString(backupstore.SafeText(oneLine(fmt.Sprintf(format, args...)), maxDetailText))
		b.WriteByte('\n')
	}
	if d.Host != "" {
		line("host: %s:%d", d.Host, d.Port)
	}
	if l := d.Latest; l != nil {
		line("last backup: %s (%s ago), id %s", stamp(l.CompletedAt), Age(d.Age), l.ID)
		for _, f := range l.Files {
			where := f.StoreLocation
			if where == "" {
				where = f.Location
			}
			line("file %s: %s, %d bytes, sha256 %s", f.Kind, where, f.Size, f.SHA256)
		}
	} else {
		line("last backup: never")
	}
	if r.MaxAge > 0 {
		line("max age: %s", Age(r.MaxAge))
	}
	if a := d.LastAttempt; a.Outcome != backupstore.OutcomeNone {
		line("last attempt: %s, started %s", a.Outcome, stamp(a.StartedAt))
	}
	if f := lastFailure(d); f != "" {
		line("last failure: %s", f)
	}
	for _, p := range d.Problems {
		line("problem: %s", p)
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
