package fleetreport

import (
	"fmt"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// Markdown is the report as a heading with the totals and a table with one row per
// device (device, kind, last backup, age, status, last failure), ready for a CI job
// summary or a chat message.
func (r Report) Markdown() string {
	var b strings.Builder
	t := r.Totals
	within := ""
	if r.MaxAge > 0 {
		within = " within " + Age(r.MaxAge)
	}
	fmt.Fprintf(&b, "### Backups on %s: %d %s, %d backed up%s, %d stale, %d failed\n\n",
		stamp(r.Now), t.Devices, plural(t.Devices, "device", "devices"), t.BackedUp, within, t.Stale, t.Failed)
	if len(r.Devices) == 0 {
		b.WriteString("No device has a backup or a failed attempt in the backup store.\n")
		return b.String()
	}
	b.WriteString("| Device | Kind | Last backup | Age | Status | Last failure |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, d := range r.Devices {
		last, age := "never", ""
		if d.Latest != nil {
			last, age = stamp(d.Latest.CompletedAt), Age(d.Age)
		}
		cells := []string{mdCell(d.Device), mdCell(d.Family), last, age, statusCell(d), mdCell(lastFailure(d))}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

func statusCell(d Device) string {
	switch {
	case d.Failed && d.Stale:
		return "❌ failed, stale"
	case d.Failed:
		return "❌ failed"
	case d.Stale:
		return "⚠️ stale"
	}
	return "✅ ok"
}

// lastFailure says when the device last failed, in which step and what it said,
// and what is wrong with its records.
func lastFailure(d Device) string {
	var parts []string
	if f := d.LastFailure; f != nil {
		s := stamp(f.FailedAt)
		if s == "" {
			s = stamp(f.StartedAt)
		}
		if f.Step != "" {
			s += " at step " + f.Step
		}
		if f.Message != "" {
			s += ": " + f.Message
		}
		parts = append(parts, s)
	}
	if d.LastAttempt.Outcome == backupstore.OutcomeUnknown {
		parts = append(parts, "the record of the last attempt cannot be used")
	}
	if len(d.Problems) > 0 {
		parts = append(parts, "store: "+d.Problems[0])
	}
	return strings.Join(parts, "; ")
}

// mdEscapes are the characters that could end a cell, start markup, raw HTML, a
// link or a mention in a table cell; each is written behind a backslash.
const mdEscapes = "\\|`*_[]<>~&@!#"

// mdCell makes device text one safe table cell: SafeText, on one line, with every
// character that Markdown could take for markup escaped.
func mdCell(s string) string {
	s = backupstore.SafeText(s, maxCellText)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteByte(' ')
		case r < 0x80 && strings.ContainsRune(mdEscapes, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
