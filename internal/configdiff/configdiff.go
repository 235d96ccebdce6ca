// Package configdiff compares two versions of a text configuration line by line
// and writes the difference as a unified diff, leaving out lines that change on
// every run without meaning anything (timestamps, counters): those are matched by
// regular expressions and take no part in the comparison, so a configuration whose
// only change is its "generated at" line has not changed.
//
// The comparison is Myers' O(ND) algorithm in linear space, after the lines common
// to both ends and the lines found on one side only are set aside (neither changes
// the result: such lines can never be matched). Its work is bounded: past a cost of
// about the square root of the input size per step it settles for a good split
// instead of the best, as GNU diff does, so that two unrelated 100,000-line files
// are compared in a fraction of a second and in memory proportional to their size.
// The diff is then correct but may be longer than the shortest one.
//
// It is written here rather than taken from a library because the libraries at hand
// either compare characters (sergi/go-diff, whose line mode and time limits make
// the result depend on the machine's speed) or are unmaintained with quadratic
// cost (pmezard/go-difflib), and none leaves lines out of the comparison while
// keeping the line numbers of the full texts.
package configdiff

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// DefaultContext is the number of unchanged lines shown around each change.
const DefaultContext = 3

// Options tune Compare. The zero value compares every line and shows
// DefaultContext lines of context.
type Options struct {
	// Ignore: a line matching any of these (without its line ending) takes no part
	// in the comparison and is not shown.
	Ignore []*regexp.Regexp
	// Context is the number of unchanged lines shown around each change:
	// DefaultContext when zero, none when negative.
	Context int
	// OldName and NewName label the texts in the diff's header ("previous" and
	// "current" when empty).
	OldName, NewName string
}

// Result is the difference between two texts.
type Result struct {
	// Diff is the unified diff ("" when nothing changed). Its hunks give line
	// numbers in the full texts; ignored lines are not shown, so it is for
	// reading, not for patch(1) when lines were ignored.
	Diff    string
	Added   int // lines only in the new text
	Removed int // lines only in the old text
	Changed bool
}

// Compare compares old and new line by line, leaving out the lines that
// opts.Ignore matches. A missing newline at the end of a text counts as a
// difference, as in diff(1).
func Compare(old, new []byte, opts Options) Result {
	c := NewComparison(old, new, opts)
	res := Result{Added: c.Added, Removed: c.Removed, Changed: c.Changed()}
	var w strings.Builder
	_, _ = c.WriteTo(&w) // a strings.Builder does not fail
	res.Diff = w.String()
	return res
}

// Comparison is the difference between two texts whose unified diff is written
// on demand (WriteTo), so that a large diff can be streamed rather than held in
// memory. It refers to the texts it compared: they must not change while it is
// used.
type Comparison struct {
	Added   int // lines only in the new text
	Removed int // lines only in the old text

	a, b             []line
	removed, added   []bool
	ctx              int
	oldName, newName string
}

// NewComparison compares old and new as Compare does, without writing the diff.
func NewComparison(old, new []byte, opts Options) *Comparison {
	a := splitLines(old, opts.Ignore)
	b := splitLines(new, opts.Ignore)
	ids := interner{ids: map[string]int32{}}
	aIDs, bIDs := ids.of(a), ids.of(b)
	removed, added := changes(aIDs, bIDs, len(ids.ids))
	c := &Comparison{a: a, b: b, removed: removed, added: added,
		oldName: nameOr(opts.OldName, "previous"), newName: nameOr(opts.NewName, "current")}
	for _, r := range removed {
		if r {
			c.Removed++
		}
	}
	for _, ad := range added {
		if ad {
			c.Added++
		}
	}
	switch c.ctx = opts.Context; {
	case c.ctx == 0:
		c.ctx = DefaultContext
	case c.ctx < 0:
		c.ctx = 0
	}
	return c
}

// Changed reports whether a line that takes part in the comparison differs.
func (c *Comparison) Changed() bool { return c.Added+c.Removed > 0 }

