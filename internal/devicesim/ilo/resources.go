package ilo

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Resource types as HPE's published resource definitions name them: iLO 6 1.70, and
// iLO 5 3.09 where its versions differ (iLO 7 serves the iLO 6 set). Every body, the
// resource directory and the JsonSchemas collection take their @odata.type from here.
var (
	odataTypes = map[string]string{
		"ServiceRoot":                "#ServiceRoot.v1_14_0.ServiceRoot",
		"SessionService":             "#SessionService.v1_0_0.SessionService",
		"Session":                    "#Session.v1_0_0.Session",
		"AccountService":             "#AccountService.v1_15_0.AccountService",
		"ManagerAccount":             "#ManagerAccount.v1_12_1.ManagerAccount",
		"Manager":                    "#Manager.v1_19_1.Manager",
		"ComputerSystem":             "#ComputerSystem.v1_18_0.ComputerSystem",
		"HpeiLOBackupRestoreService": "#HpeiLOBackupRestoreService.v2_2_0.HpeiLOBackupRestoreService",
		"HpeiLOBackupFile":           "#HpeiLOBackupFile.v1_0_0.HpeiLOBackupFile",
		"HpeiLOResourceDirectory":    "#HpeiLOResourceDirectory.v2_0_0.HpeiLOResourceDirectory",
		"JsonSchemaFile":             "#JsonSchemaFile.v1_0_4.JsonSchemaFile",
		"MessageRegistryFile":        "#MessageRegistryFile.v1_0_4.MessageRegistryFile",
	}
	ilo5Types = map[string]string{
		"ServiceRoot":    "#ServiceRoot.v1_5_1.ServiceRoot",
		"ManagerAccount": "#ManagerAccount.v1_3_0.ManagerAccount",
		"Manager":        "#Manager.v1_5_1.Manager",
		"ComputerSystem": "#ComputerSystem.v1_17_0.ComputerSystem",
	}
)

// registries are the message registries whose messages the simulator answers with
// (see the Msg* constants), by the newest version it uses.
var registries = map[string]string{"Base": "Base.1.18", "iLO": "iLO.2.27"}

// odataType is the @odata.type of a resource kind on this generation.
func (d *ILO) odataType(kind string) string {
	if d.cfg.Generation == ILO5 {
		if t, ok := ilo5Types[kind]; ok {
			return t
		}
	}
	if t, ok := odataTypes[kind]; ok {
		return t
	}
	panic("ilo: no @odata.type for " + kind)
}

// collectionType is the unversioned @odata.type of a collection of kind.
func collectionType(kind string) string { return "#" + kind + "Collection." + kind + "Collection" }

// fixedResource is a resource at a path that does not change while the iLO runs. The
// resource directory lists every one of them.
type fixedResource struct {
	path       string   // canonical spelling (iLO 5: trailing slash)
	methods    []string // HttpMethods as the resource directory reports them
	memberType string   // collections: the @odata.type of their members
	// body renders the resource; called with d.mu held, it must not change state.
	body func() map[string]any
}

// fixedResourcesLocked lists the fixed resources, in the order the directory shows.
func (d *ILO) fixedResourcesLocked() []fixedResource {
	get := []string{"GET"}
	list := []fixedResource{
		{path: pathRoot, methods: get, body: d.rootBody},
		{path: pathSessionSvc, methods: get, body: d.sessionServiceBody},
		{path: pathSessions, methods: []string{"GET", "POST"}, memberType: d.odataType("Session"), body: d.sessionsBody},
		{path: pathAccountSvc, methods: get, body: d.accountServiceBody},
		{path: pathAccounts, methods: get, memberType: d.odataType("ManagerAccount"), body: func() map[string]any {
			return d.collectionBody(pathAccounts, "ManagerAccount", "Accounts", pathAccount)
		}},
		{path: pathAccount, methods: get, body: d.accountBody},
		{path: pathManagers, methods: get, memberType: d.odataType("Manager"), body: func() map[string]any {
			return d.collectionBody(pathManagers, "Manager", "Managers", pathManager)
		}},
		{path: pathManager, methods: get, body: d.managerBody},
		{path: pathService, methods: []string{"GET", "PATCH"}, body: d.serviceBodyLocked},
		{path: pathBackupFiles, methods: get, memberType: d.odataType("HpeiLOBackupFile"), body: d.backupFilesBodyLocked},
		{path: pathSystems, methods: get, memberType: d.odataType("ComputerSystem"), body: func() map[string]any {
			return d.collectionBody(pathSystems, "ComputerSystem", "Computer Systems", pathSystem)
		}},
		{path: pathSystem, methods: get, body: d.systemBody},
		{path: pathResourceDir, methods: get, body: d.resourceDirectoryBodyLocked},
		{path: pathJSONSchemas, methods: get, memberType: d.odataType("JsonSchemaFile"), body: d.schemasBody},
		{path: pathRegistries, methods: get, memberType: d.odataType("MessageRegistryFile"), body: d.registriesBody},
	}
	for _, kind := range schemaKinds() {
		kind := kind
		list = append(list, fixedResource{path: pathJSONSchemas + kind + "/", methods: get, body: func() map[string]any { return d.schemaFileBody(kind) }})
	}
	for _, name := range registryNames() {
		name := name
		list = append(list, fixedResource{path: pathRegistries + name + "/", methods: get, body: func() map[string]any { return d.registryFileBody(name) }})
	}
	return list
}

