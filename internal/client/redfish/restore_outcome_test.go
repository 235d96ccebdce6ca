package redfish

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// hangUp drops the connection without an answer.
func hangUp(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("the test server cannot hijack connections")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	_ = conn.Close()
}

// TestRestoreAnswerLostIsOutcomeUnknown: when the whole upload reached the iLO and
// the answer is lost, the iLO may be restoring: the error says the outcome is
// unknown, never that the iLO should not restore.
func TestRestoreAnswerLostIsOutcomeUnknown(t *testing.T) {
	f := newFakeILO(t)
	const size = 4 << 20
	var received int64
	f.route("POST", "/cgi-bin/uploadRestoreFile", func(w http.ResponseWriter, r *http.Request) {
		received, _ = io.Copy(io.Discard, r.Body)
		hangUp(t, w)
	})
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		return c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(&patternReader{left: size}), nil
		}, size, "x.bak", "")
	})
	if received < size {
		t.Fatalf("the fake iLO received %d bytes, want the whole form", received)
	}
	if !errors.Is(err, ErrRestoreOutcomeUnknown) {
		t.Fatalf("error %v does not say the outcome is unknown", err)
	}
	de := deviceErr(t, err)
	if de.Step != "restore upload" || !strings.Contains(err.Error(), "outcome unknown") ||
		!strings.Contains(err.Error(), "may be restoring") || strings.Contains(err.Error(), "should not restore") {
		t.Fatalf("error = %v", err)
	}
}

// TestRestoreCutShortIsNotOutcomeUnknown: an upload the iLO hung up on before its
// end never formed a complete restore request.
func TestRestoreCutShortIsNotOutcomeUnknown(t *testing.T) {
	f := newFakeILO(t)
	const size = 16 << 20
	f.route("POST", "/cgi-bin/uploadRestoreFile", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
		hangUp(t, w)
	})
	c := f.client(t)
	ctx := testCtx(t)
	err := client.With(ctx, c.Session(), func(ctx context.Context) error {
		return c.Restore(ctx, "/cgi-bin/uploadRestoreFile", func() (io.ReadCloser, error) {
			return io.NopCloser(&patternReader{left: size}), nil
		}, size, "x.bak", "")
	})
	if err == nil || errors.Is(err, ErrRestoreOutcomeUnknown) || !strings.Contains(err.Error(), "upload did not complete") {
		t.Fatalf("error = %v", err)
	}
}