// WriteTo writes the unified diff to w: nothing when nothing changed.
func (c *Comparison) WriteTo(w io.Writer) (int64, error) {
	if !c.Changed() {
		return 0, nil
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	unified(bw, c.a, c.b, c.removed, c.added, c.ctx, c.oldName, c.newName)
	err := bw.Flush() // a bufio.Writer keeps its first error: this is it
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	// A label is one line; a newline in it would forge diff lines.
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// line is one line of a text that takes part in the comparison.
type line struct {
	text []byte // with its line ending, if it has one
	no   int    // its number in the full text, from 1
}

// splitLines returns the lines of text that no pattern of ignore matches.
func splitLines(text []byte, ignore []*regexp.Regexp) []line {
	out := make([]line, 0, bytes.Count(text, []byte{'\n'})+1)
	no := 0
	for len(text) > 0 {
		no++
		n := bytes.IndexByte(text, '\n') + 1
		if n == 0 {
			n = len(text)
		}
		l := text[:n]
		text = text[n:]
		if len(ignore) > 0 && ignored(bytes.TrimRight(l, "\r\n"), ignore) {
			continue
		}
		out = append(out, line{text: l, no: no})
	}
	return out
}

func ignored(content []byte, ignore []*regexp.Regexp) bool {
	for _, re := range ignore {
		if re != nil && re.Match(content) {
			return true
		}
	}
	return false
}

// interner numbers distinct lines, so that lines compare as integers.
type interner struct{ ids map[string]int32 }

func (in interner) of(lines []line) []int32 {
	out := make([]int32, len(lines))
	for i, l := range lines {
		id, ok := in.ids[string(l.text)]
		if !ok {
			id = int32(len(in.ids))
			in.ids[string(l.text)] = id
		}
		out[i] = id
	}
	return out
}

// unified writes the hunks of the changes, with ctx lines of context.
// A failed write is kept by w (bufio.Writer) and reported by its Flush.
func unified(w *bufio.Writer, a, b []line, removed, added []bool, ctx int, oldName, newName string) {
	ops := script(removed, added)
	_, _ = fmt.Fprintf(w, "--- %s\n+++ %s\n", oldName, newName) // w keeps the first error for its Flush
	for start := 0; start < len(ops); {
		// The next change, and the run of changes whose gaps context bridges.
		first := start
		for first < len(ops) && ops[first].kind == ' ' {
			first++
		}
		if first == len(ops) {
			break
		}
		last := first
		for i := first; i < len(ops); i++ {
			if ops[i].kind != ' ' {
				last = i
			} else if i-last > 2*ctx {
				break
			}
		}
		lo, hi := max(first-ctx, start), min(last+ctx+1, len(ops))
		if _, err := w.Write(nil); err != nil {
			return // the writer failed: the rest would go nowhere
		}
		writeHunk(w, a, b, ops[lo:hi])
		start = hi
	}
}

// op is one step of the edit script: ' ' keeps a[i] (= b[j]), '-' removes a[i],
// '+' adds b[j]. i and j are where the step stands in a and b.
type op struct {
	kind byte
	i, j int
}

func script(removed, added []bool) []op {
	n := len(removed)
	for _, ad := range added {
		if ad {
			n++
		}
	}
	ops := make([]op, 0, n)
	i, j := 0, 0
	for i < len(removed) || j < len(added) {
		switch {
		case i < len(removed) && removed[i]:
			ops = append(ops, op{'-', i, j})
			i++
		case j < len(added) && added[j]:
			ops = append(ops, op{'+', i, j})
			j++
		default:
			ops = append(ops, op{' ', i, j})
			i++
			j++
		}
	}
	return ops
}

func writeHunk(w *bufio.Writer, a, b []line, ops []op) {
	oldCount, newCount := 0, 0
	for _, o := range ops {
		if o.kind != '+' {
			oldCount++
		}
		if o.kind != '-' {
			newCount++
		}
	}
	// w keeps the first error for its Flush.
	_, _ = fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(a, ops[0].i, oldCount), hunkRange(b, ops[0].j, newCount))
	for _, o := range ops {
		var l []byte
		if o.kind == '+' {
			l = b[o.j].text
		} else {
			l = a[o.i].text
		}
		_ = w.WriteByte(o.kind)
		_, _ = w.Write(l)
		if len(l) == 0 || l[len(l)-1] != '\n' {
			_, _ = w.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange is "start,count" in the full text for a hunk that starts at lines[i]:
// an empty range names the line after which it sits, as diff(1) does.
func hunkRange(lines []line, i, count int) string {
	switch {
	case count > 0:
		return fmt.Sprintf("%d,%d", lines[i].no, count)
	case i > 0:
		return fmt.Sprintf("%d,0", lines[i-1].no)
	}
	return "0,0"
}