func schemaKinds() []string {
	kinds := make([]string, 0, len(odataTypes))
	for k := range odataTypes {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

func registryNames() []string {
	names := make([]string, 0, len(registries))
	for n := range registries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// fixedResource returns the fixed resource at path p (trimmed of trailing slashes,
// any case), if there is one.
func (d *ILO) fixedResource(p string) (fixedResource, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, res := range d.fixedResourcesLocked() {
		if eqFold(p, res.path) {
			return res, true
		}
	}
	return fixedResource{}, false
}

// endpointName is the Stats name of a request to a fixed resource: "GET /redfish/v1/Managers/1".
func endpointName(method, canonical string) string {
	return method + " " + trimSlashes(canonical)
}

// getResource serves GET of a fixed resource that needs a session.
func (d *ILO) getResource(w http.ResponseWriter, r *http.Request, res fixedResource) {
	d.Stats.Call(endpointName(r.Method, res.path))
	if r.Method != http.MethodGet {
		writeMethodNotAllowed(w, strings.Join(res.methods, ", "))
		return
	}
	if d.requireSession(w, r, false) == nil {
		return
	}
	d.mu.Lock()
	body := res.body()
	d.mu.Unlock()
	writeResource(w, body)
}

// contentETag is a weak ETag derived from a body, in iLO's form W/"0884A8BC".
// Bodies that carry their own @odata.etag (the backup service) keep it.
func contentETag(body map[string]any) string {
	if e, ok := body["@odata.etag"].(string); ok {
		return e
	}
	b, _ := json.Marshal(body) // map keys are sorted: the same content, the same ETag
	return fmt.Sprintf(`W/"%08X"`, crc32.ChecksumIEEE(b))
}

// writeResource answers 200 with a resource body, its @odata.etag and ETag header.
func writeResource(w http.ResponseWriter, body map[string]any) {
	etag := contentETag(body)
	body["@odata.etag"] = etag
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, body)
}

func (d *ILO) product() string {
	switch d.cfg.Generation {
	case ILO5:
		return "ProLiant DL360 Gen10"
	case ILO7:
		return "ProLiant DL360 Gen12"
	}
	return "ProLiant DL360 Gen11"
}

// firmwareString is the Manager's FirmwareVersion ("iLO 6 v1.70").
func (d *ILO) firmwareString(fw string) string { return d.cfg.Generation + " v" + fw }

// rootBody is the service root. It links only what the simulator serves (a real iLO
// also links Chassis, EventService, UpdateService, ...).
func (d *ILO) rootBody() map[string]any {
	cfg := d.cfg
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
		"@odata.id":      d.odata(pathRoot),
		"@odata.type":    d.odataType("ServiceRoot"),
		"Id":             "RootService",
		"Name":           "HPE RESTful Root Service",
		"Product":        d.product(),
		"RedfishVersion": "1.13.0",
		"Vendor":         "HPE",
		"UUID":           uuidFrom(cfg.Serial),
		"AccountService": d.link(pathAccountSvc),
		"JsonSchemas":    d.link(pathJSONSchemas),
		"Links":          map[string]any{"Sessions": d.link(pathSessions)},
		"Managers":       d.link(pathManagers),
		"Registries":     d.link(pathRegistries),
		"SessionService": d.link(pathSessionSvc),
		"Systems":        d.link(pathSystems),
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.context": "/redfish/v1/$metadata#HpeiLOServiceExt.HpeiLOServiceExt",
			"@odata.type":    "#HpeiLOServiceExt.v2_3_0.HpeiLOServiceExt",
			"Links":          map[string]any{"ResourceDirectory": d.link(pathResourceDir)},
			"Manager": []map[string]any{{
				"ManagerType":            cfg.Generation,
				"ManagerFirmwareVersion": cfg.Firmware,
				"HostName":               strings.ToLower(cfg.Name),
				"Languages":              []map[string]string{{"Language": "en", "TranslationName": "English", "Version": cfg.Firmware}},
			}},
			"Sessions": map[string]any{
				"LocalLoginEnabled": true,
				"LoginFailureDelay": int(cfg.LoginDelay / time.Second),
				"LoginHint": map[string]any{
					"Hint":         "POST to /Sessions to login using the following JSON object:",
					"HintPOSTData": map[string]string{"UserName": "username", "Password": "password"},
				},
				"ServerName": strings.ToLower(cfg.Name),
			},
			"Time": d.Now().UTC().Format(time.RFC3339),
		}},
	}
}

