// Package aruba simulates an ArubaOS 8 Mobility Conductor's REST API (the parts the
// backup provider uses), quirks included; ../README.md lists each behaviour with the
// source it comes from:
//
//   - login by GET (query) or POST (form body); success, failure (HTTP 200 or 401) and
//     session-limit bodies; a session table with a concurrent-session limit (64) and an
//     idle timeout (900 s);
//   - later calls authenticated by query UIDARUBA, cookie SESSION or header
//     X-CSRF-Token, optionally requiring the header (StrictCSRF); an expired or unknown
//     session answered with HTTP 401/403 or with HTTP 200 and status 1;
//   - status as the string "0"/"1" or the number 0/1;
//   - the configuration actions copy_running_flash, flash_backup (slow on demand, and
//     the AOS 8.2 form that refuses "filename"), copy_flash_scp (a real upload over
//     SFTP) and tar_flash_clean, on an in-memory flash;
//   - show commands, with an empty body for unknown or abbreviated commands;
//   - injected faults (devicesim.Faults), counters (devicesim.Stats, /_sim/stats) and
//     a clock (Config.Clock) that session expiry and flash file times read;
//     ExpireNextCalls expires the session of the next show commands and configuration
//     actions (not of a login or logout).
//
// Shapes no source pins down, chosen here (the "ours" of ../README.md):
//
//   - A login refused at the session limit answers like a failed login (HTTP 200, or
//     401 with FailedLoginHTTP401) with
//     {"_global_result":{"status":"1","status_str":"Maximum number of sessions reached (64)"}}.
//   - `show hostname` answers {"_data":["Hostname is <name>"]}.
//   - Schema errors (malformed JSON, a missing or non-string mandatory field, an
//     unknown field — which is how AOS 8.2 refuses flash_backup's "filename") answer
//     only {"Error":"<object>: wrong syntax: ..."}. Refused values and failed actions
//     answer the full envelope with a non-zero status (1: refused request, 2: the
//     action failed, e.g. the SCP upload).
//   - The copy_flash_scp echo masks "passwd".
//   - Logout always answers the documented body; only a known session counts as a
//     logout.
//
// The simulator never logs the credentials a client sends (neither the device's nor the
// SCP server's).
package aruba
