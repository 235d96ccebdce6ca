// Package apstra simulates a Juniper Apstra server's REST API (the parts a fabric
// backup and direct API access use), quirks included; ../README.md lists each
// behaviour with the source it comes from:
//
//   - login by POST {"username","password"} at /api/aaa/login and /api/user/login
//     (LegacyLogin: only the second; the first answers 404), 201 with
//     {"token":"<JWT>","id":"<user id>"}, 401 {"errors":...} for a wrong password;
//     the JWT carries username, created_at, user_session and exp claims and expires
//     after TokenLifetime (24 h by default) on the server's clock;
//   - later calls authenticated by the AuthToken header in any letter case (never
//     Authorization: Bearer); 401 for a missing, unknown, logged-out or expired
//     token; logout by POST at /api/aaa/logout or /api/user/logout (401 for a dead
//     token);
//   - the login rate limit: LoginMaxFailures (5) refused logins from one address
//     within LoginWindow (60 s) ban it for BanDuration (3 min): every login from it
//     then answers 429 with Retry-After, the right password included;
//   - blueprints generated from a few numbers (BlueprintConfig: managed, unmanaged
//     and staging-only systems, nodes, relationships) and streamed: GET
//     /api/blueprints/{id} writes the graph incrementally and never holds it, so a
//     graph of hundreds of MB costs the simulator a few buffers; the list, the
//     nodes by type, deploy state, revisions, the connectivity-template export and
//     config-rendering (200 for a deployed managed system, 422 for a node that is no
//     managed system, 404 for one only in staging when type=deployed);
//   - the design catalog, resource pools, systems, users, roles, features and
//     versions (GET {"items":[...]}, OPTIONS {"items":[ids]});
//   - test hooks: ChangeBlueprint / ChangeNodes (an operator's deployed change: new
//     version, new revision, changed nodes and configurations), CutNextDownload (a
//     reset in the middle of a graph download), Banned / Unban, WriteBlueprint and
//     DeployedConfig (what a client should have received), and from
//     devicesim.Base: Faults (429 with Retry-After, 5xx, resets, malformed JSON,
//     slow answers), Stats at /_sim/stats, ExpireNextCalls and IssuedTokens;
//   - the SSH side (StartSSH, on the shared sftpserver): `sudo aos_backup` writes
//     /var/lib/aos/snapshot/<time>/aos.data.tar.gz (a manifest, every blueprint's
//     graph, the secret keys, a journal) and prints the snapshot's name; SFTP fetches
//     and removes it; sudo needs the password on stdin (sudo -S) unless
//     SSHConfig.SudoNoPassword. HoldBackup makes aos_backup slow: runs wait before
//     or after writing the snapshot until released, and go on once released even
//     when their SSH session has ended, as the real command does.
//
// Shapes no source pins down, chosen here (the "ours" of ../README.md):
//
//   - Error texts: "Invalid credentials" (401 at login), "Authentication required"
//     (no token), "Invalid or expired token", the ban's text, "Node <id> is not a
//     system with an assigned device" (422), "Node <id> does not exist in the
//     deployed blueprint" (404); a malformed login body answers 422 with
//     {"error_code":422,"errors":{<field>:<text>}}.
//   - A ban answers 429 with Retry-After set to the seconds left; it affects logins
//     only, and logins during a ban do not extend it.
//   - The JWT payload is padded with spaces so that its base64url form is also valid
//     standard base64; the signature is HMAC-SHA256 with a key of the simulator's.
//   - Graph content: node ids are 11 base62 characters; system nodes carry label,
//     hostname, role, system_type, system_id, deploy_mode and management_level;
//     filler nodes are interfaces, links, virtual networks and tags; a changed system
//     gets "tags":["rev-<n>"]. Rendered configurations are Junos-style text of about
//     ConfigSize bytes. Key order in the graph is fixed (id, label, design, version,
//     last_modified_at, source_versions, nodes, relationships); graphs are sent
//     chunked, without Content-Length.
//   - GET /api/versions/* need no token; GET /api/user answers the logged-in user.
//   - aos_backup's output: two banner lines around "Backup operation completed
//     successfully." and "New AOS snapshot: <YYYY-MM-DD_hh-mm-ss>"; the tarball's
//     layout (aos.data/manifest.json, aos.data/db/blueprints/<id>.json,
//     aos.data/secrets/aos.key, aos.data/db/journal.bin).
//
// The simulator never logs credentials or tokens.
package apstra