func (d *ILO) sessionServiceBody() map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#SessionService.SessionService",
		"@odata.id":      d.odata(pathSessionSvc),
		"@odata.type":    d.odataType("SessionService"),
		"Id":             "SessionService",
		"Name":           "Session Service",
		"Description":    "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": int(d.cfg.IdleTimeout / time.Second),
		"Sessions":       d.link(pathSessions),
		"Status":         map[string]string{"State": "Enabled"},
	}
}

// collectionBody renders a collection of one member.
func (d *ILO) collectionBody(self, kind, name, member string) map[string]any {
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#" + kind + "Collection." + kind + "Collection",
		"@odata.id":           d.odata(self),
		"@odata.type":         collectionType(kind),
		"Name":                name,
		"Members":             []map[string]string{d.link(member)},
		"Members@odata.count": 1,
	}
}

func (d *ILO) managerBody() map[string]any {
	fw := d.firmwareString(d.cfg.Firmware)
	return map[string]any{
		"@odata.context":  "/redfish/v1/$metadata#Manager.Manager",
		"@odata.id":       d.odata(pathManager),
		"@odata.type":     d.odataType("Manager"),
		"Id":              "1",
		"Name":            "Manager",
		"ManagerType":     "BMC",
		"Model":           d.cfg.Generation,
		"FirmwareVersion": fw,
		"Status":          map[string]string{"Health": "OK", "State": "Enabled"},
		"Oem": map[string]any{"Hpe": map[string]any{
			"@odata.type": "#HpeiLO.v2_8_0.HpeiLO",
			"Firmware": map[string]any{"Current": map[string]any{
				"VersionString": fw,
			}},
			"Links": map[string]any{
				"BackupRestoreService": d.link(pathService),
			},
		}},
	}
}

func (d *ILO) systemBody() map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
		"@odata.id":      d.odata(pathSystem),
		"@odata.type":    d.odataType("ComputerSystem"),
		"Id":             "1",
		"Name":           "Computer System",
		"Manufacturer":   "HPE",
		"Model":          d.product(),
		"SerialNumber":   d.cfg.Serial,
		"PowerState":     "On",
		"Status":         map[string]string{"Health": "OK", "State": "Enabled"},
	}
}

// accountServiceBody describes how the simulator authenticates: local accounts only,
// no HTTP Basic authentication, and its login delay settings.
func (d *ILO) accountServiceBody() map[string]any {
	return map[string]any{
		"@odata.context":    "/redfish/v1/$metadata#AccountService.AccountService",
		"@odata.id":         d.odata(pathAccountSvc),
		"@odata.type":       d.odataType("AccountService"),
		"Id":                "AccountService",
		"Name":              "Account Service",
		"Description":       "iLO User Accounts",
		"Accounts":          d.link(pathAccounts),
		"HTTPBasicAuth":     "Disabled",
		"LocalAccountAuth":  "Enabled",
		"MinPasswordLength": 8,
		"MaxPasswordLength": 39,
		"Oem": map[string]any{"Hpe": map[string]any{
			"AuthFailureDelayTimeSeconds": int(d.cfg.LoginDelay / time.Second),
			"AuthFailureLoggingThreshold": 3,
			"AuthFailuresBeforeDelay":     d.cfg.LoginFailuresBeforeDelay,
			"DefaultUserName":             d.cfg.Username,
			"EnforcePasswordComplexity":   false,
			"MinPasswordLength":           8,
		}},
	}
}

// accountBody is the one local account. Like a real iLO it never shows the password.
func (d *ILO) accountBody() map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ManagerAccount.ManagerAccount",
		"@odata.id":      d.odata(pathAccount),
		"@odata.type":    d.odataType("ManagerAccount"),
		"Id":             "1",
		"Name":           "User Account",
		"Description":    "iLO User Account",
		"UserName":       d.cfg.Username,
		"Password":       nil,
		"RoleId":         "Administrator",
		"Enabled":        true,
		"Locked":         false,
		"Oem": map[string]any{"Hpe": map[string]any{
			"LoginName": d.cfg.Username,
			"Privileges": map[string]bool{
				"HostBIOSConfigPriv": true, "HostNICConfigPriv": true, "HostStorageConfigPriv": true,
				"LoginPriv": true, "RemoteConsolePriv": true, "SystemRecoveryConfigPriv": true,
				"UserConfigPriv": true, "VirtualMediaPriv": true, "VirtualPowerAndResetPriv": true,
				"iLOConfigPriv": true,
			},
		}},
	}
}

