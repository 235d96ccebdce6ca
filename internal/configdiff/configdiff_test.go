package configdiff

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// conductorConfig is a running configuration as a conductor prints it, with a
// timestamp line that changes on every backup.
func conductorConfig(stamp, vlan string) string {
	return "version 8.10\n" +
		"! Configuration generated " + stamp + "\n" +
		"hostname mc1\n" +
		"clock timezone UTC 0\n" +
		"interface gigabitethernet 0/0/0\n" +
		"    description uplink\n" +
		"    switchport access vlan " + vlan + "\n" +
		"!\n" +
		"ntp server 10.0.0.1\n" +
		"logging 10.0.0.2\n" +
		"end\n"
}

var generated = regexp.MustCompile(`^! Configuration generated `)

func TestOneChangedLine(t *testing.T) {
	old := conductorConfig("2026-11-25 10:15:00", "10")
	cur := conductorConfig("2026-11-25 10:15:00", "20")
	r := Compare([]byte(old), []byte(cur), Options{OldName: "aruba/mc1/1-config.cfg", NewName: "aruba/mc1/2-config.cfg"})
	want := "--- aruba/mc1/1-config.cfg\n+++ aruba/mc1/2-config.cfg\n" +
		"@@ -4,7 +4,7 @@\n" +
		" clock timezone UTC 0\n" +
		" interface gigabitethernet 0/0/0\n" +
		"     description uplink\n" +
		"-    switchport access vlan 10\n" +
		"+    switchport access vlan 20\n" +
		" !\n" +
		" ntp server 10.0.0.1\n" +
		" logging 10.0.0.2\n"
	if r.Added != 1 || r.Removed != 1 || !r.Changed || r.Diff != want {
		t.Errorf("Compare = +%d -%d changed=%v\n%s\nwant +1 -1 changed\n%s", r.Added, r.Removed, r.Changed, r.Diff, want)
	}
	checkApplies(t, old, cur, r.Diff)
}

func TestOnlyIgnoredLinesChanged(t *testing.T) {
	old := conductorConfig("2026-11-25 10:15:00", "10")
	cur := conductorConfig("2026-12-02 10:15:00", "10")
	if r := Compare([]byte(old), []byte(cur), Options{}); !r.Changed || r.Added != 1 || r.Removed != 1 {
		t.Fatalf("without ignore patterns, the timestamp is a change: %+v", r)
	}
	r := Compare([]byte(old), []byte(cur), Options{Ignore: []*regexp.Regexp{generated}})
	if r.Changed || r.Added != 0 || r.Removed != 0 || r.Diff != "" {
		t.Errorf("only the ignored timestamp changed: %+v, want no change", r)
	}
	// With a real change too, only the real change counts and shows; line numbers
	// are those of the full texts.
	cur = conductorConfig("2026-12-02 10:15:00", "30")
	r = Compare([]byte(old), []byte(cur), Options{Ignore: []*regexp.Regexp{nil, generated}, Context: 1})
	want := "--- previous\n+++ current\n@@ -6,3 +6,3 @@\n     description uplink\n-    switchport access vlan 10\n+    switchport access vlan 30\n !\n"
	if r.Added != 1 || r.Removed != 1 || r.Diff != want {
		t.Errorf("Compare = %+v\nwant\n%s", r, want)
	}
	if strings.Contains(r.Diff, "generated") {
		t.Errorf("the ignored line shows in the diff:\n%s", r.Diff)
	}
}

func TestNoChangeAndEmpty(t *testing.T) {
	cfg := []byte(conductorConfig("x", "1"))
	for _, c := range []struct{ old, new string }{{string(cfg), string(cfg)}, {"", ""}} {
		if r := Compare([]byte(c.old), []byte(c.new), Options{}); r != (Result{}) {
			t.Errorf("Compare(%.20q, same) = %+v", c.old, r)
		}
	}
	r := Compare(nil, []byte("a\nb\n"), Options{})
	if r.Added != 2 || r.Removed != 0 || r.Diff != "--- previous\n+++ current\n@@ -0,0 +1,2 @@\n+a\n+b\n" {
		t.Errorf("from nothing: %+v", r)
	}
	r = Compare([]byte("a\nb\n"), nil, Options{})
	if r.Added != 0 || r.Removed != 2 || r.Diff != "--- previous\n+++ current\n@@ -1,2 +0,0 @@\n-a\n-b\n" {
		t.Errorf("to nothing: %+v", r)
	}
}

