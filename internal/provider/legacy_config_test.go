package provider

import (
	"strings"

	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

// The text-based configuration helpers secrets_test.go still uses (it is being
// changed elsewhere at the same time). New tests use the builders of
// config_test.go; delete this file when secrets_test.go moves to them.

// arubaConfig is e's provider block and the backup arubaRes of c with trigger and
// the HCL text extra in its body.
func arubaConfig(e *simEnv, c *arubasim.Server, trigger, extra string) string {
	return strings.TrimSuffix(e.config(arubaBackup(c, set("trigger", trigger))), "}\n") + extra + "\n}\n"
}

// scpBlock is the text of e.scp(), for arubaConfig's extra.
func (e *simEnv) scpBlock() string {
	holder := &block{}
	e.scp()(holder)
	var w strings.Builder
	holder.write(&w, "")
	return strings.TrimSuffix(strings.TrimPrefix(w.String(), "{"), "}")
}
