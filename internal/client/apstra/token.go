package apstra

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jwtClaims is what the client reads of a token: its expiry, and every value that
// must be scrubbed wherever it appears.
type jwtClaims struct {
	expires time.Time
	// secrets are the token's parts (payload, signature, header.payload), the
	// decoded payload and its claim values: a device or proxy that echoes any of
	// them must not get it into a log or an error. The username claim is left out:
	// it is the configured user name, not a secret, and masking it would mangle
	// every message that names the user.
	secrets []string
}

// minSecretLen is the shortest claim value scrubbed: a hostile token with a claim "a"
// must not mask every "a" of every message.
const minSecretLen = 6

// maxTokenLen bounds the token a server may hand out (Apstra's are a few hundred bytes).
const maxTokenLen = 16 << 10

// parseJWT reads an Apstra token. The payload is base64url without padding; some
// servers and proxies pad it, and one client writes standard base64, so all three
// are accepted. The signature is not checked: the server checks its own tokens.
// Whatever the token holds, its parts are returned as secrets.
func parseJWT(token string) (jwtClaims, error) {
	cl, err := readJWT(token)
	cl.secrets = slices.DeleteFunc(cl.secrets, func(v string) bool { return len(v) < minSecretLen })
	return cl, err
}

func readJWT(token string) (jwtClaims, error) {
	var cl jwtClaims
	if len(token) > maxTokenLen {
		return cl, errors.New("the token is implausibly long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return cl, errors.New("the token is not a JWT (three dot-separated parts)")
	}
	cl.secrets = append(cl.secrets, parts[1], parts[2], parts[0]+"."+parts[1])
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return cl, errors.New("the token's payload is not base64")
	}
	cl.secrets = append(cl.secrets, string(payload))
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return cl, errors.New("the token's payload is not a JSON object")
	}
	for k, v := range claims {
		if k == "username" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			cl.secrets = append(cl.secrets, s)
		} else if t := strings.TrimSpace(string(v)); t != "null" && t != "true" && t != "false" && !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
			cl.secrets = append(cl.secrets, t)
		}
	}
	raw, ok := claims["exp"]
	if !ok {
		return cl, errors.New("the token has no exp claim")
	}
	exp, err := unixSeconds(raw)
	if err != nil {
		return cl, err
	}
	cl.expires = exp
	return cl, nil
}

func decodeSegment(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// unixSeconds reads an exp claim: a JSON number (possibly fractional) or a numeric string.
func unixSeconds(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(strings.TrimSpace(s))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("the token's exp claim is not a plausible Unix time")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
