package redfish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// MaxBackupPasswordLength is the longest backup password iLO accepts, in characters.
const MaxBackupPasswordLength = 32

// BackupService is the state of the HpeiLOBackupRestoreService.
type BackupService struct {
	// BackupFileLocation is where the backup the GET just created can be downloaded.
	// It is device text: OpenBackup checks it with ResolveBackupLocation.
	BackupFileLocation string
	// HttpPushUri is where a restore is uploaded (e.g. /cgi-bin/uploadRestoreFile).
	HttpPushUri string //nolint:revive // the Redfish property name
	// CustomBackupAndRestore is the CustomBackupandRestore flag; nil when the firmware
	// lacks the property (iLO 5 before 2.72).
	CustomBackupAndRestore *bool
	// ETag is the resource's ETag (header, else @odata.etag), often weak: W/"9FD2104B".
	ETag string
	// backupFiles is the BackupFiles link as the iLO sent it (device text, checked
	// by CountBackupFiles); "" when the service links no such collection.
	backupFiles string
}

type serviceDoc struct {
	BackupFileLocation     string
	HttpPushUri            string //nolint:revive // the Redfish property name
	CustomBackupandRestore *bool
	BackupFiles            *odataLink
	ODataETag              string `json:"@odata.etag"`
}

type backupFilesDoc struct {
	Members   []json.RawMessage
	MemberCnt *int `json:"Members@odata.count"`
	Oem       struct {
		Hpe struct{ BackupFileCount *int }
	}
	ODataCount *int `json:"@odata.count"`
}

