package client

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
)

// Target is what a device client is configured to reach: every device client checks
// it the same way before it sends anything.
type Target struct {
	// Kind names the device in errors: "conductor", "ilo", "apstra".
	Kind string
	// Host is a DNS name or IP address (IPv6 with or without brackets), without
	// scheme, port or path.
	Host string
	// Port is the HTTPS port; 0 means DefaultPort.
	Port, DefaultPort int
	// Username and Password are the account's credentials; both are required.
	Username, Password string
}

// Address is a checked Target's address.
type Address struct {
	Host     string // without brackets
	Port     int    // DefaultPort when the target gave none
	HostPort string // host:port for URLs (IPv6 bracketed)
	// Name is how errors name the device: the host (IPv6 bracketed), with the port
	// when it is not the default one.
	Name string
}

// Check validates t and returns its address. Errors name t.Kind and say what to set.
func (t Target) Check() (Address, error) {
	host, err := t.checkHost()
	if err != nil {
		return Address{}, err
	}
	port := t.Port
	if port == 0 {
		port = t.DefaultPort
	}
	if port < 1 || port > 65535 {
		return Address{}, fmt.Errorf("%s port %d is out of range: use 1-65535 (the default is %d)", t.Kind, t.Port, t.DefaultPort)
	}
	if t.Username == "" {
		return Address{}, fmt.Errorf("%s username is empty: set the name of the account to log in with", t.Kind)
	}
	if t.Password == "" {
		return Address{}, fmt.Errorf("%s password is empty: set the password of the account", t.Kind)
	}
	a := Address{Host: host, Port: port, HostPort: net.JoinHostPort(host, strconv.Itoa(port)), Name: host}
	if strings.Contains(host, ":") {
		a.Name = "[" + host + "]"
	}
	if port != t.DefaultPort {
		a.Name = a.HostPort
	}
	return a, nil
}

// checkHost returns the host without brackets, or why it is not a DNS name or an IP
// address alone.
func (t Target) checkHost() (string, error) {
	h := t.Host
	if h == "" {
		return "", errors.New(t.Kind + " host is empty: set the device's DNS name or IP address")
	}
	if strings.Contains(h, "://") {
		return "", fmt.Errorf("%s host %q must be a DNS name or IP address only, without https:// or a path", t.Kind, h)
	}
	for _, r := range h {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("/\\?#@", r) {
			return "", fmt.Errorf("%s host %q must be a DNS name or IP address only, without a path, user or spaces", t.Kind, h)
		}
	}
	bracketed := strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")
	if bracketed {
		h = h[1 : len(h)-1]
	}
	if strings.ContainsAny(h, "[]") {
		return "", fmt.Errorf("%s host %q is not a valid DNS name or IP address", t.Kind, h)
	}
	if strings.Contains(h, ":") {
		addr := h
		if i := strings.IndexByte(addr, '%'); i >= 0 { // zone, e.g. fe80::1%eth0
			addr = addr[:i]
		}
		if ip := net.ParseIP(addr); ip == nil || ip.To4() != nil {
			return "", fmt.Errorf("%s host %q must not include a port: set port separately (an IPv6 address may be given with or without brackets)", t.Kind, h)
		}
	} else if bracketed {
		return "", fmt.Errorf("%s host %q: brackets are only for IPv6 addresses", t.Kind, h)
	} else if strings.Contains(h, "%") {
		return "", fmt.Errorf("%s host %q is not a valid DNS name or IP address", t.Kind, h)
	}
	return h, nil
}
