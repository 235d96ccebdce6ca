package redfish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// invalidRestorePassword is the whole body iLO answers a restore with when the backup
// password is wrong or missing.
const invalidRestorePassword = "invalid_restore_password"

// errUploadFinished stops the form writer once the iLO has answered.
var errUploadFinished = errors.New("restore upload finished")

// ErrRestoreOutcomeUnknown is wrapped by Restore's error when the whole upload was
// sent but no answer arrived (connection lost, no answer in time): the iLO may have
// accepted it and be restoring.
var ErrRestoreOutcomeUnknown = errors.New("restore outcome unknown")

// Restore uploads a backup to pushURI (the service's HttpPushUri) as
// multipart/form-data with the fields sessionKey, password (only when backupPassword
// is set) and file (fileName, application/octet-stream), in that order, with the
// headers X-Auth-Token and Cookie: sessionKey=<token>, as HPE documents. The file is
// streamed from open() through a pipe and never held in memory; with size >= 0 the
// request carries an exact Content-Length (and the file must have exactly size
// bytes), else it is sent chunked. open is called again if the iLO asks for a new
// login before accepting the upload.
//
// The POST is sent once, never repeated by the transport, and its answer may take up
// to the HTTP client's LongAnswerTimeout (the iLO checks the whole file first). A 200
// means the iLO accepted the backup: it then resets, is unreachable for a while (up
// to minutes) and ends every session, so the Session is marked as ended and closing
// it sends no logout; use WaitReady next. When the whole form was sent but no answer
// arrived, the error wraps ErrRestoreOutcomeUnknown: the iLO may be restoring. HPE
// supports restoring only onto the server the backup was taken from.
func (c *Client) Restore(ctx context.Context, pushURI string, open func() (io.ReadCloser, error), size int64, fileName, backupPassword string) error {
	const step = "restore upload"
	p, err := devicePath(pushURI, true)
	if err != nil {
		return &client.DeviceError{Device: c.device, Step: step,
			Message: "the iLO offered an unsafe HttpPushUri " + quoteSanitized(pushURI, c.secrets) + ": " + err.Error(),
			Hint:    "this is not what an HPE iLO sends: check that the address is the iLO"}
	}
	if err := ValidateBackupPassword(backupPassword); err != nil {
		return &client.DeviceError{Device: c.device, Step: step, Message: err.Error()}
	}
	c.secrets.Add(backupPassword)
	if open == nil {
		return &client.DeviceError{Device: c.device, Step: step, Message: "no backup file to upload"}
	}
	name := uploadFileName(fileName)
	err = c.call(ctx, step, func(ctx context.Context, token string) error {
		return c.upload(ctx, step, p, token, open, size, name, backupPassword)
	})
	if err != nil {
		return err
	}
	c.log(ctx, "restore accepted; the iLO is resetting", map[string]any{"size": size})
	c.markSessionEnded(ctx)
	return nil
}