// resourceDirectoryBodyLocked lists the fixed resources and the backup file the iLO
// holds, with @odata.type, ETag and HttpMethods, as HpeiLOResourceDirectory does.
// Sessions are not listed (they come and go with every client).
func (d *ILO) resourceDirectoryBodyLocked() map[string]any {
	var instances []map[string]any
	for _, res := range d.fixedResourcesLocked() {
		if res.path == pathResourceDir {
			continue // its own ETag would depend on itself
		}
		body := res.body()
		inst := map[string]any{
			"@odata.id":   body["@odata.id"],
			"@odata.type": body["@odata.type"],
			"ETag":        contentETag(body),
			"HttpMethods": res.methods,
		}
		if res.memberType != "" {
			inst["MemberType"] = res.memberType
		}
		instances = append(instances, inst)
	}
	if d.backup != nil {
		body := d.backupFileBody(d.backup)
		instances = append(instances, map[string]any{
			"@odata.id":   body["@odata.id"],
			"@odata.type": body["@odata.type"],
			"ETag":        contentETag(body),
			"HttpMethods": []string{"GET", "DELETE"},
		})
	}
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#HpeiLOResourceDirectory.HpeiLOResourceDirectory",
		"@odata.id":      d.odata(pathResourceDir),
		"@odata.type":    d.odataType("HpeiLOResourceDirectory"),
		"Id":             "ResourceDirectory",
		"Name":           "Resource Directory",
		"Description":    "Resource Directory",
		"Instances":      instances,
	}
}

// schemasBody is the JsonSchemas collection: one JsonSchemaFile per resource type the
// simulator serves. (The schema documents themselves, in iLO's SchemaStore, are not
// served.)
func (d *ILO) schemasBody() map[string]any {
	members := []map[string]string{}
	for _, kind := range schemaKinds() {
		members = append(members, d.link(pathJSONSchemas+kind+"/"))
	}
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#JsonSchemaFileCollection.JsonSchemaFileCollection",
		"@odata.id":           d.odata(pathJSONSchemas),
		"@odata.type":         collectionType("JsonSchemaFile"),
		"Name":                "Schema File Collection",
		"Description":         "Schema File Repository",
		"Members":             members,
		"Members@odata.count": len(members),
	}
}

func (d *ILO) schemaFileBody(kind string) map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#JsonSchemaFile.JsonSchemaFile",
		"@odata.id":      d.odata(pathJSONSchemas + kind + "/"),
		"@odata.type":    d.odataType("JsonSchemaFile"),
		"Id":             kind,
		"Name":           kind + " Schema File",
		"Description":    "Schema File Locations",
		"Schema":         d.odataType(kind),
		"Languages":      []string{"en"},
		"Location": []map[string]string{{
			"Language": "en",
			"Uri":      "/redfish/v1/SchemaStore/en/" + kind + ".json/",
		}},
	}
}

// registriesBody is the Registries collection: the registries the simulator's
// messages come from.
func (d *ILO) registriesBody() map[string]any {
	members := []map[string]string{}
	for _, name := range registryNames() {
		members = append(members, d.link(pathRegistries+name+"/"))
	}
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#MessageRegistryFileCollection.MessageRegistryFileCollection",
		"@odata.id":           d.odata(pathRegistries),
		"@odata.type":         collectionType("MessageRegistryFile"),
		"Name":                "Registry File Collection",
		"Description":         "Registry Repository",
		"Members":             members,
		"Members@odata.count": len(members),
	}
}

func (d *ILO) registryFileBody(name string) map[string]any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#MessageRegistryFile.MessageRegistryFile",
		"@odata.id":      d.odata(pathRegistries + name + "/"),
		"@odata.type":    d.odataType("MessageRegistryFile"),
		"Id":             name,
		"Name":           name + " Message Registry File",
		"Description":    "Registry Definition File for " + name,
		"Registry":       registries[name],
		"Languages":      []string{"en"},
		"Location": []map[string]string{{
			"Language": "en",
			"Uri":      "/redfish/v1/RegistryStore/registries/en/" + registries[name] + ".json/",
		}},
	}
}

// memberPath is the path of a numbered member of a collection.
func memberPath(collection string, id int) string { return collection + strconv.Itoa(id) + "/" }
