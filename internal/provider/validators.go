package provider

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/backupstore"
)

// stringCheck adapts a plain check function into a plan-time string validator.
type stringCheck struct {
	description string
	check       func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.description }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.description }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+req.Path.String(), err.Error())
	}
}

func durationBetween(min, max time.Duration) validator.String {
	return stringCheck{
		description: fmt.Sprintf("a Go duration between %s and %s", min, max),
		check: func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it like \"90s\", \"2m\" or \"1h30m\"", s)
			}
			if d < min || d > max {
				return fmt.Errorf("%s is out of range: it must be between %s and %s", d, min, max)
			}
			return nil
		},
	}
}

type pemValidator struct{}

func (pemValidator) Description(context.Context) string {
	return "PEM-encoded certificates"
}
func (v pemValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (pemValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if !pemHoldsCertificate(req.ConfigValue.ValueString()) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid CA certificate",
			req.Path.String()+" must hold at least one PEM block starting with -----BEGIN CERTIFICATE----- (for example file(\"ca.pem\")).")
	}
}

// pemHoldsCertificate reports whether s starts with a PEM certificate block.
func pemHoldsCertificate(s string) bool {
	block, _ := pem.Decode([]byte(s))
	return block != nil && block.Type == "CERTIFICATE"
}

// hostValidator accepts a DNS name or an IP address, not a URL (checkHost).
func hostValidator() validator.String {
	return stringCheck{description: "a host name or IP address (no scheme, port or path)", check: checkHost}
}

// checkHost accepts a DNS name or an IP address, not a URL. IPv6 addresses are
// written without brackets: the device clients and the SCP host resolution take them so.
func checkHost(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("the host is empty: give the device's name or IP address")
	case strings.Contains(s, "://"):
		return fmt.Errorf("%q is a URL: give only the host name or address (the port goes in port)", s)
	case strings.ContainsAny(s, "/ \t\n@?#"):
		return fmt.Errorf("%q is not a host name or address", s)
	}
	if inner := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"); inner != s && net.ParseIP(inner) != nil {
		return fmt.Errorf("%q has brackets: write the IPv6 address without them (%q); the port goes in port", s, inner)
	}
	if strings.ContainsAny(s, "[]") {
		return fmt.Errorf("%q is not a host name or address", s)
	}
	if net.ParseIP(s) != nil {
		return nil
	}
	if strings.Contains(s, ":") {
		return fmt.Errorf("%q looks like host:port: put the port in the port argument", s)
	}
	if len(s) > 253 {
		return fmt.Errorf("the host name is longer than 253 characters")
	}
	return nil
}

func nameValidator() validator.String {
	return stringCheck{
		description: "a folder name: 1-64 letters, digits, '.', '_' or '-'",
		check:       backupstore.ValidName,
	}
}

// relativeDirValidator accepts a folder relative to the SCP user's home, without "..".
func relativeDirValidator() validator.String {
	return stringCheck{
		description: "a folder relative to the SCP user's home",
		check: func(s string) error {
			if strings.ContainsAny(s, "\\\x00\n") {
				return fmt.Errorf("%q contains a backslash or a control character", s)
			}
			for _, seg := range strings.Split(s, "/") {
				if seg == ".." {
					return fmt.Errorf("%q must not contain \"..\"", s)
				}
			}
			if path.Clean("/"+s) == "/" && s != "" && s != "." {
				return fmt.Errorf("%q names the root: leave remote_dir empty for the SCP user's home", s)
			}
			return nil
		},
	}
}

func configPathValidator() validator.String {
	return stringCheck{
		description: "a configuration node path such as /md",
		check: func(s string) error {
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " ?&#\\") {
				return fmt.Errorf("%q is not a configuration node path: it starts with \"/\", for example \"/md\" or \"/mm/mynode\"", s)
			}
			return nil
		},
	}
}

// regexpValidator checks that a string is a Go (RE2) regular expression.
func regexpValidator() validator.String {
	return stringCheck{
		description: "a regular expression (Go RE2 syntax)",
		check: func(s string) error {
			if _, err := regexp.Compile(s); err != nil {
				return errors.New(regexpError(s, err))
			}
			return nil
		},
	}
}

func regexpError(pattern string, err error) string {
	return fmt.Sprintf("%q is not a regular expression in Go's RE2 syntax (%v). Lookarounds and backreferences are not supported; escape a literal (, [, . or * with a backslash.", pattern, err)
}