func (c *Client) upload(ctx context.Context, step, p, token string, open func() (io.ReadCloser, error), size int64, name, backupPassword string) error {
	src, err := open()
	if err != nil {
		return &client.DeviceError{Device: c.device, Step: step, Err: fmt.Errorf("open the backup to upload: %w", err)}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	length := int64(-1)
	if size >= 0 {
		overhead, err := formOverhead(mw.Boundary(), token, backupPassword, name)
		if err != nil {
			_ = src.Close()
			return &client.DeviceError{Device: c.device, Step: step, Err: err}
		}
		length = overhead + size
	}
	done := make(chan struct{})
	formSent := false // read only after done is closed
	go func() {
		defer close(done)
		// A pipe write returns once the transport has taken the bytes: without an
		// error, the transport took the whole form.
		werr := writeForm(mw, token, backupPassword, name, src, size)
		formSent = werr == nil
		_ = pw.CloseWithError(werr)
	}()
	finish := func() {
		_ = pr.CloseWithError(errUploadFinished) // unblocks the writer if the iLO answered early
		<-done
	}
	defer func() {
		finish()
		_ = src.Close()
	}()

	req, err := c.newRequest(client.AwaitsLongAnswer(ctx), http.MethodPost, p, pr, token)
	if err != nil {
		return &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	req.ContentLength = length // -1: chunked
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Cookie", "sessionKey="+token)
	req.Header.Set("Accept", "*/*")
	resp, err := c.send(req, step)
	if err != nil {
		finish()
		if formSent {
			return &client.DeviceError{Device: c.device, Step: step,
				Message: "outcome unknown: the whole backup was sent, but no answer arrived (" + errorSummary(err) + "); the iLO may be restoring from it",
				Hint: "do not upload it again before you know: check the iLO's Integrated Management Log and iLO Event Log " +
					"(they record an accepted restore) and whether the iLO is resetting",
				Err: fmt.Errorf("%w: %w", ErrRestoreOutcomeUnknown, err)}
		}
		var de *client.DeviceError
		if errors.As(err, &de) {
			de.Hint = "the upload did not complete, so the iLO should not restore from it; it may still be busy: " +
				"check that it answers (and is not resetting) before trying again"
		}
		return err
	}
	defer closeBody(resp)
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if strings.TrimSpace(string(data)) == invalidRestorePassword {
		return &client.DeviceError{Device: c.device, Step: step, HTTPStatus: resp.StatusCode,
			Message: "the iLO refused the backup password (" + invalidRestorePassword + ")",
			Hint: "the backup password is wrong or missing: a backup taken with a password restores only with that same password, " +
				"and one taken without a password only without one"}
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	err = c.errorFrom(step, resp.StatusCode, data, true)
	var de *client.DeviceError
	if errors.As(err, &de) && de.Hint == "" && resp.StatusCode == http.StatusBadRequest {
		de.Hint = "the iLO refused the upload: check that the file is an unmodified iLO backup taken from this same server " +
			"(HPE supports restoring a backup only onto the server it was taken from)"
	}
	return err
}

// writeFields writes the form fields that precede the file, in the order iLO expects.
func writeFields(mw *multipart.Writer, token, backupPassword string) error {
	if err := mw.WriteField("sessionKey", token); err != nil {
		return err
	}
	if backupPassword != "" {
		return mw.WriteField("password", backupPassword)
	}
	return nil
}

// formOverhead is the size of the form without the file's bytes, for Content-Length.
func formOverhead(boundary, token, backupPassword, name string) (int64, error) {
	var cw countingWriter
	mw := multipart.NewWriter(&cw)
	if err := mw.SetBoundary(boundary); err != nil {
		return 0, err
	}
	if err := writeFields(mw, token, backupPassword); err != nil {
		return 0, err
	}
	if _, err := mw.CreateFormFile("file", name); err != nil {
		return 0, err
	}
	if err := mw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// writeForm streams the whole form; the file must have exactly size bytes when size >= 0.
func writeForm(mw *multipart.Writer, token, backupPassword, name string, src io.Reader, size int64) error {
	if err := writeFields(mw, token, backupPassword); err != nil {
		return err
	}
	part, err := mw.CreateFormFile("file", name) // Content-Type: application/octet-stream
	if err != nil {
		return err
	}
	if size < 0 {
		if _, err := io.Copy(part, src); err != nil {
			return fmt.Errorf("read the backup to upload: %w", err)
		}
		return mw.Close()
	}
	n, err := io.CopyN(part, src, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the backup to upload ended after %d bytes; %d were expected", n, size)
	}
	if err != nil {
		return fmt.Errorf("read the backup to upload: %w", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(src, one[:]); k > 0 {
		return fmt.Errorf("the backup to upload is longer than the %d bytes expected", size)
	}
	return mw.Close()
}

// uploadFileName is the file name sent with the upload: the base name only, without
// control characters, "backup.bak" when nothing is left.
func uploadFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if name == "" || name == "." || name == ".." {
		return "backup.bak"
	}
	return name
}

// MaxWaitReadyInterval caps the backoff between WaitReady probes.
const MaxWaitReadyInterval = 10 * time.Second

// WaitReady waits for the iLO to come back after a restore. When the Client made the
// restore, it first waits until the session that uploaded it is refused (the reset
// has begun: the iLO may answer for a moment after accepting the upload), then until
// the service root answers and a login succeeds; that probe session is logged out
// again. Polls start at poll and back off up to 10 s (or poll, when longer). Wrong
// credentials end the wait at once (the restored configuration holds the accounts of
// the backup). When ctx ends first, the error wraps ctx's error and says what the
// iLO answered last.
func (c *Client) WaitReady(ctx context.Context, poll time.Duration) error {
	const step = "wait for reset"
	if poll <= 0 {
		poll = time.Second
	}
	maxWait := max(poll, MaxWaitReadyInterval)
	start := time.Now()
	c.mu.Lock()
	endedToken, endedPath := c.endedToken, c.endedPath
	c.mu.Unlock()
	resetBegun := endedPath == ""
	wait := poll
	var last error
	for {
		var err error
		if !resetBegun {
			if err = c.endedSessionRefused(ctx, step, endedToken, endedPath); err == nil {
				resetBegun = true
				c.log(ctx, "the iLO has ended the restore session; waiting for it to answer again", nil)
			}
		}
		if resetBegun {
			if err = c.probe(ctx, step); err == nil {
				c.mu.Lock()
				c.endedToken, c.endedPath = "", ""
				c.mu.Unlock()
				c.log(ctx, "the iLO is ready", map[string]any{"waited_ms": time.Since(start).Milliseconds()})
				return nil
			}
			var de *client.DeviceError
			if errors.As(err, &de) && errors.Is(err, ErrBadCredentials) {
				de.Hint = "check the ilo username and password; after a restore the iLO has the accounts of the backup, so if the password changed since the backup was taken, the old one applies"
				return err
			}
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		c.log(ctx, "the iLO is not ready yet", map[string]any{"error": errorSummary(err), "next_poll_ms": wait.Milliseconds()})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(wait*2, maxWait)
	}
	msg := fmt.Sprintf("the iLO did not come back within %s", time.Since(start).Round(time.Second))
	if last != nil {
		msg += " (last: " + errorSummary(last) + ")"
	}
	return &client.DeviceError{Device: c.device, Step: step, Message: msg,
		Hint: "a restore resets the iLO, which can take several minutes: allow more time, then check the iLO's web interface",
		Err:  ctx.Err()}
}

// endedSessionRefused returns nil once the iLO no longer accepts the session that
// uploaded the restore (any answer but 200, or no answer at all).
func (c *Client) endedSessionRefused(ctx context.Context, step, token, p string) error {
	req, err := c.newRequest(ctx, http.MethodGet, p, nil, token)
	if err != nil {
		return nil
	}
	resp, err := c.send(req, step)
	if err != nil {
		return nil //nolint:nilerr // unreachable: the reset has begun
	}
	closeBody(resp)
	if resp.StatusCode == http.StatusOK {
		return &client.DeviceError{Device: c.device, Step: step, HTTPStatus: resp.StatusCode,
			Message: "the iLO still accepts the session that uploaded the restore: the reset has not begun yet"}
	}
	return nil
}

// probe checks that the service root answers and that a login succeeds, and logs
// the probe session out again.
func (c *Client) probe(ctx context.Context, step string) error {
	var root serviceRootDoc
	if _, err := c.getJSON(ctx, step, serviceRootPath, "", "the service root", &root); err != nil {
		return err
	}
	token, p, err := c.createSession(ctx, step)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), client.LogoutTimeout)
	defer cancel()
	if err := c.deleteSession(lctx, step, token, p); err != nil {
		c.log(ctx, "logging the probe session out failed", map[string]any{"error": errorSummary(err)})
	}
	return nil
}

// errorSummary is a one-line description of err for a log line or a wrapping error.
func errorSummary(err error) string {
	if err == nil {
		return ""
	}
	var de *client.DeviceError
	if errors.As(err, &de) {
		var b strings.Builder
		if de.HTTPStatus != 0 {
			fmt.Fprintf(&b, "HTTP %d: ", de.HTTPStatus)
		}
		switch {
		case de.Message != "":
			b.WriteString(de.Message)
		case de.Err != nil:
			b.WriteString(client.Redact(de.Err.Error()))
		}
		return b.String()
	}
	return client.Redact(err.Error())
}
