package provider

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	ilosim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/ilo"
)

func TestAccILOCustomBackupRestore_onOffImportDestroy(t *testing.T) {
	e := newSimEnv(t)
	spy := &patchSpy{}
	d := e.addILOWrapped("ilo-flag", nil, spy.wrap)
	id := fmt.Sprintf("%s:%d", d.Host, d.Port)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             afterDestroy(flagOnDevice(d, false)),
		Steps: []resource.TestStep{
			{
				Config: e.config(customBackupRestore(d, true)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("enabled"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(flagRes, at("id"), knownvalue.StringExact(id)),
					flagOnDevice(d, true),
					spy.patched(http.StatusOK),
				},
			},
			{
				// Changed behind Terraform's back: refresh reads the device and sees drift.
				PreConfig:          func() { d.ILO.SetCustomBackupAndRestore(false) },
				Config:             e.config(customBackupRestore(d, true)),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config:            e.config(customBackupRestore(d, true)),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, true), spy.patched(http.StatusOK)},
			},
			{
				Config: e.config(customBackupRestore(d, false)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("enabled"), knownvalue.Bool(false)),
					flagOnDevice(d, false),
					spy.patched(http.StatusOK),
				},
			},
			{
				Config:            e.config(customBackupRestore(d, true)),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, true), spy.patched(http.StatusOK)},
			},
			{
				ResourceName:      flagRes,
				Config:            e.config(customBackupRestore(d, true)),
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
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             afterDestroy(flagOnDevice(d, false)),
		Steps: []resource.TestStep{
			{
				Config:            e.config(customBackupRestore(d, false)),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, false), spy.patched()},
			},
			{
				// Someone changes the service between the provider's read and its PATCH:
				// the iLO answers 412, the provider reads again and succeeds on the retry.
				PreConfig: spy.arm,
				Config:    e.config(customBackupRestore(d, true)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("enabled"), knownvalue.Bool(true)),
					flagOnDevice(d, true),
					spy.raced(1),
					spy.patched(http.StatusPreconditionFailed, http.StatusOK),
				},
			},
		},
	})
}

func TestAccILOCustomBackupRestore_oldFirmwareAndFIPS(t *testing.T) {
	e := newSimEnv(t)
	old := e.addILO("ilo-old", func(c *ilosim.Config) { c.Generation, c.OldFirmware = ilosim.ILO5, true })
	fips := e.addILO("ilo-fips", func(c *ilosim.Config) { c.FIPS = true })
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(customBackupRestore(old, true)),
				ExpectError: errorRE(`Setting CustomBackupandRestore on iLO .* failed.*no CustomBackupandRestore property.*iLO 5 firmware 2\.72 or later`),
			},
			{
				ResourceName:  flagRes,
				Config:        e.config(customBackupRestore(old, true)),
				ImportState:   true,
				ImportStateId: fmt.Sprintf("%s:%d", old.Host, old.Port),
				ExpectError:   errorRE(`Reading CustomBackupandRestore from iLO .* failed.*iLO 5 firmware 2\.70 does not support it.*2\.72 or later`),
			},
			{
				Config:      e.config(customBackupRestore(fips, true)),
				ExpectError: errorRE(`Setting CustomBackupandRestore on iLO .* failed.*HTTP 400.*not supported in FIPS and higher security states`),
			},
		},
	})
	if fips.ILO.CustomBackupAndRestore() {
		t.Error("the flag changed in FIPS mode")
	}
}

func TestParseImportHostPort(t *testing.T) {
	t.Parallel()
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

// TestAccILOCustomBackupRestore_timeouts: an iLO whose answer stalls after its
// headers cannot hold up a plan or an apply for longer than the resource's timeouts.
func TestAccILOCustomBackupRestore_timeouts(t *testing.T) {
	e := newSimEnv(t)
	stall := &bodyStall{}
	d := e.addILOWrapped("ilo-stall", nil, stall.wrap)
	rec := &diagRecorder{}
	flag := func(enabled bool) string {
		return e.config(customBackupRestore(d, enabled, withTimeouts("read", "2s", "update", "2s")))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: flag(true),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("timeouts.read"), knownvalue.StringExact("2s")),
					flagOnDevice(d, true),
				},
			},
			{
				// Refresh: the read timeout ends the stalled read; the plan goes on.
				PreConfig: func() { _, _ = rec.take(); stall.set(true) },
				Config:    flag(true),
				PlanOnly:  true,
			},
			{
				PreConfig: func() {
					stall.assertAbandoned(t, 1)
					if w, all := rec.take(fmt.Sprintf("Reading CustomBackupandRestore from iLO 127.0.0.1:%d", d.Port), "read timeout (2s)"); len(w) == 0 {
						t.Errorf("refresh of a stalled iLO gave no warning naming the device and the read timeout; warnings: %q", all)
					}
				},
				// Update: the update timeout ends it, with an error naming the device.
				Config:      flag(false),
				ExpectError: errorRE(fmt.Sprintf(`Setting CustomBackupandRestore on iLO 127\.0\.0\.1:%d failed.*update timeout \(2s\)`, d.Port)),
			},
			{
				PreConfig: func() {
					stall.assertAbandoned(t, 3) // refresh, then the update's read of the ETag
					stall.set(false)
				},
				Config:            flag(true),
				ConfigStateChecks: []statecheck.StateCheck{flagOnDevice(d, true)},
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
		return e.config(customBackupRestore(d, true), iloBackup(other, set("trigger", trigger)))
	}
	warned := func(what string) {
		if w, all := rec.take(fmt.Sprintf("Reading CustomBackupandRestore from iLO 127.0.0.1:%d", d.Port), what, "keeps the value recorded in state (enabled = true)"); len(w) == 0 {
			t.Errorf("%s: refresh gave no warning that it kept the flag's state; warnings: %q", what, all)
		}
	}
	newBackup := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		Steps: []resource.TestStep{
			{
				Config: config("1"),
				ConfigStateChecks: []statecheck.StateCheck{
					flagOnDevice(d, true),
					servedBy(other, false),
					newBackup.AddStateValue(iloRes, at("id")),
				},
			},
			{
				PreConfig: func() { _, _ = rec.take(); down.set(outageReset) },
				Config:    config("2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(flagRes, plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction(iloRes, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(flagRes, at("enabled"), knownvalue.Bool(true)),
					servedBy(other, false), // the other iLO's new backup was taken
					newBackup.AddStateValue(iloRes, at("id")),
					loginsAndLogouts(&other.ILO.Stats, 2, 2),
				},
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
				ExpectError: errorRE(`Reading CustomBackupandRestore from iLO .* failed.*HTTP 404`),
			},
			{
				PreConfig: func() { down.set(outageNone) },
				Config:    config("2"),
				PlanOnly:  true,
			},
		},
	})
}
