// Package apstra is the Juniper Apstra client for fabric backups and direct API
// access: log in (POST /api/aaa/login, or /api/user/login where the first answers
// 404), send the token in the AuthToken header, and export what an operator needs to
// audit, diff or rebuild a fabric — blueprint graphs, deploy state, revisions,
// connectivity templates, managed devices' deployed configurations, the design
// catalog and the resource pools.
//
// It holds no Terraform types. All traffic goes through client.Client.Do, so TLS
// verification, timeouts, retries of safe requests (with backoff honouring
// Retry-After on 429 and 503) and secret-free logging are shared with the other
// device clients.
//
//	ac, _ := apstra.New(hc, apstra.Config{Host: "apstra.example.net", Username: u, Password: p})
//	err := client.With(ctx, ac.Session(), func(ctx context.Context) error {
//		bps, err := ac.Blueprints(ctx)
//		...
//		body, err := ac.OpenBlueprint(ctx, bps[0].ID) // streamed, never held whole
//		g, err := apstra.ScanGraph(io.TeeReader(body, file))
//		...
//	})
//
// Sessions: one login per Session, an expired token (401) replaced once for GETs
// (all the export calls are GETs, safe to repeat), and the logout always sent, on the
// path family the login used; a 401 at logout means the session already ended and is
// not an error. A refused password (401 at login) is never sent again by any client
// of this process for the same server: five refusals within 60 s ban the address for
// 3 minutes. A ban answers 429 with a Retry-After longer than the HTTP layer waits
// for, so it fails at once with advice instead of hanging.
//
// Secrets: the password, the token, the token's parts and its claims (but the user
// name) are scrubbed from every error and log line, also when a server or a proxy
// echoes them.
//
// Device text: identifiers are checked before they go into a URL (no separators,
// dot segments, blanks or secrets); labels, hostnames and other strings are device
// text, shown scrubbed and never used as paths by this package (nor should callers).
// Streams (OpenBlueprint, OpenConnectivityTemplates, OpenCollection) fail their Read
// when the transfer breaks off, naming the server, the step and the blueprint, and
// also when a body without a length ends before its JSON document does.
package apstra
