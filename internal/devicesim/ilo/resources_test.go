package ilo

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// odataLinks collects every "@odata.id" value in a decoded JSON document.
func odataLinks(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "@odata.id" {
				out[s] = true
			}
			odataLinks(e, out)
		}
	case []any:
		for _, e := range x {
			odataLinks(e, out)
		}
	}
}

// TestCrawlEveryLinkedResource crawls the simulated iLO the way iLOrest does on iLO 6
// (every @odata.id from the service root): every linked resource answers, names
// itself by the link, has an @odata.type, and an ETag header equal to its
// @odata.etag; the resource directory lists each with the same type and ETag.
func TestCrawlEveryLinkedResource(t *testing.T) {
	for _, gen := range []string{ILO5, ILO6} {
		t.Run(strings.ReplaceAll(gen, " ", ""), func(t *testing.T) {
			c := start(t, Config{Generation: gen})
			c.login()
			root, svc := "/redfish/v1", "/redfish/v1/Managers/1/BackupRestoreService"
			if gen == ILO5 {
				root, svc = root+"/", svc+"/"
			}
			// Every read of the service mints a backup (a new BackupFiles member):
			// read it once, before the crawl, so the collection stays as crawled.
			seen := map[string]map[string]any{svc: c.getJSON(svc)}
			queue := []string{root}
			for len(queue) > 0 {
				p := queue[0]
				queue = queue[1:]
				if seen[p] != nil {
					continue
				}
				resp, body := c.do("GET", p, nil, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s (linked): %d %s", p, resp.StatusCode, body)
				}
				m := decode(t, body)
				seen[p] = m
				if m["@odata.id"] != p {
					t.Fatalf("GET %s names itself %v", p, m["@odata.id"])
				}
				typ, _ := m["@odata.type"].(string)
				if !strings.HasPrefix(typ, "#") || strings.Count(typ, ".") < 1 {
					t.Fatalf("GET %s: @odata.type %q", p, typ)
				}
				if etag := resp.Header.Get("ETag"); etag == "" || etag != m["@odata.etag"] {
					t.Fatalf("GET %s: ETag header %q, @odata.etag %v", p, etag, m["@odata.etag"])
				}
				if strings.HasSuffix(p, "/") != (gen == ILO5) {
					t.Fatalf("%s: trailing slash does not match %s", p, gen)
				}
				links := map[string]bool{}
				odataLinks(m, links)
				for l := range links {
					if seen[l] == nil {
						queue = append(queue, l)
					}
				}
			}
			for _, want := range []string{"AccountService", "JsonSchemas", "Registries", "ResourceDirectory", "SessionService/Sessions", "Managers/1/BackupRestoreService"} {
				found := false
				for p := range seen {
					if strings.HasSuffix(strings.TrimSuffix(p, "/"), want) {
						found = true
					}
				}
				if !found {
					t.Fatalf("the crawl never reached %s: %v", want, keys(seen))
				}
			}

			// The directory lists every crawled resource except sessions (which come
			// and go) and itself. Read the service first: reading the directory does
			// not mint a backup, so their ETags agree.
			dir := c.getJSON("/redfish/v1/ResourceDirectory/")
			if dir["@odata.type"] != "#HpeiLOResourceDirectory.v2_0_0.HpeiLOResourceDirectory" {
				t.Fatalf("directory type %v", dir["@odata.type"])
			}
			listed := map[string]map[string]any{}
			for _, e := range dir["Instances"].([]any) {
				inst := e.(map[string]any)
				listed[inst["@odata.id"].(string)] = inst
				if inst["ETag"] == nil || inst["HttpMethods"] == nil {
					t.Fatalf("directory entry without ETag or HttpMethods: %v", inst)
				}
			}
			for p, m := range seen {
				if strings.Contains(p, "/Sessions/") && !strings.HasSuffix(strings.TrimSuffix(p, "/"), "Sessions") || strings.Contains(p, "ResourceDirectory") {
					continue
				}
				inst := listed[p]
				if inst == nil {
					t.Fatalf("the directory does not list %s", p)
				}
				if inst["@odata.type"] != m["@odata.type"] {
					t.Fatalf("%s: directory type %v, resource %v", p, inst["@odata.type"], m["@odata.type"])
				}
				// The root carries the time and sessions their access time: their
				// ETags move on their own.
				if p != root && !strings.Contains(p, "Sessions") && inst["ETag"] != m["@odata.etag"] {
					t.Fatalf("%s: directory ETag %v, resource %v", p, inst["ETag"], m["@odata.etag"])
				}
			}
		})
	}
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestServiceRootAsIloRestReadsIt: the links and OEM fields a client reads from the
// unauthenticated service root.
func TestServiceRootAsIloRestReadsIt(t *testing.T) {
	c := start(t, Config{Generation: ILO5, LoginFailuresBeforeDelay: 3})
	root := c.getJSON("/redfish/v1/")
	for _, k := range []string{"JsonSchemas", "Registries", "AccountService", "SessionService", "Managers", "Systems"} {
		if _, ok := root[k].(map[string]any)["@odata.id"].(string); !ok {
			t.Fatalf("root lacks %s: %v", k, root)
		}
	}
	if root["Links"].(map[string]any)["Sessions"].(map[string]any)["@odata.id"] != "/redfish/v1/SessionService/Sessions/" {
		t.Fatalf("Links.Sessions %v", root["Links"])
	}
	hpe := root["Oem"].(map[string]any)["Hpe"].(map[string]any)
	if hpe["Links"].(map[string]any)["ResourceDirectory"].(map[string]any)["@odata.id"] != "/redfish/v1/ResourceDirectory/" {
		t.Fatalf("Oem.Hpe.Links %v", hpe["Links"])
	}
	if hpe["Sessions"].(map[string]any)["LoginFailureDelay"] != float64(1) {
		t.Fatalf("Oem.Hpe.Sessions %v", hpe["Sessions"])
	}

	c.login()
	acct := c.getJSON("/redfish/v1/AccountService/")
	if acct["HTTPBasicAuth"] != "Disabled" || acct["Oem"].(map[string]any)["Hpe"].(map[string]any)["AuthFailuresBeforeDelay"] != float64(3) {
		t.Fatalf("account service %v", acct)
	}
	user := c.getJSON("/redfish/v1/AccountService/Accounts/1/")
	if user["UserName"] != c.d.Username() || user["Password"] != nil {
		t.Fatalf("account %v", user)
	}
	if b, _ := json.Marshal(user); strings.Contains(string(b), c.d.Password()) {
		t.Fatal("the account resource shows the password")
	}
	sess := c.getJSON("/redfish/v1/SessionService/Sessions/")
	if sess["Members@odata.count"] != float64(1) || sess["@odata.type"] != "#SessionCollection.SessionCollection" {
		t.Fatalf("sessions %v", sess)
	}
	schema := c.getJSON("/redfish/v1/JsonSchemas/HpeiLOBackupRestoreService/")
	if schema["Schema"] != "#HpeiLOBackupRestoreService.v2_2_0.HpeiLOBackupRestoreService" {
		t.Fatalf("schema file %v", schema)
	}
}
