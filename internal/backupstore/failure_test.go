package backupstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// secretMessage is what a careless device (or caller) might put in an error.
const secretMessage = "login refused: password=hunter2-secret; X-Auth-Token: tok-abcdef0123\x1b[31m"

func failAt(t *testing.T, s *Store, family, device string, started time.Time, step, msg string) Failure {
	t.Helper()
	f, err := s.RecordFailure(bg, family, device, Failure{
		Host: "10.0.0.7", Port: 443, StartedAt: started, FailedAt: started.Add(30 * time.Second), Step: step, Message: msg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A failure record, newer than every backup, is never taken for a backup by any
// lookup, and is stored under its own name, redacted and capped.
func TestFailureRecordIsNoBackup(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		b := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.7", t0, []byte("config v1\n"))
		long := secretMessage + "\ndetails\x1b[31m: " + strings.Repeat("é", 3000)
		f := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(time.Hour), "download flash backup", long)

		if f.ID != formatStamp(t0.Add(time.Hour)) || f.RecordKey() != "aruba/mc1/"+f.ID+".failed.json" {
			t.Errorf("failure stored as %s (%s)", f.RecordKey(), f.ID)
		}
		if got := ts.names(t, FamilyAruba, "mc1"); !slices.Contains(got, f.ID+".failed.json") {
			t.Errorf("stored: %q, want the failure record among them", got)
		}
		raw := string(ts.read(t, f.RecordKey()))
		for _, secret := range []string{"hunter2-secret", "tok-abcdef0123", "\x1b", `\u001b`} {
			if strings.Contains(raw, secret) || strings.Contains(f.Message, secret) {
				t.Errorf("failure record holds %q:\n%s", secret, raw)
			}
		}
		if !strings.Contains(f.Message, "login refused") || !strings.Contains(f.Message, "***") {
			t.Errorf("Message = %q, want the device's words with secrets masked", f.Message)
		}
		if len(f.Message) > MaxFailureMessage || !utf8.ValidString(f.Message) || !strings.HasSuffix(f.Message, "…") {
			t.Errorf("Message is %d bytes (valid UTF-8: %v), want at most %d, cut with an ellipsis", len(f.Message), utf8.ValidString(f.Message), MaxFailureMessage)
		}

		// Every lookup still answers with the backup.
		if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != b.ID {
			t.Errorf("Latest = %q, %v; want %s", got.ID, err, b.ID)
		}
		if got, err := ts.LatestByHost(bg, FamilyAruba, "10.0.0.7"); err != nil || got.ID != b.ID {
			t.Errorf("LatestByHost = %q, %v; want %s", got.ID, err, b.ID)
		}
		if _, err := ts.Get(bg, FamilyAruba, "mc1", f.ID); !errors.Is(err, ErrNoBackup) {
			t.Errorf("Get(failure id) = %v, want ErrNoBackup", err)
		}
		if _, _, err := ts.FindByKey(bg, f.RecordKey()); !errors.Is(err, ErrNoBackup) {
			t.Errorf("FindByKey(failure record) = %v, want ErrNoBackup", err)
		}

		// A device with only a failure has no backup, and no unusable record either.
		failAt(t, ts.Store, FamilyILO, "ilo1", t0, "login", "401 Unauthorized")
		if _, err := ts.Latest(bg, FamilyILO, "ilo1"); !errors.Is(err, ErrNoBackup) {
			t.Errorf("Latest of a device with only a failure = %v, want ErrNoBackup", err)
		}
		if _, err := ts.LatestByHost(bg, FamilyILO, "10.0.0.7"); !errors.Is(err, ErrNoBackup) {
			t.Errorf("LatestByHost of a host with only a failure = %v, want ErrNoBackup", err)
		}

		// It reads back as written.
		st, err := ts.Status(bg, FamilyAruba, "mc1")
		if err != nil {
			t.Fatal(err)
		}
		if st.LastFailure == nil || *st.LastFailure != f {
			t.Errorf("LastFailure = %+v, want %+v", st.LastFailure, f)
		}
	})
}

func TestRecordFailureValidates(t *testing.T) {
	ts := openLocal(t)
	for _, c := range []struct {
		family, device string
		port           int
		want           string
	}{
		{"cisco", "r1", 22, "unknown device family"},
		{FamilyILO, "../x", 443, "invalid device name"},
		{FamilyILO, "ilo1", 70000, "invalid port"},
	} {
		if _, err := ts.RecordFailure(bg, c.family, c.device, Failure{Port: c.port}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("RecordFailure(%s, %s, port %d) = %v, want %q", c.family, c.device, c.port, err, c.want)
		}
	}
	if got := ts.keys(t, ""); len(got) != 0 {
		t.Errorf("stored after refused failures: %q", got)
	}
}

