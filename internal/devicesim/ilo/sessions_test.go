package ilo

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

func TestDiscoveryPerGeneration(t *testing.T) {
	for _, tt := range []struct {
		gen, wantGen, wantFW, slash string
	}{
		{"iLO 5", "iLO 5", "3.09", "/"},
		{"", "iLO 6", "1.70", ""},
		{"ilo7", "iLO 7", "1.14", ""},
	} {
		t.Run(tt.wantGen, func(t *testing.T) {
			c := start(t, Config{Name: "srv1", Generation: tt.gen})
			root := c.getJSON("/redfish/v1/") // no session needed
			mgr := root["Oem"].(map[string]any)["Hpe"].(map[string]any)["Manager"].([]any)[0].(map[string]any)
			if mgr["ManagerType"] != tt.wantGen || mgr["ManagerFirmwareVersion"] != tt.wantFW {
				t.Fatalf("Oem.Hpe.Manager[0] = %v", mgr)
			}
			for _, k := range []string{"SessionService", "Managers", "Systems"} {
				if _, ok := root[k].(map[string]any)["@odata.id"].(string); !ok {
					t.Fatalf("root lacks link %s: %v", k, root)
				}
			}

			// Everything else needs a session.
			resp, body := c.do("GET", "/redfish/v1/Managers/1/", nil, nil)
			wantMessage(t, resp, body, 401, MsgNoValidSession)

			c.login()
			m := c.getJSON("/redfish/v1/Managers/1/")
			svc := m["Oem"].(map[string]any)["Hpe"].(map[string]any)["Links"].(map[string]any)["BackupRestoreService"].(map[string]any)["@odata.id"]
			if svc != "/redfish/v1/Managers/1/BackupRestoreService"+tt.slash {
				t.Fatalf("BackupRestoreService link %v", svc)
			}
			if m["FirmwareVersion"] != tt.wantGen+" v"+tt.wantFW {
				t.Fatalf("FirmwareVersion %v", m["FirmwareVersion"])
			}
			sys := c.getJSON("/redfish/v1/Systems/1/")
			if sys["SerialNumber"] != c.d.Serial() || !regexp.MustCompile(`^[A-Z]{3}[0-9]{5}[A-Z][0-9]$`).MatchString(c.d.Serial()) {
				t.Fatalf("SerialNumber %v (sim %s)", sys["SerialNumber"], c.d.Serial())
			}
			if DeriveSerial("srv1") != c.d.Serial() || DeriveSerial("srv2") == c.d.Serial() {
				t.Fatal("serial is not derived from the name")
			}
		})
	}
}

