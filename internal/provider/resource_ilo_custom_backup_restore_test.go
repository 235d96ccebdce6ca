package provider

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

const flagRes = "infrabackup_ilo_custom_backup_restore.flag"

func flagConfig(e *simEnv, d *iloSim, enabled bool) string {
	return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_ilo_custom_backup_restore" "flag" {
  host    = %q
  port    = %d
  enabled = %t
}
`, d.Host, d.Port, enabled)
}

// patchSpy records every PATCH of the backup service (its If-Match and the status
// the iLO answered). When raceNext is set, the next PATCH is preceded by another
// client's PATCH that leaves the flag as it is but changes the ETag, exactly as if
// someone changed the service between Terraform's read and write.
type patchSpy struct {
	mu       sync.Mutex
	raceNext bool
	raced    int
	patches  []patchRecord
}

type patchRecord struct {
	ifMatch string
	status  int
}

func (p *patchSpy) wrap(d *ilosim.ILO, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || !strings.Contains(strings.ToLower(r.URL.Path), "backuprestoreservice") {
			next.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		race := p.raceNext
		p.raceNext = false
		p.mu.Unlock()
		if race {
			other := httptest.NewRequest(http.MethodPatch, r.URL.Path,
				strings.NewReader(fmt.Sprintf(`{"CustomBackupandRestore": %t}`, d.CustomBackupAndRestore())))
			other.Header.Set("X-Auth-Token", r.Header.Get("X-Auth-Token"))
			other.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, other)
			p.mu.Lock()
			if rec.Code == http.StatusOK {
				p.raced++
			}
			p.mu.Unlock()
		}
		spy := &statusSpy{ResponseWriter: w}
		next.ServeHTTP(spy, r)
		p.mu.Lock()
		p.patches = append(p.patches, patchRecord{ifMatch: r.Header.Get("If-Match"), status: spy.status})
		p.mu.Unlock()
	})
}

func (p *patchSpy) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raceNext = true
}

func (p *patchSpy) take() ([]patchRecord, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, raced := p.patches, p.raced
	p.patches, p.raced = nil, 0
	return out, raced
}

type statusSpy struct {
	http.ResponseWriter
	status int
}

func (s *statusSpy) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusSpy) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func checkDeviceFlag(d *iloSim, want bool) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := d.ILO.CustomBackupAndRestore(); got != want {
			return fmt.Errorf("CustomBackupandRestore on the iLO is %t, want %t", got, want)
		}
		return nil
	}
}

// checkPatches asserts the PATCHes sent since the last check: their statuses in
// order, each with an If-Match naming a weak ETag.
func checkPatches(p *patchSpy, wantStatuses ...int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got, _ := p.take()
		if len(got) != len(wantStatuses) {
			return fmt.Errorf("want %d PATCHes (%v), got %+v", len(wantStatuses), wantStatuses, got)
		}
		for i, rec := range got {
			if rec.status != wantStatuses[i] {
				return fmt.Errorf("PATCH %d answered %d, want %d (all: %+v)", i+1, rec.status, wantStatuses[i], got)
			}
			if !strings.HasPrefix(rec.ifMatch, `W/"`) {
				return fmt.Errorf("PATCH %d carried If-Match %q, want the service's weak ETag", i+1, rec.ifMatch)
			}
		}
		return nil
	}
}

func TestAccILOCustomBackupRestore_onOffImportDestroy(t *testing.T) {
	e := newSimEnv(t)
	spy := &patchSpy{}
	d := e.addILOWrapped("ilo-flag", nil, spy.wrap)
	id := fmt.Sprintf("%s:%d", d.Host, d.Port)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             checkDeviceFlag(d, false),
		Steps: []resource.TestStep{
			{
				Config: flagConfig(e, d, true),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "enabled", "true"),
					resource.TestCheckResourceAttr(flagRes, "id", id),
					checkDeviceFlag(d, true),
					checkPatches(spy, http.StatusOK),
				),
			},
			{
				// Changed behind Terraform's back: refresh reads the device and sees drift.
				PreConfig:          func() { d.ILO.SetCustomBackupAndRestore(false) },
				Config:             flagConfig(e, d, true),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: flagConfig(e, d, true),
				Check:  resource.ComposeAggregateTestCheckFunc(checkDeviceFlag(d, true), checkPatches(spy, http.StatusOK)),
			},
			{
				Config: flagConfig(e, d, false),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "enabled", "false"),
					checkDeviceFlag(d, false),
					checkPatches(spy, http.StatusOK),
				),
			},
			{
				Config: flagConfig(e, d, true),
				Check:  resource.ComposeAggregateTestCheckFunc(checkDeviceFlag(d, true), checkPatches(spy, http.StatusOK)),
			},
			{
				ResourceName:      flagRes,
				Config:            flagConfig(e, d, true),
				ImportState:       true,
				ImportStateId:     id,
				ImportStateVerify: true,
			},
		},
	})
	if st := d.ILO.Stats.Snapshot(); st.Logins != st.Logouts || st.Logins == 0 {
		t.Errorf("every session must be logged out: %+v", st)
	}
}