// ReadBackupService GETs the backup service: one call (plus the manager, for the
// service's link, when Discover has not run in this client).
//
// Every GET of the service makes the iLO write a fresh backup file to its NAND
// (the documented way to trigger a backup), so call it only when a backup is wanted
// or the cost is acceptable; BackupFileLocation then names that new file.
func (c *Client) ReadBackupService(ctx context.Context) (BackupService, error) {
	const step = "read backup service"
	sp, err := c.backupServicePath(ctx, step)
	if err != nil {
		return BackupService{}, err
	}
	var svc BackupService
	err = c.call(ctx, step, func(ctx context.Context, token string) error {
		s, err := c.readService(ctx, step, sp, token)
		if err != nil {
			return err
		}
		if err := c.refuseSecrets(step, map[string]string{"BackupFileLocation": s.BackupFileLocation, "HttpPushUri": s.HttpPushUri}); err != nil {
			return err
		}
		svc = s
		// Remembered, not read: only a close-delimited download needs the collection
		// (checkAdvertisedSize); a backup never reads it otherwise.
		if s.backupFiles != "" {
			if fp, perr := devicePath(s.backupFiles, true); perr == nil {
				c.mu.Lock()
				c.filesPath = fp
				c.mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return BackupService{}, err
	}
	return svc, nil
}

// CountBackupFiles reads the BackupFiles collection svc links and returns how many
// backup files the iLO holds; -1, and no error, when svc links no collection.
// The count is information only (no backup, restore or flag needs it): callers
// report its error as a warning rather than fail.
func (c *Client) CountBackupFiles(ctx context.Context, svc BackupService) (int, error) {
	const step = "count backup files"
	if svc.backupFiles == "" {
		c.log(ctx, "the backup service links no BackupFiles collection", nil)
		return -1, nil
	}
	fp, err := devicePath(svc.backupFiles, true)
	if err != nil {
		return -1, &client.DeviceError{Device: c.device, Step: step,
			Message: "the iLO linked its backup files at an unsafe path " + quoteSanitized(svc.backupFiles, c.secrets) + ": " + err.Error()}
	}
	count := -1
	err = c.call(ctx, step, func(ctx context.Context, token string) error {
		var files backupFilesDoc
		if _, err := c.getJSON(ctx, step, fp, token, "the BackupFiles collection", &files); err != nil {
			return err
		}
		switch {
		case files.Oem.Hpe.BackupFileCount != nil:
			count = *files.Oem.Hpe.BackupFileCount
		case files.MemberCnt != nil:
			count = *files.MemberCnt
		case files.ODataCount != nil:
			count = *files.ODataCount
		default:
			count = len(files.Members)
		}
		return nil
	})
	if err != nil {
		return -1, err
	}
	return count, nil
}

// readService GETs the service resource once (which creates a backup on the iLO).
func (c *Client) readService(ctx context.Context, step, sp, token string) (BackupService, error) {
	var doc serviceDoc
	h, err := c.getJSON(ctx, step, sp, token, "the backup service", &doc)
	if err != nil {
		return BackupService{}, err
	}
	svc := BackupService{
		BackupFileLocation:     doc.BackupFileLocation,
		HttpPushUri:            doc.HttpPushUri,
		CustomBackupAndRestore: doc.CustomBackupandRestore,
		ETag:                   h.Get("ETag"),
	}
	if svc.ETag == "" {
		svc.ETag = doc.ODataETag
	}
	if doc.BackupFiles != nil {
		svc.backupFiles = doc.BackupFiles.ID
	}
	return svc, nil
}

// ValidateBackupPassword checks a backup password against the iLO's limits (at most
// 32 characters, no control characters). The error never contains the password.
func ValidateBackupPassword(p string) error {
	if n := utf8.RuneCountInString(p); n > MaxBackupPasswordLength {
		return fmt.Errorf("the backup password is %d characters long; the iLO accepts at most %d", n, MaxBackupPasswordLength)
	}
	if !utf8.ValidString(p) {
		return errors.New("the backup password is not valid UTF-8")
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return errors.New("the backup password contains control characters")
		}
	}
	return nil
}

// OpenBackup downloads the backup at location (a BackupFileLocation, checked with
// ResolveBackupLocation). Without a backup password it GETs the file; with one it
// POSTs multipart/form-data {sessionKey, password} to the same path, as HPE's
// iLOrest does, and the iLO encrypts the backup with it (it then restores only with
// that password). The body is streamed, never buffered: the caller reads and closes
// it while ctx is alive and before closing the session, and treats it as a secret (it
// holds the user database and license keys). A body that ends early returns an error
// from Read (io.ErrUnexpectedEOF or the connection error), never a silent short file.
// size is the Content-Length, or -1 when the iLO does not send one.
func (c *Client) OpenBackup(ctx context.Context, location, backupPassword string) (body io.ReadCloser, size int64, err error) {
	const step = "download backup"
	p, err := c.backupLocation(step, location)
	if err != nil {
		return nil, 0, err
	}
	if err := ValidateBackupPassword(backupPassword); err != nil {
		return nil, 0, &client.DeviceError{Device: c.device, Step: step, Message: err.Error()}
	}
	c.secrets.Add(backupPassword)
	err = c.call(ctx, step, func(ctx context.Context, token string) error {
		var req *http.Request
		var err error
		if backupPassword == "" {
			req, err = c.newRequest(ctx, http.MethodGet, p, nil, token)
		} else {
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			_ = mw.WriteField("sessionKey", token)
			_ = mw.WriteField("password", backupPassword)
			_ = mw.Close()
			// Downloading starts no job: safe for the transport to repeat.
			req, err = c.newRequest(client.Repeatable(ctx), http.MethodPost, p, bytes.NewReader(form.Bytes()), token)
			if err == nil {
				req.Header.Set("Content-Type", mw.FormDataContentType())
				req.Header.Set("Cookie", "sessionKey="+token)
			}
		}
		if err != nil {
			return &client.DeviceError{Device: c.device, Step: step, Err: err}
		}
		req.Header.Set("Accept", "application/octet-stream, */*")
		resp, err := c.send(req, step)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			defer closeBody(resp)
			return c.responseError(step, resp, true)
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" || mt == "application/json" {
			defer closeBody(resp)
			data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			msg, _ := parseError(resp.StatusCode, data, c.secrets).describe()
			return &client.DeviceError{Device: c.device, Step: step, HTTPStatus: resp.StatusCode,
				Message: "the iLO answered with " + mt + " instead of a backup file: " + msg,
				Hint:    "retry; if it persists, check the iLO firmware (iLO 5 2.72 or later, iLO 6, iLO 7)"}
		}
		body, size = resp.Body, resp.ContentLength
		if size < 0 && len(resp.TransferEncoding) == 0 {
			// Close-delimited: the body ends when the connection closes, as it also
			// does when the download is cut. Check its length against the size the
			// iLO advertises for the file once it ends.
			body = &closeDelimitedBody{ReadCloser: resp.Body, end: func(n int64) error {
				return c.checkAdvertisedSize(ctx, step, token, p, n)
			}}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	c.log(ctx, "backup download started", map[string]any{"size": size, "password_protected": backupPassword != ""})
	return body, size, nil
}

// backupLocation checks a BackupFileLocation (ResolveBackupLocation), and that it
// holds no secret, and returns the path to download.
func (c *Client) backupLocation(step, location string) (string, error) {
	if err := c.refuseSecrets(step, map[string]string{"backup location": location}); err != nil {
		return "", err
	}
	p, err := ResolveBackupLocation(location)
	if err != nil {
		return "", &client.DeviceError{Device: c.device, Step: step, Message: c.secrets.Scrub(err.Error()),
			Hint: "this is not what an HPE iLO sends: check that the address is the iLO and that nothing between rewrites its answers"}
	}
	return p, nil
}

// closeDelimitedBody is a download body without framing: at its end, end checks that
// the n bytes read are the whole file, and its error replaces the end of the body.
type closeDelimitedBody struct {
	io.ReadCloser
	n     int64
	end   func(n int64) error
	ended bool
}

func (b *closeDelimitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if errors.Is(err, io.EOF) && !b.ended {
		b.ended = true
		if cerr := b.end(b.n); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// maxBackupFileMembers bounds how many BackupFiles members are read (iLO keeps one).
const maxBackupFileMembers = 16

// checkAdvertisedSize compares the n bytes a close-delimited download of p delivered
// with the FileSize the BackupFiles collection gives for that file. Without an
// advertised size a cut could not be told from the end of the file: that is an error
// too, so nothing incomplete is ever kept.
func (c *Client) checkAdvertisedSize(ctx context.Context, step, token, p string, n int64) error {
	name := path.Base(p)
	c.mu.Lock()
	fp := c.filesPath
	c.mu.Unlock()
	fail := errors.New // the caller's read error: it names the device and the step
	if fp == "" {
		return fail(fmt.Sprintf("the iLO sent the backup without a length (no Content-Length, not chunked) and links no BackupFiles collection "+
			"advertising its size, so the %d bytes received cannot be known to be the whole file", n))
	}
	var files backupFilesDoc
	if _, err := c.getJSON(ctx, step, fp, token, "the BackupFiles collection", &files); err != nil {
		return err
	}
	for i, raw := range files.Members {
		if i == maxBackupFileMembers {
			break
		}
		var link odataLink
		if json.Unmarshal(raw, &link) != nil {
			continue
		}
		mp, err := devicePath(link.ID, true)
		if err != nil {
			continue
		}
		var member struct {
			Name     string
			FileSize *int64
		}
		if _, err := c.getJSON(ctx, step, mp, token, "a BackupFiles member", &member); err != nil {
			return err
		}
		if !strings.EqualFold(member.Name, name) || member.FileSize == nil {
			continue
		}
		if *member.FileSize != n {
			return fail(fmt.Sprintf("the download ended after %d bytes, but the iLO advertises %d bytes for %s: it was cut short "+
				"(the iLO sent no Content-Length, so only the advertised size tells)", n, *member.FileSize, quoteSanitized(name, c.secrets)))
		}
		return nil
	}
	return fail(fmt.Sprintf("the iLO sent the backup without a length (no Content-Length, not chunked) and advertises no size for %s, "+
		"so the %d bytes received cannot be known to be the whole file", quoteSanitized(name, c.secrets), n))
}

// SetCustomBackupAndRestore sets the CustomBackupandRestore flag. It GETs the service
// for its ETag (which, like every GET of the service, makes the iLO write a backup),
// and PATCHes {"CustomBackupandRestore": enabled} with If-Match; when the ETag went
// stale (412) it reads again and retries once. A flag that already has the wanted
// value is not PATCHed (each PATCH logs an event in the iLO's IEL). iLO answers a
// successful PATCH with Base.x.Success inside an error object: that is success.
func (c *Client) SetCustomBackupAndRestore(ctx context.Context, enabled bool) error {
	const step = "set CustomBackupandRestore"
	sp, err := c.backupServicePath(ctx, step)
	if err != nil {
		return err
	}
	return c.call(ctx, step, func(ctx context.Context, token string) error {
		for attempt := 1; ; attempt++ {
			svc, err := c.readService(ctx, step, sp, token)
			if err != nil {
				return err
			}
			if svc.CustomBackupAndRestore == nil {
				ex := known["propertynotwritableorunknown"]
				return &client.DeviceError{Device: c.device, Step: step,
					Message: "the iLO's backup service has no CustomBackupandRestore property: " + ex.what,
					Hint:    ex.todo}
			}
			if *svc.CustomBackupAndRestore == enabled {
				c.log(ctx, "CustomBackupandRestore already has the wanted value", map[string]any{"enabled": enabled})
				return nil
			}
			err = c.patchFlag(ctx, step, sp, token, svc.ETag, enabled)
			var de *client.DeviceError
			if attempt == 1 && errors.As(err, &de) && de.HTTPStatus == http.StatusPreconditionFailed {
				c.log(ctx, "the ETag went stale (412); reading the service again and retrying once", nil)
				continue
			}
			if err == nil {
				c.log(ctx, "CustomBackupandRestore set", map[string]any{"enabled": enabled})
			}
			return err
		}
	})
}

// patchFlag sends the PATCH once (the transport never repeats a PATCH).
func (c *Client) patchFlag(ctx context.Context, step, sp, token, etag string, enabled bool) error {
	body := fmt.Sprintf(`{"CustomBackupandRestore":%t}`, enabled)
	req, err := c.newRequest(ctx, http.MethodPatch, sp, strings.NewReader(body), token)
	if err != nil {
		return &client.DeviceError{Device: c.device, Step: step, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	resp, err := c.send(req, step)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		if ae := parseError(resp.StatusCode, data, c.secrets); len(ae.Messages) > 0 && !ae.onlySuccess() {
			c.log(ctx, "the iLO accepted the PATCH with messages", map[string]any{"message_ids": ae.ids()})
		}
		return nil
	}
	return c.errorFrom(step, resp.StatusCode, data, true)
}
