package provider

import (
	"fmt"
	"slices"
	"strings"

	arubasim "github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim/aruba"
)

// Test configurations are built, not edited as text: a block starts with the
// attributes a test usually wants, and options change what one test needs
// differently (set, unset). The builder writes the HCL.
//
//	e.config(arubaBackup(c, set("trigger", "week-2"), e.scp(set("verify", false))))

// Addresses of the resources the builders declare; checks name them the same way.
const (
	arubaRes   = "infrabackup_aruba_conductor_backup.mc"
	iloRes     = "infrabackup_ilo_backup.ilo"
	restoreRes = "infrabackup_ilo_restore.r"
	flagRes    = "infrabackup_ilo_custom_backup_restore.flag"
)

// block is one block of a configuration (provider, resource, data source, variable)
// or, with no kind, the value of an object attribute (scp = { ... }).
type block struct {
	kind   string   // "resource", "data", "provider", "variable"; "" for an object
	labels []string // resource type and name, provider name, ...
	attrs  []attribute
}

type attribute struct {
	name  string
	value any // string, int, int64, bool, expr or *block (an object)
}

// expr is an HCL expression written as it is: a reference, a list, a type.
type expr string

// option changes a block before it is written.
type option func(*block)

// set gives attribute name the value v, in place if it is already there.
func set(name string, v any) option {
	return func(b *block) {
		for i := range b.attrs {
			if b.attrs[i].name == name {
				b.attrs[i].value = v
				return
			}
		}
		b.attrs = append(b.attrs, attribute{name, v})
	}
}

// unset removes attribute name.
func unset(name string) option {
	return func(b *block) {
		b.attrs = slices.DeleteFunc(b.attrs, func(a attribute) bool { return a.name == name })
	}
}

// named changes the name of a resource or data source, for a second one of a type.
func named(name string) option {
	return func(b *block) { b.labels[len(b.labels)-1] = name }
}

// object is the value of an object attribute.
func object(opts ...option) *block {
	return build(&block{}, opts)
}

// withTimeouts sets the timeouts attribute from operation-duration pairs:
// withTimeouts("read", "2s", "update", "2s").
func withTimeouts(pairs ...string) option {
	t := &block{}
	for i := 0; i+1 < len(pairs); i += 2 {
		set(pairs[i], pairs[i+1])(t)
	}
	return set("timeouts", t)
}

func build(b *block, opts []option) *block {
	for _, o := range opts {
		o(b)
	}
	return b
}

// resourceBlock declares the resource at address ("type.name").
func resourceBlock(address string, opts ...option) *block {
	typ, name, _ := strings.Cut(address, ".")
	return build(&block{kind: "resource", labels: []string{typ, name}}, opts)
}

// dataBlock declares the data source at address ("data.type.name").
func dataBlock(address string, opts ...option) *block {
	typ, name, _ := strings.Cut(strings.TrimPrefix(address, "data."), ".")
	return build(&block{kind: "data", labels: []string{typ, name}}, opts)
}

// ephemeralVariable declares a sensitive, ephemeral string variable: a secret the
// test passes through TF_VAR_name, so that it is never in the configuration's text.
func ephemeralVariable(name string) *block {
	return build(&block{kind: "variable", labels: []string{name}},
		[]option{set("type", expr("string")), set("sensitive", true), set("ephemeral", true)})
}

// arubaBackup is the backup arubaRes of conductor c, with trigger "1".
func arubaBackup(c *arubasim.Server, opts ...option) *block {
	return resourceBlock(arubaRes, append([]option{set("host", c.Host), set("port", c.Port), set("trigger", "1")}, opts...)...)
}

// iloBackup is the backup iloRes of the iLO d, with trigger "1".
func iloBackup(d *iloSim, opts ...option) *block {
	return resourceBlock(iloRes, append([]option{set("host", d.Host), set("port", d.Port), set("trigger", "1")}, opts...)...)
}

// iloRestore is the restore restoreRes of the iLO d from backupFile (a path, or an
// expr such as the backup's local_path).
func iloRestore(d *iloSim, backupFile any, opts ...option) *block {
	return resourceBlock(restoreRes, append([]option{set("host", d.Host), set("port", d.Port), set("backup_file", backupFile)}, opts...)...)
}

// restoreOfBackup restores d from the backup iloRes took.
func restoreOfBackup(d *iloSim, opts ...option) *block {
	return iloRestore(d, expr(iloRes+".local_path"), opts...)
}

// customBackupRestore is the flag resource flagRes of the iLO d.
func customBackupRestore(d *iloSim, enabled bool, opts ...option) *block {
	return resourceBlock(flagRes, append([]option{set("host", d.Host), set("port", d.Port), set("enabled", enabled)}, opts...)...)
}

// hclConfig writes blocks as one configuration.
func hclConfig(blocks ...*block) string {
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString("\n")
		bl.write(&b, "")
		b.WriteString("\n")
	}
	return b.String()
}

func (b *block) write(w *strings.Builder, indent string) {
	if b.kind != "" {
		w.WriteString(b.kind)
		for _, l := range b.labels {
			w.WriteString(" " + hclString(l))
		}
		w.WriteString(" ")
	}
	w.WriteString("{\n")
	for _, a := range b.attrs {
		w.WriteString(indent + "  " + a.name + " = ")
		switch v := a.value.(type) {
		case *block:
			v.write(w, indent+"  ")
		case string:
			w.WriteString(hclString(v))
		case expr:
			w.WriteString(string(v))
		case int, int64, bool:
			fmt.Fprint(w, v)
		default:
			panic(fmt.Sprintf("attribute %s: no HCL for %T", a.name, a.value))
		}
		w.WriteString("\n")
	}
	w.WriteString(indent + "}")
}

// hclString quotes s as an HCL string literal: template sequences (${, %{) stay
// literal text.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r) // doubled: $${ is a literal ${
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