func TestAccILOCustomBackupRestore_staleETag(t *testing.T) {
	e := newSimEnv(t)
	spy := &patchSpy{}
	d := e.addILOWrapped("ilo-etag", nil, spy.wrap)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             checkDeviceFlag(d, false),
		Steps: []resource.TestStep{
			{
				Config: flagConfig(e, d, false),
				Check:  resource.ComposeAggregateTestCheckFunc(checkDeviceFlag(d, false), checkPatches(spy)),
			},
			{
				// Someone changes the service between the provider's read and its PATCH:
				// the iLO answers 412, the provider reads again and succeeds on the retry.
				PreConfig: spy.arm,
				Config:    flagConfig(e, d, true),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "enabled", "true"),
					checkDeviceFlag(d, true),
					func(s *terraform.State) error {
						spy.mu.Lock()
						raced := spy.raced
						spy.mu.Unlock()
						if raced != 1 {
							return fmt.Errorf("the ETag was changed %d times behind the provider's back, want 1", raced)
						}
						return nil
					},
					checkPatches(spy, http.StatusPreconditionFailed, http.StatusOK),
				),
			},
		},
	})
}

func TestAccILOCustomBackupRestore_oldFirmwareAndFIPS(t *testing.T) {
	e := newSimEnv(t)
	old := e.addILO("ilo-old", func(c *ilosim.Config) { c.Generation, c.OldFirmware = ilosim.ILO5, true })
	fips := e.addILO("ilo-fips", func(c *ilosim.Config) { c.FIPS = true })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      flagConfig(e, old, true),
				ExpectError: flexRE(`Setting CustomBackupandRestore on iLO .* failed.*no CustomBackupandRestore property.*iLO 5 firmware 2\.72 or later`),
			},
			{
				ResourceName:  flagRes,
				Config:        flagConfig(e, old, true),
				ImportState:   true,
				ImportStateId: fmt.Sprintf("%s:%d", old.Host, old.Port),
				ExpectError:   flexRE(`Reading CustomBackupandRestore from iLO .* failed.*iLO 5 firmware 2\.70 does not support it.*2\.72 or later`),
			},
			{
				Config:      flagConfig(e, fips, true),
				ExpectError: flexRE(`Setting CustomBackupandRestore on iLO .* failed.*HTTP 400.*not supported in FIPS and higher security states`),
			},
		},
	})
	if fips.ILO.CustomBackupAndRestore() {
		t.Error("the flag changed in FIPS mode")
	}
}

func TestParseImportHostPort(t *testing.T) {
	for _, tc := range []struct {
		id, host string
		port     types.Int64
		err      bool
	}{
		{"ilo1.example.com", "ilo1.example.com", types.Int64Null(), false},
		{"10.0.0.5", "10.0.0.5", types.Int64Null(), false},
		{"10.0.0.5:8443", "10.0.0.5", types.Int64Value(8443), false},
		{"ilo1:443", "ilo1", types.Int64Value(443), false},
		{"[2001:db8::5]:443", "2001:db8::5", types.Int64Value(443), false},
		{"2001:db8::5", "2001:db8::5", types.Int64Null(), false},
		{"[2001:db8::5]", "2001:db8::5", types.Int64Null(), false},
		{"", "", types.Int64Null(), true},
		{"ilo1:0", "", types.Int64Null(), true},
		{"ilo1:https", "", types.Int64Null(), true},
		{"https://ilo1", "", types.Int64Null(), true},
		{"ilo1/x", "", types.Int64Null(), true},
	} {
		host, port, err := parseImportHostPort(tc.id)
		if (err != nil) != tc.err || host != tc.host || !port.Equal(tc.port) {
			t.Errorf("parseImportHostPort(%q) = %q, %v, %v; want %q, %v, error %t", tc.id, host, port, err, tc.host, tc.port, tc.err)
		}
	}
}

func flagConfigExtra(e *simEnv, d *iloSim, enabled bool, extra string) string {
	return e.providerConfig() + fmt.Sprintf(`
resource "infrabackup_ilo_custom_backup_restore" "flag" {
  host    = %q
  port    = %d
  enabled = %t
%s
}
`, d.Host, d.Port, enabled, extra)
}

// checkStallsAbandoned asserts that the provider gave up on every stalled answer
// itself (within its timeout) rather than waiting for the iLO.
func checkStallsAbandoned(t *testing.T, s *bodyStall, want int) {
	t.Helper()
	if stalls, abandoned := s.counts(); stalls != want || abandoned != want {
		t.Errorf("want %d stalled answers, each abandoned by the provider; got %d stalls, %d abandoned", want, stalls, abandoned)
	}
}

