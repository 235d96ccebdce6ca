package provider

import (
	"context"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// ignoreLinesAttribute is the ignore_lines argument of a resource whose backups
// compare text configurations with the device's previous backup: regular
// expressions checked at plan time. what names the lines ("running-configuration"),
// example is a pattern for them, and changed the attribute that then means a real
// change.
func ignoreLinesAttribute(what, example, changed string) schema.ListAttribute {
	return schema.ListAttribute{
		MarkdownDescription: "Regular expressions ([Go RE2 syntax](https://pkg.go.dev/regexp/syntax)) matching " + what + " lines that change on every backup " +
			"without meaning anything (timestamps, counters), e.g. `" + example + "`. A matching line (without its line ending) takes no part in the " +
			"comparison with the previous backup and is left out of the diff, so " + changed + " means a real change. Changing it takes no new backup: it applies from the next one.",
		ElementType: types.StringType,
		Optional:    true,
		Validators:  []validator.List{listvalidator.ValueStringsAre(regexpValidator())},
	}
}

// compileIgnoreLines compiles ignore_lines, which validation has checked.
func compileIgnoreLines(ctx context.Context, list types.List) ([]*regexp.Regexp, diag.Diagnostics) {
	var patterns []string
	diags := list.ElementsAs(ctx, &patterns, false)
	var out []*regexp.Regexp
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			diags.AddAttributeError(path.Root("ignore_lines").AtListIndex(i), "Invalid regular expression in ignore_lines", regexpError(p, err))
			continue
		}
		out = append(out, re)
	}
	return out, diags
}
