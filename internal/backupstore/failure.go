package backupstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
)

// Failure is the record of a backup attempt that failed, so that the last attempt of
// every device is known (see Fleet). It is stored as <family>/<device>/<id>.failed.json
// beside the backups: a name no backup lookup, retention rule or file lookup takes
// for a backup or a backup's file. It holds nothing secret: the step and the device's
// message are redacted and cut to size when recorded and again when read.
type Failure struct {
	Family string
	Device string
	Host   string
	Port   int
	// ID is the attempt's stamp, from StartedAt; RecordFailure sets it.
	ID        string
	StartedAt time.Time // when the attempt started (FailedAt when unknown)
	FailedAt  time.Time // when it failed (now when zero)
	Step      string    // the step that failed, e.g. "login" or "download the flash backup"
	Message   string    // what the device (or the network) said, already scrubbed by the caller
}

// Limits of a failure record's text, in bytes.
const (
	MaxFailureMessage = 2048
	MaxFailureStep    = 200
	maxFailureHost    = 255
	// maxFailureRecord bounds a failure record on read: its text is capped, so a
	// larger one was not written by this package.
	maxFailureRecord = 16 << 10
)

const failureSuffix = ".failed.json"

// ErrNoFailure is returned (wrapped) when a device has no failure record.
var ErrNoFailure = errors.New("no failure recorded")

func failureKey(family, device, id string) string {
	return devicePrefix(family, device) + id + failureSuffix
}

// RecordKey is the key of the failure's record: <family>/<device>/<id>.failed.json.
func (f Failure) RecordKey() string { return failureKey(f.Family, f.Device, f.ID) }

// failureRecord is the JSON form of a Failure.
type failureRecord struct {
	FormatVersion int       `json:"format_version"`
	Outcome       string    `json:"outcome"` // always "failed": says what the record is to a reader
	Family        string    `json:"family"`
	Device        string    `json:"device"`
	Host          string    `json:"host"`
	Port          int       `json:"port"`
	ID            string    `json:"id"`
	StartedAt     time.Time `json:"started_at"`
	FailedAt      time.Time `json:"failed_at"`
	Step          string    `json:"step"`
	Message       string    `json:"message"`
}

const outcomeFailed = "failed"

// RecordFailure stores the record of a failed attempt to back up a device and
// returns it as stored. Its id is the stamp of f.StartedAt (of f.FailedAt when zero,
// of now when both are); a taken id is bumped by a millisecond, as Begin does, so
// that concurrent runners never replace each other's records. f's Family and Device
// are the arguments'. Step, Message and Host pass through SafeText: secrets that
// slipped through the caller's scrubbing are masked, and long text is cut.
//
// Call it with a context that is still alive after the failure (the backup's own
// may have ended, which may be why it failed).
func (s *Store) RecordFailure(ctx context.Context, family, device string, f Failure) (Failure, error) {
	if err := validFamily(family); err != nil {
		return Failure{}, err
	}
	if err := ValidName(device); err != nil {
		return Failure{}, fmt.Errorf("invalid device name: %w", err)
	}
	if f.Port < 0 || f.Port > 65535 {
		return Failure{}, fmt.Errorf("failure record of %s: invalid port %d", what(family, device), f.Port)
	}
	f.Family, f.Device = family, device
	if f.FailedAt.IsZero() {
		f.FailedAt = time.Now()
	}
	if f.StartedAt.IsZero() {
		f.StartedAt = f.FailedAt
	}
	f.StartedAt, f.FailedAt = f.StartedAt.UTC(), f.FailedAt.UTC()
	f = f.cleaned()
	t := f.StartedAt.Truncate(time.Millisecond)
	for range maxStampBumps {
		f.ID = formatStamp(t)
		data, err := encodeFailure(f)
		if err != nil {
			return Failure{}, err
		}
		_, err = s.obj.Put(ctx, f.RecordKey(), data)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, objstore.ErrExists) {
			return Failure{}, fmt.Errorf("record the failure of %s: %w", what(family, device), err)
		}
		t = t.Add(time.Millisecond)
	}
	return Failure{}, fmt.Errorf("record the failure of %s: no free id near %s", what(family, device), formatStamp(f.StartedAt))
}