func TestNoNewlineAtEnd(t *testing.T) {
	r := Compare([]byte("a\nb"), []byte("a\nb\n"), Options{})
	want := "--- previous\n+++ current\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
	if r.Added != 1 || r.Removed != 1 || r.Diff != want {
		t.Errorf("Compare = %+v\nwant\n%s", r, want)
	}
	checkApplies(t, "a\nb", "a\nb\n", r.Diff)
}

func TestHunksAndContext(t *testing.T) {
	var old, cur []string
	for i := 1; i <= 40; i++ {
		old = append(old, fmt.Sprintf("line %d", i))
	}
	cur = append(cur, old...)
	cur[1] = "changed 2"                // hunk 1
	cur[8] = "changed 9"                // 6 unchanged lines after line 2: merged with hunk 1 (gap <= 2*3)
	cur[20] = "changed 21"              // far: hunk 2
	cur = append(cur[:30], cur[31:]...) // line 31 removed: hunk 3
	o, c := strings.Join(old, "\n")+"\n", strings.Join(cur, "\n")+"\n"
	r := Compare([]byte(o), []byte(c), Options{})
	if got := strings.Count(r.Diff, "\n@@ "); got != 3 {
		t.Errorf("%d hunks, want 3:\n%s", got, r.Diff)
	}
	if r.Added != 3 || r.Removed != 4 {
		t.Errorf("+%d -%d, want +3 -4", r.Added, r.Removed)
	}
	if !strings.Contains(r.Diff, "@@ -1,12 +1,12 @@\n") || !strings.Contains(r.Diff, "@@ -18,7 +18,7 @@\n") || !strings.Contains(r.Diff, "@@ -28,7 +28,6 @@\n") {
		t.Errorf("hunk headers:\n%s", r.Diff)
	}
	checkApplies(t, o, c, r.Diff)
	// No context: one hunk per change.
	r = Compare([]byte(o), []byte(c), Options{Context: -1})
	if got := strings.Count(r.Diff, "\n@@ "); got != 4 || strings.Contains(r.Diff, "\n line") {
		t.Errorf("without context:\n%s", r.Diff)
	}
	checkApplies(t, o, c, r.Diff)
	// A label cannot forge lines.
	r = Compare([]byte(o), []byte(c), Options{OldName: "x\n+++ evil"})
	if !strings.HasPrefix(r.Diff, "--- x +++ evil\n+++ current\n") {
		t.Errorf("labels: %.40q", r.Diff)
	}
}

// Every edit script is a shortest one on inputs below the cost bound.
func TestShortestScript(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b := randomLines(rng, rng.IntN(30), 3), randomLines(rng, rng.IntN(30), 3)
		r := Compare([]byte(a), []byte(b), Options{})
		la, lb := strings.Count(a, "\n"), strings.Count(b, "\n")
		if want := la + lb - 2*lcs(splitKeep(a), splitKeep(b)); r.Added+r.Removed != want {
			t.Fatalf("Compare(%q, %q): +%d -%d, a shortest script has %d edits", a, b, r.Added, r.Removed, want)
		}
		checkApplies(t, a, b, r.Diff)
	}
}

func randomLines(rng *rand.Rand, n, alphabet int) string {
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "l%d\n", rng.IntN(alphabet))
	}
	return b.String()
}

func splitKeep(s string) []string { return strings.SplitAfter(s, "\n") }

