package redfish

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

const maxPathLen = 1024

// ResolveBackupLocation checks a BackupFileLocation the iLO offered and returns the
// path to download it from. The device chooses the name, so it is trusted only as a
// same-origin absolute path naming a file ("/bkupdata/HPE_TWA22525A7_20221208_1512.bak"):
// URLs with a scheme or host ("https://x/…", "//x/…"), relative paths, "." and ".."
// segments (also percent-encoded), empty segments, backslashes, query strings,
// fragments and control characters are refused. The result is percent-decoded and
// clean (path.Clean leaves it unchanged); it never leaves the iLO's origin.
func ResolveBackupLocation(location string) (string, error) {
	p, err := devicePath(location, false)
	if err != nil {
		return "", fmt.Errorf("the iLO offered an unsafe backup location %s: %v", quoteSanitized(location, nil), err)
	}
	return p, nil
}

// devicePath validates a path the device sent (a link, a location, a push URI) and
// returns it percent-decoded. allowDir lets it end in "/", as Redfish resource paths do.
func devicePath(s string, allowDir bool) (string, error) {
	if s == "" {
		return "", errors.New("it is empty")
	}
	if len(s) > maxPathLen {
		return "", fmt.Errorf("it is longer than %d characters", maxPathLen)
	}
	if err := checkChars(s); err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "/") {
		return "", errors.New("only an absolute path on the iLO itself is followed, not a URL or a relative path")
	}
	if strings.HasPrefix(s, "//") {
		return "", errors.New("it names another host")
	}
	dec, err := url.PathUnescape(s)
	if err != nil {
		return "", errors.New("it has invalid percent-encoding")
	}
	if err := checkChars(dec); err != nil {
		return "", err
	}
	if strings.Contains(dec, "%") {
		return "", errors.New("it is percent-encoded more than once")
	}
	if dec == "/" {
		return "", errors.New("it names no file or resource")
	}
	segs := strings.Split(dec[1:], "/")
	for i, seg := range segs {
		switch seg {
		case "..":
			return "", errors.New(`it climbs out of its directory ("..")`)
		case ".":
			return "", errors.New(`it has a "." segment`)
		case "":
			if allowDir && i == len(segs)-1 {
				continue
			}
			return "", errors.New(`it has an empty segment ("//") or ends in "/"`)
		}
	}
	return dec, nil
}

func checkChars(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("it is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '\\':
			return errors.New("it has a backslash")
		case r == '?' || r == '#':
			return errors.New("it has a query string or fragment")
		case unicode.IsControl(r) || r == utf8.RuneError || !unicode.IsPrint(r):
			return errors.New("it has control or unprintable characters")
		}
	}
	return nil
}

// quoteSanitized quotes device text for an error: secrets masked (before it is
// shortened), bounded, control characters escaped.
func quoteSanitized(s string, secrets *client.Secrets) string {
	const max = 120
	s = secrets.Scrub(s)
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}
