package aruba

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// syntaxError is a schema error, answered as {"Error":"<object>: wrong syntax: ..."}.
type syntaxError string

// objectSchema lists the fields an action object accepts and those it requires.
type objectSchema struct {
	fields   []string
	required []string
}

var schemas = map[string]objectSchema{
	"copy_running_flash": {fields: []string{"filename"}, required: []string{"filename"}},
	"flash_backup":       {fields: []string{"backup_flash", "filename"}, required: []string{"backup_flash", "filename"}},
	"copy_flash_scp": {
		fields:   []string{"srcfilename", "scphost", "username", "passwd", "destfilename"},
		required: []string{"srcfilename", "scphost", "username", "passwd", "destfilename"},
	},
	"tar_flash_clean": {},
}

// schemaFor is the schema of object on this build.
func (c *Conductor) schemaFor(object string) (objectSchema, bool) {
	s, ok := schemas[object]
	if ok && object == "flash_backup" && c.cfg.AOS82 {
		// AOS 8.2.x has no filename field: the archive is always flashbackup.tar.gz.
		s = objectSchema{fields: []string{"backup_flash"}, required: []string{"backup_flash"}}
	}
	return s, ok
}

// parseBody checks a JSON body against the schema and returns its string fields.
func parseBody(raw []byte, schema objectSchema) (map[string]string, map[string]any, *syntaxError) {
	fail := func(format string, args ...any) (map[string]string, map[string]any, *syntaxError) {
		e := syntaxError(fmt.Sprintf(format, args...))
		return nil, nil, &e
	}
	body := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return fail("invalid JSON in request body")
		}
		if dec.More() {
			return fail("invalid JSON in request body")
		}
	}
	allowed := map[string]bool{}
	for _, f := range schema.fields {
		allowed[f] = true
	}
	var unknown []string
	for k := range body {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail("unexpected parameter '%s'", strings.Join(unknown, "', '"))
	}
	fields := map[string]string{}
	for k, v := range body {
		s, ok := v.(string)
		if !ok {
			return fail("parameter '%s' must be a string", k)
		}
		fields[k] = s
	}
	var missing []string
	for _, f := range schema.required {
		if strings.TrimSpace(fields[f]) == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fail("missing mandatory parameter '%s'", strings.Join(missing, "', '"))
	}
	return fields, body, nil
}

// result is the outcome of one configuration action.
type result struct {
	status int    // 0 success, 1 refused request, 2 failed action
	msg    string // status_str
}

func ok(msg string) result              { return result{0, msg} }
func refused(f string, a ...any) result { return result{1, fmt.Sprintf(f, a...)} }
func failed(f string, a ...any) result  { return result{2, fmt.Sprintf(f, a...)} }

// envelope renders the documented answer:
// {"<name>":{...echo...,"_result":{...}},"_global_result":{...,"_pending":false}}.
func (c *Conductor) envelope(object string, echo map[string]any, res result) []byte {
	obj := map[string]any{}
	for k, v := range echo {
		obj[k] = v
	}
	if _, ok := obj["passwd"]; ok {
		obj["passwd"] = "********"
	}
	obj["_result"] = struct {
		Status    any    `json:"status"`
		StatusStr string `json:"status_str"`
	}{c.status(res.status), res.msg}
	return mustJSON(map[string]any{
		object: obj,
		"_global_result": struct {
			Status    any    `json:"status"`
			StatusStr string `json:"status_str"`
			Pending   bool   `json:"_pending"`
		}{c.status(res.status), res.msg, false},
	})
}

func (c *Conductor) handleObject(w http.ResponseWriter, r *http.Request, object string) {
	if !c.requireSession(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBodyLen))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, mustJSON(map[string]string{"Error": object + ": request body too large"}))
		return
	}
	schema, known := c.schemaFor(object)
	if !known {
		var echo map[string]any
		_ = json.Unmarshal(raw, &echo)
		writeJSON(w, http.StatusOK, c.envelope(object, echo, refused("Invalid object name: %s", object)))
		return
	}
	fields, echo, serr := parseBody(raw, schema)
	if serr != nil {
		writeJSON(w, http.StatusOK, mustJSON(map[string]string{"Error": object + ": wrong syntax: " + string(*serr)}))
		return
	}
	var res result
	switch object {
	case "copy_running_flash":
		res = c.copyRunningFlash(fields)
	case "flash_backup":
		var done bool
		res, done = c.flashBackup(r, fields)
		if !done {
			return // the client went away during the backup
		}
	case "copy_flash_scp":
		res = c.copyFlashSCP(r, fields)
	case "tar_flash_clean":
		res = c.tarFlashClean()
	}
	writeJSON(w, http.StatusOK, c.envelope(object, echo, res))
}