func lcs(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1] && a[i-1] != "":
				cur[j] = prev[j-1] + 1
			default:
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Large inputs: a few changes in 100,000 lines, two unrelated texts, and two texts
// of the same few lines in another order (the costly case: the bound applies).
// Each is compared in bounded memory and gives a diff that turns old into new.
func TestLargeInputsBoundedMemory(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	var few, unrelatedA, unrelatedB strings.Builder
	for i := range n {
		fmt.Fprintf(&few, "interface %d description port-%d\n", i, i)
		fmt.Fprintf(&unrelatedA, "a %d\n", i)
		fmt.Fprintf(&unrelatedB, "b %d\n", i)
	}
	edited := strings.Replace(few.String(), "interface 500 description port-500\n", "interface 500 description uplink\n", 1)
	edited = strings.Replace(edited, "interface 90000 description port-90000\n", "", 1)
	cases := []struct {
		name     string
		old, new string
		added    int
		removed  int
	}{
		{"few changes", few.String(), edited, 1, 2},
		{"unrelated", unrelatedA.String(), unrelatedB.String(), n, n},
		{"shuffled", randomLines(rng, n, 50), randomLines(rng, n, 50), -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := Compare([]byte(c.old), []byte(c.new), Options{Ignore: []*regexp.Regexp{regexp.MustCompile(`^! generated`)}})
			runtime.ReadMemStats(&after)
			if c.added >= 0 && (r.Added != c.added || r.Removed != c.removed) {
				t.Errorf("+%d -%d, want +%d -%d", r.Added, r.Removed, c.added, c.removed)
			}
			// Allocations stay a small multiple of the input and the diff written (a
			// quadratic table would take some 10 GB).
			in := len(c.old) + len(c.new) + len(r.Diff)
			t.Logf("allocated %.1f MiB for %.1f MiB of input and diff", float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(in)/(1<<20))
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(12*in+(16<<20)) {
				t.Errorf("allocated %d MiB for %d MiB of input and diff", alloc>>20, in>>20)
			}
			// Past the bound the script is not the shortest, but still keeps most of
			// what the texts share: a shortest one keeps some 28,000 of these lines.
			if c.added < 0 && (r.Added != r.Removed || r.Added > 85*n/100) {
				t.Errorf("+%d -%d: the bounded search kept too few common lines", r.Added, r.Removed)
			}
			checkApplies(t, c.old, c.new, r.Diff)
		})
	}
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$`)

// checkApplies applies a unified diff to old as patch(1) would, checking every
// context and removed line and every hunk header, and compares the result with new.
func checkApplies(t *testing.T, old, new, diff string) {
	t.Helper()
	if old == new {
		if diff != "" {
			t.Errorf("diff of equal texts: %q", diff)
		}
		return
	}
	src := splitKeep(old)
	if src[len(src)-1] == "" {
		src = src[:len(src)-1]
	}
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		t.Fatalf("no diff header:\n%s", diff)
	}
	var out bytes.Buffer
	pos := 0 // lines of src consumed
	i := 2
	for i < len(lines) && lines[i] != "" {
		m := hunkHeader.FindStringSubmatch(strings.TrimSuffix(lines[i], "\n"))
		if m == nil {
			t.Fatalf("line %q is not a hunk header:\n%s", lines[i], diff)
		}
		oStart, _ := strconv.Atoi(m[1])
		oCount, _ := strconv.Atoi(m[2])
		nCount, _ := strconv.Atoi(m[4])
		if oCount > 0 {
			oStart-- // the hunk's first line, from 0
		}
		if oStart < pos {
			t.Fatalf("hunk %q overlaps the previous one", lines[i])
		}
		for ; pos < oStart; pos++ {
			out.WriteString(src[pos])
		}
		i++
		gotOld, gotNew := 0, 0
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@ ") {
			l := lines[i]
			text := l[1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				text = strings.TrimSuffix(text, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != text {
					t.Fatalf("line %q of the diff does not match line %d of the old text", l, pos+1)
				}
				pos++
				gotOld++
				if l[0] == ' ' {
					out.WriteString(text)
					gotNew++
				}
			case '+':
				out.WriteString(text)
				gotNew++
			default:
				t.Fatalf("unexpected diff line %q", l)
			}
			i++
		}
		if gotOld != oCount || gotNew != nCount {
			t.Fatalf("hunk %s counts %d,%d lines, header says %d,%d", m[0], gotOld, gotNew, oCount, nCount)
		}
	}
	for ; pos < len(src); pos++ {
		out.WriteString(src[pos])
	}
	if out.String() != new {
		t.Fatalf("the diff does not turn the old text into the new one:\n%s", diff)
	}
}

func FuzzCompare(f *testing.F) {
	f.Add([]byte(conductorConfig("a", "1")), []byte(conductorConfig("b", "2")), `^! Configuration`)
	f.Add([]byte("a\nb"), []byte("a\nb\n"), "")
	f.Add([]byte(""), []byte("\n\n\r\n"), "(")
	f.Add([]byte("x\ny\nx\ny\n"), []byte("y\nx\ny\nx"), "^y$")
	f.Add([]byte("\xff\x00\n"), []byte("\xfe\n\\ No newline at end of file\n"), ".*")
	f.Fuzz(func(t *testing.T, old, new []byte, pattern string) {
		var ignore []*regexp.Regexp
		if re, err := regexp.Compile(pattern); err == nil && pattern != "" {
			ignore = append(ignore, re)
		}
		r := Compare(old, new, Options{Ignore: ignore})
		plus, minus := 0, 0
		for i, l := range strings.SplitAfter(r.Diff, "\n") {
			switch {
			case i < 2: // the header
			case strings.HasPrefix(l, "+"):
				plus++
			case strings.HasPrefix(l, "-"):
				minus++
			}
		}
		if r.Changed != (r.Added+r.Removed > 0) || (r.Diff == "") == r.Changed {
			t.Fatalf("inconsistent result %+v", r)
		}
		if len(ignore) == 0 {
			if r.Changed != !bytes.Equal(old, new) {
				t.Fatalf("Changed = %v for texts equal: %v", r.Changed, bytes.Equal(old, new))
			}
			if plus != r.Added || minus != r.Removed {
				t.Fatalf("diff has +%d -%d lines, result says +%d -%d:\n%s", plus, minus, r.Added, r.Removed, r.Diff)
			}
			checkApplies(t, string(old), string(new), r.Diff)
		}
	})
}

// WriteTo streams the same diff Compare returns, and reports a writer's failure.
func TestComparisonWriteTo(t *testing.T) {
	var old, cur strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&old, "interface vlan %d\n", i)
		if i%50 == 0 { // 400 hunks: a diff longer than the failing writer takes
			fmt.Fprintf(&cur, "interface vlan %d shutdown\n", i)
		} else {
			fmt.Fprintf(&cur, "interface vlan %d\n", i)
		}
	}
	o, c := []byte(old.String()), []byte(cur.String())
	want := Compare(o, c, Options{})
	cmp := NewComparison(o, c, Options{})
	if cmp.Added != 400 || cmp.Removed != 400 || !cmp.Changed() || cmp.Added != want.Added || cmp.Removed != want.Removed {
		t.Fatalf("NewComparison: +%d -%d, Compare: +%d -%d; want +400 -400", cmp.Added, cmp.Removed, want.Added, want.Removed)
	}
	var got bytes.Buffer
	n, err := cmp.WriteTo(&got)
	if err != nil || n != int64(got.Len()) || got.String() != want.Diff {
		t.Fatalf("WriteTo = %d, %v; %d bytes written, equal to Compare's diff: %v", n, err, got.Len(), got.String() == want.Diff)
	}
	broken := &failingWriter{after: 40 << 10}
	if _, err := cmp.WriteTo(broken); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteTo into a failing writer: %v, want its error", err)
	}
	var none bytes.Buffer
	if n, err := NewComparison(o, o, Options{}).WriteTo(&none); n != 0 || err != nil || none.Len() != 0 {
		t.Errorf("WriteTo of equal texts = %d, %v, %q: want nothing", n, err, none.String())
	}
}

// failingWriter accepts after bytes, then fails every write.
type failingWriter struct {
	after, n int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.after {
		return 0, fmt.Errorf("disk full")
	}
	w.n += len(p)
	return len(p), nil
}
