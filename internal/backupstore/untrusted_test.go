package backupstore

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A record newer than the answer that cannot be used makes the lookup fail with an
// error naming it: returning an older backup would present it as the latest.
func TestNewerUnusableRecordIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, ts *tstore, newer Backup)
		reason string
	}{
		{"not JSON", func(t *testing.T, ts *tstore, b Backup) { ts.put(t, b.RecordKey(), []byte("{not json")) }, "not a valid backup record"},
		{"empty", func(t *testing.T, ts *tstore, b Backup) { ts.put(t, b.RecordKey(), nil) }, "not a valid backup record"},
		{"file missing", func(t *testing.T, ts *tstore, b Backup) { ts.remove(t, b.Files[0].Key) }, "is unusable: it is missing"},
		{"file truncated", func(t *testing.T, ts *tstore, b Backup) { ts.put(t, b.Files[0].Key, []byte("x")) }, "it holds 1 bytes, not the 3 recorded"},
		{"newer format", func(t *testing.T, ts *tstore, b Backup) {
			data, _ := encodeSidecar(b)
			ts.put(t, b.RecordKey(), []byte(strings.Replace(string(data), `"format_version": 1`, `"format_version": 2`, 1)))
		}, "format_version 2"},
		{"another device's record", func(t *testing.T, ts *tstore, b Backup) {
			key := b.RecordKey()
			b.Device = "mc2"
			data, _ := encodeSidecar(b)
			ts.put(t, key, data)
		}, "but is stored as"},
		{"too large", func(t *testing.T, ts *tstore, b Backup) {
			ts.put(t, b.RecordKey(), []byte(strings.Repeat(" ", MaxRecordSize+1)))
		}, "larger than"},
		{"a file outside its folder (key)", func(t *testing.T, ts *tstore, b Backup) {
			key := b.RecordKey()
			b.Files[0].Key = "aruba/mc2/" + b.ID + "-config.cfg"
			data, _ := encodeSidecar(b)
			ts.put(t, key, data)
		}, "does not belong to run"},
		{"a file outside its folder (path of an older record)", func(t *testing.T, ts *tstore, b Backup) {
			key := b.RecordKey()
			b.Files[0].Key, b.Files[0].Path = "", "/etc/passwd"
			data, _ := encodeSidecar(b)
			ts.put(t, key, data)
		}, "does not belong to run"},
		{"an object below the record's name", func(t *testing.T, ts *tstore, b Backup) {
			// A local folder named like a record, holding something; on S3 a key
			// below the record's name.
			ts.remove(t, b.RecordKey())
			ts.put(t, b.RecordKey()+"/x", []byte("x"))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, ts *tstore) {
				older := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("old"))
				newer := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0.Add(time.Hour), []byte("new"))
				tc.damage(t, ts, newer)
				record := ts.wantLocation(newer.RecordKey())
				reason := tc.reason
				if reason == "" { // what reading an object that is not there says
					reason = map[bool]string{true: "not a regular file (a folder)", false: "NoSuchKey"}[ts.local()]
				}
				for what, lookup := range map[string]func() (Backup, error){
					"Latest":       func() (Backup, error) { return ts.Latest(bg, FamilyAruba, "mc1") },
					"LatestByHost": func() (Backup, error) { return ts.LatestByHost(bg, FamilyAruba, "10.0.0.1") },
				} {
					b, err := lookup()
					if err == nil {
						t.Errorf("%s returned %s (the older backup is %s) despite the newer unusable record", what, b.ID, older.ID)
						continue
					}
					if errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), record) || !strings.Contains(err.Error(), reason) {
						t.Errorf("%s error = %v\nwant one naming %s and saying %q", what, err, record, reason)
					}
				}
				// The older backup is still found by id, and its file by key.
				if _, err := ts.Get(bg, FamilyAruba, "mc1", older.ID); err != nil {
					t.Errorf("Get(older) = %v", err)
				}
			})
		})
	}
	// What is not a record is still ignored: runs that never completed, temporary,
	// reservation and unrelated files; and older damage never hides a newer good
	// backup.
	t.Run("not records", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, ts *tstore) {
			damaged := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0.Add(-time.Hour), []byte("old"))
			ts.put(t, damaged.RecordKey(), []byte("{not json"))
			good := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("good"))
			r, err := ts.Begin(bg, FamilyAruba, "mc1", t0.Add(2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.WriteFile(bg, "config", "cfg", strings.NewReader("new")); err != nil {
				t.Fatal(err)
			}
			for name, content := range map[string]string{
				"README.txt": "hello", "20261125T120000.000Z.json.bak": "{}", "29991231T235959.999Z.lock": "",
				"2026112T120000.000Z.json": "{}", "sub/29991231T235959.999Z.json": "{}",
			} {
				ts.put(t, "aruba/mc1/"+name, []byte(content))
			}
			if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != good.ID {
				t.Errorf("Latest = %v %v, want %s", got.ID, err, good.ID)
			}
			if got, err := ts.LatestByHost(bg, FamilyAruba, "10.0.0.1"); err != nil || got.ID != good.ID {
				t.Errorf("LatestByHost = %v %v, want %s", got.ID, err, good.ID)
			}
		})
	})
	// A damaged record that names another host is not a candidate of LatestByHost.
	t.Run("another host's damaged record", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, ts *tstore) {
			want := commitOne(t, ts.Store, FamilyAruba, "mc1", "10.0.0.1", t0, []byte("good"))
			other := commitOne(t, ts.Store, FamilyAruba, "mc2", "10.0.0.2", t0.Add(time.Hour), []byte("other"))
			ts.remove(t, other.Files[0].Key)
			if got, err := ts.LatestByHost(bg, FamilyAruba, "10.0.0.1"); err != nil || got.ID != want.ID {
				t.Errorf("LatestByHost = %v %v, want %s", got.ID, err, want.ID)
			}
		})
	})
}

// One size limit for records: what Commit writes, lookups read back; what they
// would refuse, Commit refuses, and the run can still be aborted cleanly.
func TestRecordSizeLimitSameOnWriteAndRead(t *testing.T) {
	eachBackend(t, func(t *testing.T, ts *tstore) {
		commit := func(attrSize int) (Backup, error) {
			r, err := ts.Begin(bg, FamilyAruba, "mc1", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Abort()
			if _, err := r.WriteFile(bg, "config", "cfg", strings.NewReader("cfg")); err != nil {
				t.Fatal(err)
			}
			return r.Commit(bg, "10.0.0.1", 4343, map[string]string{"note": strings.Repeat("n", attrSize)}, time.Time{})
		}
		_, err := commit(MaxRecordSize)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("Commit of a record over the limit = %v, want a refusal", err)
		}
		ts.assertNothingLeft(t, FamilyAruba, "mc1")
		b, err := commit(MaxRecordSize - 4096)
		if err != nil {
			t.Fatalf("Commit just under the limit: %v", err)
		}
		if got, err := ts.Latest(bg, FamilyAruba, "mc1"); err != nil || got.ID != b.ID || len(got.Attributes["note"]) != MaxRecordSize-4096 {
			t.Errorf("a committed record is not read back: %v %v", got.ID, err)
		}
	})
}