func (c *Conductor) copyRunningFlash(f map[string]string) result {
	name := f["filename"]
	if len(name) > maxCopyNameLen {
		return refused("filename is too long (at most %d characters)", maxCopyNameLen)
	}
	if !validFlashName(name) {
		return refused("Invalid filename: %s", name)
	}
	c.mu.Lock()
	c.flash[name] = flashFile{data: []byte(c.runningConfig), modTime: c.Now()}
	c.mu.Unlock()
	c.Logf("copy_running_flash: wrote %s", name)
	return ok(msgSuccess)
}

// flashBackup waits FlashBackupDelay (returning done=false if the request is cancelled
// meanwhile: nothing is written), then archives the flash.
func (c *Conductor) flashBackup(r *http.Request, f map[string]string) (res result, done bool) {
	kind := f["backup_flash"]
	if kind != "flash" && kind != "config" {
		return refused("Invalid value for backup_flash: %s (expected flash or config)", kind), true
	}
	target := flashBackupAOS82
	if !c.cfg.AOS82 {
		base := f["filename"]
		if len(base) > maxBackupNameLen {
			return refused("filename is too long (at most %d characters)", maxBackupNameLen), true
		}
		if !validFlashName(base) {
			return refused("Invalid filename: %s", base), true
		}
		target = base + ".tar.gz"
	}
	if d := c.cfg.FlashBackupDelay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			c.Logf("flash_backup: abandoned, the client went away")
			return result{}, false
		}
	}
	c.mu.Lock()
	var names []string
	for _, n := range c.flashNames() {
		if isTarName(n) || (kind == "config" && !isConfigName(n)) {
			continue
		}
		names = append(names, n)
	}
	archive, err := buildArchive(c.flash, names)
	if err == nil {
		c.flash[target] = flashFile{data: archive, modTime: c.Now()}
	}
	c.mu.Unlock()
	if err != nil {
		return failed("Flash backup failed: %v", err), true
	}
	c.Logf("flash_backup: wrote %s (%d bytes, %d files)", target, len(archive), len(names))
	return ok(msgSuccess), true
}

func (c *Conductor) copyFlashSCP(r *http.Request, f map[string]string) result {
	host := f["scphost"]
	if net.ParseIP(host) == nil {
		return refused("Invalid scphost %q: an IPv4 or IPv6 address is required", host)
	}
	src, dest := f["srcfilename"], f["destfilename"]
	if len(dest) > maxCopyNameLen {
		return refused("destfilename is too long (at most %d characters)", maxCopyNameLen)
	}
	c.mu.Lock()
	file, found := c.flash[src]
	c.mu.Unlock()
	if !found {
		return failed("Error copying file: %s: No such file or directory on flash", src)
	}
	err := c.upload(r.Context(), host, f["username"], f["passwd"], dest, file.data)
	if err != nil {
		c.Logf("copy_flash_scp: %s to %s failed: %v", src, host, err)
		return failed("Error copying file %s to %s: %v", src, host, err)
	}
	c.Logf("copy_flash_scp: uploaded %s (%d bytes) to %s as %s", src, len(file.data), host, dest)
	return ok(msgUploadOK)
}

func (c *Conductor) tarFlashClean() result {
	c.mu.Lock()
	var removed []string
	for name := range c.flash {
		if isTarName(name) {
			delete(c.flash, name)
			removed = append(removed, name)
		}
	}
	c.mu.Unlock()
	sort.Strings(removed)
	c.Logf("tar_flash_clean: removed %v", removed)
	return ok(msgSuccess)
}
