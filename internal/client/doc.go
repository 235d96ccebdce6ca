// Package client is the one HTTP layer every device client uses: TLS that is verified
// by default, per-request timeouts, retries only for requests that are safe to repeat,
// a User-Agent naming the provider, and logging in the tflog "client" subsystem with
// every secret masked. It also holds what all device protocols share: the session
// lifecycle (log in once, re-log in once on expiry, always log out, also on a panic),
// DeviceError, the error that names the device, the step and what the device said,
// and Secrets, the one place device text is scrubbed of every secret an operation
// knows (Redact masks what only its key marks as secret).
//
// Device protocols live in subpackages (aruba, redfish, apstra). Nothing here knows about
// Terraform types, so the package can be tested and reused on its own.
package client