func TestPathsCaseInsensitiveAndSlashes(t *testing.T) {
	c := start(t, Config{Serial: "TWA22525A7"})
	for _, p := range []string{"/redfish/v1", "/redfish/v1/", "/REDFISH/V1/", "/Redfish/v1//"} {
		if resp, body := c.do("GET", p, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := c.do("POST", "/REDFISH/v1/sessionservice/SESSIONS", map[string]string{"UserName": c.d.Username(), "Password": c.d.Password()}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("login on odd spelling: %d %s", resp.StatusCode, body)
	}
	c.token = resp.Header.Get("X-Auth-Token")
	for _, p := range []string{
		"/redfish/v1/managers/1", "/REDFISH/V1/MANAGERS/1/", "/redfish/v1/Systems/1",
		"/redfish/v1/managers/1/backuprestoreservice", "/redfish/v1/Managers/1/BackupRestoreService/",
		"/redfish/v1/managers/1/backuprestoreservice/backupfiles/",
	} {
		if resp, body := c.do("GET", p, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body = c.do("GET", "/redfish/v1/NoSuchThing", nil, nil)
	wantMessage(t, resp, body, 404, MsgResourceMissingAtURI)
	resp, body = c.do("DELETE", "/redfish/v1/Managers/1", nil, nil)
	wantMessage(t, resp, body, 405, MsgOperationNotAllowed)
}

func TestLoginLogoutAbsoluteLocation(t *testing.T) {
	c := start(t, Config{Username: "backup-op"})
	token, loc := c.login()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(token) {
		t.Fatalf("token %q", token)
	}
	// Like iLO, the Location names the host the client addressed, but not the port.
	want := regexp.MustCompile(`^https://` + regexp.QuoteMeta(c.srv.Host) + `/redfish/v1/SessionService/Sessions/backup-op[0-9a-f]{16}/$`)
	if !want.MatchString(loc) {
		t.Fatalf("Location %q is not absolute https://host/... without a port", loc)
	}
	if c.d.OpenSessions() != 1 {
		t.Fatalf("open sessions %d", c.d.OpenSessions())
	}
	// The session resource is readable; DELETE of the Location's path logs out.
	sess := c.getJSON(pathOf(t, loc))
	if sess["UserName"] != "backup-op" {
		t.Fatalf("session %v", sess)
	}
	resp, body := c.do("DELETE", pathOf(t, loc), nil, nil)
	wantMessage(t, resp, body, 200, MsgSuccess)
	resp, body = c.do("GET", "/redfish/v1/Managers/1", nil, nil)
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	resp, body = c.do("DELETE", pathOf(t, loc), nil, nil) // token is gone
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	st := c.d.Stats.Snapshot()
	if st.Logins != 1 || st.Logouts != 1 || st.OpenSessions != 0 || c.d.OpenSessions() != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Calls[EndpointLogin] != 1 || st.Calls[EndpointLogout] != 2 {
		t.Fatalf("calls %v", st.Calls)
	}
}

func TestRelativeLocation(t *testing.T) {
	c := start(t, Config{RelativeLocation: true})
	_, loc := c.login()
	if !strings.HasPrefix(loc, "/redfish/v1/SessionService/Sessions/") || !strings.HasSuffix(loc, "/") {
		t.Fatalf("Location %q", loc)
	}
	// Toggled at run time.
	c.d.SetRelativeLocation(false)
	_, loc2 := c.login()
	if !strings.HasPrefix(loc2, "https://") {
		t.Fatalf("Location %q", loc2)
	}
	if resp, body := c.do("DELETE", loc, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("logout other session: %d %s", resp.StatusCode, body)
	}
	if c.d.OpenSessions() != 1 {
		t.Fatalf("open %d", c.d.OpenSessions())
	}
}

func TestBadPasswordAndLoginDelay(t *testing.T) {
	clock := devicesim.NewManualClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	c := start(t, Config{Password: "s3cret-pass", LoginDelay: 30 * time.Second, Clock: clock})
	for i := 1; i <= 2; i++ {
		resp, body := c.loginAs(c.d.Username(), "wrong-pass")
		wantMessage(t, resp, body, 401, MsgUnauthorizedLoginAttempt)
		if strings.Contains(string(body), "wrong-pass") || resp.Header.Get("X-Auth-Token") != "" {
			t.Fatal("failed login leaks the password or a token")
		}
	}
	resp, body := c.loginAs(c.d.Username(), "wrong-pass") // third consecutive failure
	wantMessage(t, resp, body, 401, MsgLoginAttemptDelayed)
	resp, body = c.loginAs(c.d.Username(), c.d.Password()) // right password, but too soon
	wantMessage(t, resp, body, 401, MsgLoginAttemptDelayed)
	resp, body = c.loginAs("nobody", c.d.Password()) // unknown user too
	wantMessage(t, resp, body, 401, MsgLoginAttemptDelayed)
	clock.Advance(30*time.Second - time.Nanosecond)
	resp, body = c.loginAs(c.d.Username(), c.d.Password()) // still too soon
	wantMessage(t, resp, body, 401, MsgLoginAttemptDelayed)
	clock.Advance(time.Nanosecond)
	c.login()
	// A success resets the count: the next failure is a plain UnauthorizedLoginAttempt.
	resp, body = c.loginAs(c.d.Username(), "wrong-pass")
	wantMessage(t, resp, body, 401, MsgUnauthorizedLoginAttempt)
	st := c.d.Stats.Snapshot()
	if st.FailedLogins != 7 || st.Logins != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLoginBodyValidation(t *testing.T) {
	c := start(t, Config{})
	resp, body := c.do("POST", "/redfish/v1/SessionService/Sessions/", "{not json", nil)
	wantMessage(t, resp, body, 400, MsgMalformedJSON)
	resp, body = c.do("POST", "/redfish/v1/SessionService/Sessions/", map[string]string{"UserName": "x"}, nil)
	wantMessage(t, resp, body, 400, MsgPropertyMissing)
	resp, body = c.do("POST", "/redfish/v1/SessionService/Sessions/", map[string]any{"UserName": "x", "Password": 5}, nil)
	wantMessage(t, resp, body, 400, MsgPropertyValueTypeError)
}

func TestSessionLimit(t *testing.T) {
	for _, status := range []int{0, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c := start(t, Config{MaxSessions: 2, SessionLimitStatus: status})
			_, loc1 := c.login()
			c.login()
			resp, body := c.loginAs(c.d.Username(), c.d.Password())
			want := status
			if want == 0 {
				want = 503
			}
			wantMessage(t, resp, body, want, MsgSessionLimitExceeded)
			if c.d.OpenSessions() != 2 {
				t.Fatalf("open %d", c.d.OpenSessions())
			}
			if resp, _ := c.do("DELETE", loc1, nil, nil); resp.StatusCode != 200 {
				t.Fatal("logout failed")
			}
			c.login()
			st := c.d.Stats.Snapshot()
			if st.Logins != 3 || st.FailedLogins != 1 || st.PeakOpenSessions != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestIdleAndForcedExpiry(t *testing.T) {
	clock := devicesim.NewManualClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	c := start(t, Config{IdleTimeout: 10 * time.Minute, Clock: clock})
	c.login()
	// Use keeps a session alive.
	for i := 0; i < 3; i++ {
		clock.Advance(10*time.Minute - time.Second)
		c.getJSON("/redfish/v1/Managers/1")
	}
	clock.Advance(10*time.Minute + time.Second)
	resp, body := c.do("GET", "/redfish/v1/Managers/1", nil, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("idle session still valid: %d", resp.StatusCode)
	}
	// The exact documented body shape.
	want := `{"error":{"code":"iLO.0.10.ExtendedInfo","message":"See @Message.ExtendedInfo for more information.","@Message.ExtendedInfo":[{"MessageId":"Base.1.18.NoValidSession"}]}}`
	if got := compactJSON(t, body); got != want {
		t.Fatalf("401 body\n got %s\nwant %s", got, want)
	}
	if st := c.d.Stats.Snapshot(); st.ExpiredSessions != 1 || st.OpenSessions != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Idle sessions are purged before the limit is checked.
	c.d.SetMaxSessions(1)
	c.login()
	c.d.SetIdleTimeout(time.Hour)
	c.d.SetMaxSessions(8)
	other := c.token
	c.login()
	c.d.ExpireAllSessions()
	if c.d.OpenSessions() != 0 {
		t.Fatal("sessions left after ExpireAllSessions")
	}
	for _, tok := range []string{other, c.token} {
		resp, body := c.do("GET", "/redfish/v1/Systems/1", nil, map[string]string{"X-Auth-Token": tok})
		wantMessage(t, resp, body, 401, MsgNoValidSession)
	}
	if st := c.d.Stats.Snapshot(); st.ExpiredSessions != 3 || st.OpenSessions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStatsEndpointAndFaults(t *testing.T) {
	c := start(t, Config{})
	c.login()
	c.getJSON("/redfish/v1/Managers/1")
	st := decode(t, func() []byte { _, b := c.do("GET", StatsPath, nil, nil); return b }())
	if st["logins"].(float64) != 1 || st["calls"].(map[string]any)[EndpointManager].(float64) != 1 {
		t.Fatalf("stats %v", st)
	}
	// Injected faults apply to the API, not to /_sim/.
	// (Times: 2, because Go's transport retries an idempotent request once when a
	// reused connection is closed without an answer.)
	c.d.Faults.Add(devicesimFault("reset", "/redfish/v1/managers/1/backuprestoreservice", 2))
	if _, err := c.req("GET", "/redfish/v1/Managers/1/BackupRestoreService", nil, nil); err == nil {
		t.Fatal("injected reset did not fail the request")
	}
	c.backupLocation() // the fault was used up
	c.d.Faults.Add(devicesimFault("server-error", "", 1))
	if resp, _ := c.do("GET", StatsPath, nil, nil); resp.StatusCode != 200 {
		t.Fatal("/_sim/stats affected by faults")
	}
	if resp, _ := c.do("GET", "/redfish/v1/", nil, nil); resp.StatusCode != 503 {
		t.Fatalf("server-error fault: %d", resp.StatusCode)
	}
}

func TestStartDeviceInfoAndDefaults(t *testing.T) {
	if _, err := Start(nil, Config{}); err == nil {
		t.Fatal("Start without a CA")
	}
	c := start(t, Config{Name: "ilo-a", ListenAddr: "127.0.0.1:0"})
	info := c.srv.DeviceInfo()
	if info.Kind != "ilo" || info.Name != "ilo-a" || info.URL != c.srv.URL || info.Host != "127.0.0.1" ||
		info.Port == 0 || info.Username != DefaultUsername || info.Password != DefaultPassword ||
		info.StatsURL != c.srv.URL+StatsPath {
		t.Fatalf("DeviceInfo %+v", info)
	}
	if c.d.Generation() != ILO6 || c.d.Firmware() != "1.70" || c.d.Serial() != DeriveSerial("ilo-a") {
		t.Fatalf("defaults: %s %s %s", c.d.Generation(), c.d.Firmware(), c.d.Serial())
	}
	// A client that does not trust the CA gets a certificate error.
	if _, err := http.Get(c.srv.URL + "/redfish/v1/"); err == nil {
		t.Fatal("untrusted client connected")
	}
}

// A backup is named after the time on the iLO's clock (UTC), and the minute it is
// made in decides its name.
func TestBackupNamesFollowTheClock(t *testing.T) {
	clock := devicesim.NewManualClock(time.Date(2026, 3, 4, 23, 59, 59, 0, time.FixedZone("CET", 3600)))
	c := start(t, Config{Name: "ilo-clock", Clock: clock})
	c.login()
	want := "/bkupdata/HPE_" + c.d.Serial() + "_20260304_2259.bak"
	if loc := c.backupLocation(); loc != want {
		t.Fatalf("BackupFileLocation %q, want %q", loc, want)
	}
	clock.Advance(time.Second)
	want = "/bkupdata/HPE_" + c.d.Serial() + "_20260304_2300.bak"
	if loc := c.backupLocation(); loc != want {
		t.Fatalf("BackupFileLocation a second later %q, want %q", loc, want)
	}
	resp, body := c.do("GET", "/redfish/v1/Managers/1/BackupRestoreService/BackupFiles/2", nil, nil)
	if resp.StatusCode != 200 || decode(t, body)["Created"] != "2026-03-04T23:00:00Z" {
		t.Fatalf("backup file: %d %s", resp.StatusCode, body)
	}
}

// ExpireNextCalls (from the devicesim base) makes the next call that uses a session
// find it expired, as a re-login test needs; the iLO answers it like any expired
// session.
func TestExpireNextCalls(t *testing.T) {
	c := start(t, Config{})
	c.login()
	c.d.ExpireNextCalls(1)
	resp, body := c.do("GET", "/redfish/v1/Managers/1", nil, nil)
	wantMessage(t, resp, body, 401, MsgNoValidSession)
	c.login()
	c.getJSON("/redfish/v1/Managers/1")
	if st := c.d.Stats.Snapshot(); st.Logins != 2 || st.ExpiredSessions != 1 || st.OpenSessions != 1 {
		t.Fatalf("stats %+v", st)
	}
}