// TestAccILOCustomBackupRestore_timeouts: an iLO whose answer stalls after its
// headers cannot hold up a plan or an apply for longer than the resource's timeouts.
func TestAccILOCustomBackupRestore_timeouts(t *testing.T) {
	e := newSimEnv(t)
	stall := &bodyStall{}
	d := e.addILOWrapped("ilo-stall", nil, stall.wrap)
	rec := &diagRecorder{}
	timeouts := `  timeouts = { read = "2s", update = "2s" }`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: flagConfigExtra(e, d, true, timeouts),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "timeouts.read", "2s"),
					checkDeviceFlag(d, true),
				),
			},
			{
				// Refresh: the read timeout ends the stalled read; the plan goes on.
				PreConfig: func() { _, _ = rec.take(); stall.set(true) },
				Config:    flagConfigExtra(e, d, true, timeouts),
				PlanOnly:  true,
			},
			{
				PreConfig: func() {
					checkStallsAbandoned(t, stall, 1)
					if w, all := rec.take(fmt.Sprintf("Reading CustomBackupandRestore from iLO 127.0.0.1:%d", d.Port), "read timeout (2s)"); len(w) == 0 {
						t.Errorf("refresh of a stalled iLO gave no warning naming the device and the read timeout; warnings: %q", all)
					}
				},
				// Update: the update timeout ends it, with an error naming the device.
				Config:      flagConfigExtra(e, d, false, timeouts),
				ExpectError: flexRE(fmt.Sprintf(`Setting CustomBackupandRestore on iLO 127\.0\.0\.1:%d failed.*update timeout \(2s\)`, d.Port)),
			},
			{
				PreConfig: func() {
					checkStallsAbandoned(t, stall, 3) // refresh, then the update's read of the ETag
					stall.set(false)
				},
				Config: flagConfigExtra(e, d, true, timeouts),
				Check:  checkDeviceFlag(d, true),
			},
		},
	})
}

// TestAccILOCustomBackupRestore_unreachableAtRefresh: an iLO that does not answer at
// refresh keeps the flag's last known state with a warning, so the plan, and every
// other device's backup, goes ahead; an iLO that answers "not found" still fails.
func TestAccILOCustomBackupRestore_unreachableAtRefresh(t *testing.T) {
	e := newSimEnv(t)
	down := &outage{}
	d := e.addILOWrapped("ilo-flag-down", nil, down.wrap)
	other := e.addILO("ilo-other", nil)
	rec := &diagRecorder{}
	config := func(trigger string) string {
		return flagConfig(e, d, true) + fmt.Sprintf(`
resource "infrabackup_ilo_backup" "ilo" {
  host    = %q
  port    = %d
  trigger = %q
}
`, other.Host, other.Port, trigger)
	}
	var backupID string
	warned := func(what string) {
		if w, all := rec.take(fmt.Sprintf("Reading CustomBackupandRestore from iLO 127.0.0.1:%d", d.Port), what, "keeps the value recorded in state (enabled = true)"); len(w) == 0 {
			t.Errorf("%s: refresh gave no warning that it kept the flag's state; warnings: %q", what, all)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: config("1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkDeviceFlag(d, true),
					checkNewAttr(iloRes, "id", &backupID),
				),
			},
			{
				PreConfig: func() { _, _ = rec.take(); down.set(outageReset) },
				Config:    config("2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(flagRes, plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(flagRes, "enabled", "true"),
					checkNewAttr(iloRes, "id", &backupID), // the other iLO was backed up
					checkServedBy(other),
				),
			},
			{
				PreConfig: func() {
					warned(": EOF") // the dropped connection
					if down.hitCount() == 0 {
						t.Error("the flag's iLO was not contacted at refresh")
					}
					down.set(outageUnavailable)
				},
				Config:   config("2"),
				PlanOnly: true,
			},
			{
				// An answer that the service is gone is authoritative: refresh fails.
				PreConfig:   func() { warned("HTTP 503"); down.set(outageServiceGone) },
				Config:      config("2"),
				PlanOnly:    true,
				ExpectError: flexRE(`Reading CustomBackupandRestore from iLO .* failed.*HTTP 404`),
			},
			{
				PreConfig: func() { down.set(outageNone) },
				Config:    config("2"),
				PlanOnly:  true,
			},
		},
	})
}

// checkServedBy asserts that the backup in state is one the iLO served.
func checkServedBy(d *iloSim) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		name := stateAttr(s, iloRes, "device_file_name")
		if _, ok := d.ILO.ServedBackups()[name]; !ok {
			return fmt.Errorf("iLO %s did not serve backup %q", d.ILO.Name(), name)
		}
		return nil
	}
}