// cleaned is f with its text made safe to store and show.
func (f Failure) cleaned() Failure {
	f.Host = SafeText(f.Host, maxFailureHost)
	f.Step = SafeText(f.Step, MaxFailureStep)
	f.Message = SafeText(f.Message, MaxFailureMessage)
	return f
}

func encodeFailure(f Failure) ([]byte, error) {
	data, err := json.MarshalIndent(failureRecord{
		FormatVersion: FormatVersion, Outcome: outcomeFailed,
		Family: f.Family, Device: f.Device, Host: f.Host, Port: f.Port, ID: f.ID,
		StartedAt: f.StartedAt, FailedAt: f.FailedAt, Step: f.Step, Message: f.Message,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode failure record: %w", err)
	}
	return append(data, '\n'), nil
}

// decodeFailure parses the failure record stored as <family>/<device>/<id>.failed.json;
// it must agree with where it is stored. Its text is cleaned again: the store is
// untrusted input.
func decodeFailure(data []byte, family, device, id string) (Failure, error) {
	if len(data) > maxFailureRecord {
		return Failure{}, fmt.Errorf("the failure record is larger than the %d bytes one may hold", maxFailureRecord)
	}
	var rec failureRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rec); err != nil {
		return Failure{}, fmt.Errorf("not a valid failure record: %w", err)
	}
	if dec.More() {
		return Failure{}, errors.New("not a valid failure record: data after the JSON object")
	}
	if rec.FormatVersion != FormatVersion {
		return Failure{}, fmt.Errorf("failure record has format_version %d; this provider reads version %d", rec.FormatVersion, FormatVersion)
	}
	if rec.Outcome != outcomeFailed {
		return Failure{}, fmt.Errorf("failure record has outcome %q, not %q", abbreviate(rec.Outcome), outcomeFailed)
	}
	if rec.Family != family || rec.Device != device || rec.ID != id {
		return Failure{}, fmt.Errorf("failure record says %s/%s/%s but is stored as %s/%s/%s",
			abbreviate(rec.Family), abbreviate(rec.Device), abbreviate(rec.ID), family, device, id)
	}
	if rec.Port < 0 || rec.Port > 65535 {
		return Failure{}, fmt.Errorf("failure record has invalid port %d", rec.Port)
	}
	if rec.FailedAt.IsZero() {
		return Failure{}, errors.New("failure record lacks failed_at")
	}
	f := Failure{
		Family: rec.Family, Device: rec.Device, Host: rec.Host, Port: rec.Port, ID: rec.ID,
		StartedAt: rec.StartedAt.UTC(), FailedAt: rec.FailedAt.UTC(), Step: rec.Step, Message: rec.Message,
	}
	if f.StartedAt.IsZero() {
		f.StartedAt = stampTime(id)
	}
	return f.cleaned(), nil
}

// readFailure reads and checks one failure record.
func (s *Store) readFailure(ctx context.Context, family, device, id string) (Failure, error) {
	key := failureKey(family, device, id)
	loc := s.obj.Location(key)
	rc, _, err := s.obj.Open(ctx, key)
	if err != nil {
		return Failure{}, &recordError{kind: "failure record", location: loc, err: err}
	}
	defer func() { _ = rc.Close() }() // only read: closing cannot lose anything
	data, err := readAllLimited(rc, maxFailureRecord)
	if err != nil {
		return Failure{}, &recordError{kind: "failure record", location: loc, err: err}
	}
	f, err := decodeFailure(data, family, device, id)
	if err != nil {
		return Failure{}, &recordError{kind: "failure record", location: loc, err: err}
	}
	return f, nil
}

// preCut bounds the text SafeText redacts, whatever a device sent.
const preCut = 64 << 10

// SafeText makes device text fit to store and show: secrets are masked
// (client.Redact), invalid UTF-8 becomes U+FFFD, and control and format characters
// (bidirectional overrides that make text read otherwise) other than newline and tab
// become spaces, surrounding blanks go, and the result is cut to at most
// limit bytes (at a character boundary, ending with "…" when cut). Redacting comes
// before cutting, so that no cut can split a secret from the name that marks it.
// The result is what Redact leaves as it is.
func SafeText(s string, limit int) string {
	if len(s) > preCut {
		s = s[:preCut]
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	// After the mapping: "password\x00=x" must be masked as the "password =x" it becomes.
	s = strings.TrimSpace(client.Redact(s))
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	if limit < len(ellipsis) {
		return ""
	}
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
