package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestBracketedIPv6Refused: an IPv6 address in brackets is refused by terraform
// plan, with a message that says how to write it, for every host argument (the
// clients and the SCP host resolution take addresses without brackets). No device
// is contacted.
func TestBracketedIPv6Refused(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	const bracketed = "[::1]"
	for name, bl := range map[string]*block{
		"conductor host": resourceBlock("infrabackup_aruba_conductor_backup.x", set("host", bracketed), set("trigger", "1")),
		"scp host": resourceBlock("infrabackup_aruba_conductor_backup.x", set("host", "::1"), set("trigger", "1"),
			set("scp", object(set("host", bracketed), set("username", "u"), set("password_wo", "p"), set("insecure_ignore_host_key", true)))),
		"ilo backup host":            resourceBlock("infrabackup_ilo_backup.x", set("host", bracketed), set("trigger", "1")),
		"ilo restore host":           resourceBlock("infrabackup_ilo_restore.x", set("host", bracketed), set("backup_file", "/nonexistent/HPE_X_20250101_1200.bak")),
		"flag host":                  resourceBlock("infrabackup_ilo_custom_backup_restore.x", set("host", bracketed), set("enabled", true)),
		"ilo data source host":       dataBlock("data.infrabackup_ilo_backup.x", set("host", bracketed)),
		"conductor data source host": dataBlock("data.infrabackup_aruba_conductor_backup.x", set("host", bracketed)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps: []resource.TestStep{{
					Config:      e.config(bl),
					PlanOnly:    true,
					ExpectError: errorRE(`"\[::1\]" has brackets: write the IPv6 address without them \("::1"\)`),
				}},
			})
		})
	}
}

func TestDeviceKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"MC1", "mc1", true},
		{"mc1.example.net", "MC1.Example.NET.", true},
		{"2001:db8::1", "2001:DB8:0:0::1", true},
		{"::1", "0:0:0:0:0:0:0:1", true},
		{"mc1", "mc2", false},
		{"10.0.0.1", "10.0.0.2", false},
	} {
		if got := deviceKey(tc.a, 443) == deviceKey(tc.b, 443); got != tc.same {
			t.Errorf("deviceKey(%q) == deviceKey(%q) is %t, want %t", tc.a, tc.b, got, tc.same)
		}
	}
	if deviceKey("mc1", 443) == deviceKey("mc1", 4343) {
		t.Error("two ports of one host are two devices")
	}
}

// TestDeviceLockSerialisesSpellings: while one operation holds MC1's lock, another
// naming mc1 waits for it.
func TestDeviceLockSerialisesSpellings(t *testing.T) {
	t.Parallel()
	var k keyedMutex
	unlock := k.Lock("MC1", 4343)
	if k.mutex(deviceKey("mc1", 4343)).TryLock() {
		t.Fatal("mc1 could be locked while MC1 was held")
	}
	unlock()
	other := k.Lock("mc1", 4343)
	if k.mutex(deviceKey("mc2", 4343)).TryLock() == false {
		t.Error("mc2 is held by mc1's lock")
	}
	other()
}