// Two runners recording a failure of one device in the same millisecond keep both.
func TestRecordFailureSameMillisecond(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		a := failAt(t, ts.Store, FamilyILO, "ilo1", t0, "login", "first")
		b := failAt(t, ts.second(t), FamilyILO, "ilo1", t0, "login", "second")
		if a.ID == b.ID || b.ID != formatStamp(t0.Add(time.Millisecond)) {
			t.Errorf("ids %s and %s, want distinct, the second a millisecond later", a.ID, b.ID)
		}
		st, err := ts.Status(bg, FamilyILO, "ilo1")
		if err != nil || st.LastFailure == nil || st.LastFailure.Message != "second" {
			t.Errorf("Status = %+v, %v; want the second failure last", st.LastFailure, err)
		}
	})
}

// Prune keeps the newest failure record and those newer than the newest backup,
// and deletes the others; it keeps everything when the policy does.
func TestPruneDeletesOldFailures(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		day := 24 * time.Hour
		b0 := backupAt(t, ts.Store, t0)
		f1 := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(day), "login", "down")
		b2 := backupAt(t, ts.Store, t0.Add(2*day))
		f3 := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(3*day), "login", "down")
		f4 := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(4*day), "login", "down")
		b5 := backupAt(t, ts.Store, t0.Add(5*day))
		// Failures of concurrent runs that started after the backup just made.
		f6 := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(6*day), "login", "down")
		f7 := failAt(t, ts.Store, FamilyAruba, "mc1", t0.Add(7*day), "login", "down")

		all := append(objectsOf(b0, b2, b5), f1.RecordKey(), f3.RecordKey(), f4.RecordKey(), f6.RecordKey(), f7.RecordKey())
		slices.Sort(all)
		if _, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{}, b5.ID, t0.Add(8*day)); err != nil {
			t.Fatal(err)
		}
		if got := ts.keys(t, ""); !slices.Equal(got, all) {
			t.Errorf("after a prune that keeps everything: %q, want %q", got, all)
		}

		res, err := ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, b5.ID, t0.Add(8*day))
		if err != nil {
			t.Fatal(err)
		}
		if want := ids(b2, b0); !slices.Equal(res.Deleted, want) {
			t.Errorf("Deleted = %v, want %v", res.Deleted, want)
		}
		if want := []string{f4.ID, f3.ID, f1.ID}; !slices.Equal(res.FailuresDeleted, want) {
			t.Errorf("FailuresDeleted = %v, want %v", res.FailuresDeleted, want)
		}
		want := append(objectsOf(b5), f6.RecordKey(), f7.RecordKey())
		slices.Sort(want)
		if got := ts.keys(t, ""); !slices.Equal(got, want) {
			t.Errorf("after Prune: %q, want %q", got, want)
		}

		// Once a backup is newer than every failure, only the newest failure stays.
		b8 := backupAt(t, ts.Store, t0.Add(8*day))
		res, err = ts.Prune(bg, FamilyAruba, "mc1", Policy{KeepLast: 1}, b8.ID, t0.Add(9*day))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{f6.ID}; !slices.Equal(res.FailuresDeleted, want) {
			t.Errorf("FailuresDeleted = %v, want %v", res.FailuresDeleted, want)
		}
		want = append(objectsOf(b8), f7.RecordKey())
		slices.Sort(want)
		if got := ts.keys(t, ""); !slices.Equal(got, want) {
			t.Errorf("after the second Prune: %q, want %q", got, want)
		}
	})
}

func TestSafeText(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"  plain text \n", 100, "plain text"},
		{"bad\xffbyte\x00nul\u202eRTL", 100, "bad\uFFFDbyte nul RTL"},
		{"password=hunter2", 100, "password=***"},
		{"password\x00=hunter2", 100, "password =***"},
		{"abcdefgh", 6, "abc…"},
		{"ééé", 5, "é…"},
		{"ééé", 4, "…"}, // never half a character
		{"abc", 2, ""},
	} {
		if got := SafeText(c.in, c.limit); got != c.want {
			t.Errorf("SafeText(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
	// A secret that reaches past the cut is masked before it.
	if got := SafeText("token="+strings.Repeat("s", 5000), 40); strings.Contains(got, "sss") {
		t.Errorf("SafeText of a long secret = %q", got)
	}
}
