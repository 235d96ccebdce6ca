package devicesim

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomHex returns n random bytes in lower-case hex (2n characters): session tokens,
// session ids and the like. Devices mint them from a cryptographic source, so do the
// simulators: a test that finds one in a log found a real leak, not a collision.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// RandomUUID returns a random (version 4) UUID in its canonical text form.
func RandomUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatUUID(b)
}

// FormatUUID writes 16 bytes in the canonical UUID form 8-4-4-4-12 (lower-case hex).
// Devices derive stable UUIDs from their identity with it.
func FormatUUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
