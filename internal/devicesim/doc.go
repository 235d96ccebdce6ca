// Package devicesim holds faithful simulators of the devices this provider backs up.
// They are the ground truth of every test, of the demo and of the benchmarks, so they
// model the real devices' quirks; README.md in this folder lists what each simulator
// models and where each fact comes from.
//
// This package is the base every simulated device builds on, so that a device kind
// writes only its protocol:
//
//   - CA: a throw-away certificate authority; devices serve TLS with its certificate.
//   - Base (NewBase): the device's Stats (served at StatsPath), its injected Faults,
//     its Clock and its SessionTable (a concurrent-session limit, idle expiry on the
//     clock, the session counters). A device embeds the *Base and wraps its protocol
//     handler with Base.Wrap.
//   - Start / Serve: listening, the HTTPS server, and one Close for every device
//     (closes the listener and connections, cancels and waits for the requests in
//     progress, safe to call twice); Server.DeviceInfo describes the device for a
//     Listing from the device's Identity.
//   - ManualClock: a clock tests move instead of sleeping.
//   - Reply, RandomHex, RandomUUID, FormatUUID, ClientHost, ResetConnection: the
//     small helpers every protocol needs.
//
// Each device kind lives in its own subpackage (aruba, ilo, apstra); sftpserver is the
// SCP server conductors upload to, and cmd/devicesim starts any mix of them.
package devicesim
