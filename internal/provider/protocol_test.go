package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// protocolProvider is the provider served over the plugin protocol inside the test,
// for tests that call one RPC themselves: to see the warnings an acceptance test
// does not show, or to hand the provider a state an older version wrote.
type protocolProvider struct {
	t       *testing.T
	srv     tfprotov6.ProviderServer
	schemas *tfprotov6.GetProviderSchemaResponse
}

func newProtocolProvider(t *testing.T) *protocolProvider {
	t.Helper()
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(t.Context(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &protocolProvider{t: t, srv: srv, schemas: schemas}
}

func (p *protocolProvider) objectType(s *tfprotov6.Schema, what string) tftypes.Object {
	p.t.Helper()
	if s == nil {
		p.t.Fatalf("no schema for %s", what)
	}
	typ, ok := s.ValueType().(tftypes.Object)
	if !ok {
		p.t.Fatalf("the schema of %s is not an object", what)
	}
	return typ
}

func (p *protocolProvider) resourceType(name string) tftypes.Object {
	p.t.Helper()
	return p.objectType(p.schemas.ResourceSchemas[name], name)
}

func (p *protocolProvider) dataSourceType(name string) tftypes.Object {
	p.t.Helper()
	return p.objectType(p.schemas.DataSourceSchemas[name], name)
}

// object builds a value of typ: the attributes in set (tftypes values as they are,
// nested objects as maps, other Go values converted), every other one null.
func (p *protocolProvider) object(typ tftypes.Object, set map[string]any) tftypes.Value {
	p.t.Helper()
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		switch v := set[name].(type) {
		case nil:
			vals[name] = tftypes.NewValue(at, nil)
		case tftypes.Value:
			vals[name] = v
		case map[string]any:
			ot, ok := at.(tftypes.Object)
			if !ok {
				p.t.Fatalf("attribute %s is not an object", name)
			}
			vals[name] = p.object(ot, v)
		default:
			vals[name] = tftypes.NewValue(at, v)
		}
	}
	for name := range set {
		if _, ok := typ.AttributeTypes[name]; !ok {
			p.t.Fatalf("no attribute %s", name)
		}
	}
	return tftypes.NewValue(typ, vals)
}

func (p *protocolProvider) dynamic(typ tftypes.Type, v tftypes.Value) *tfprotov6.DynamicValue {
	p.t.Helper()
	d, err := tfprotov6.NewDynamicValue(typ, v)
	if err != nil {
		p.t.Fatal(err)
	}
	return &d
}

// configure configures the provider with the provider block cfg.
func (p *protocolProvider) configure(cfg map[string]any) {
	p.t.Helper()
	typ := p.objectType(p.schemas.Provider, "the provider")
	resp, err := p.srv.ConfigureProvider(p.t.Context(), &tfprotov6.ConfigureProviderRequest{Config: p.dynamic(typ, p.object(typ, cfg))})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			p.t.Fatalf("configure: %s: %s", d.Summary, d.Detail)
		}
	}
}

// plan plans resource name from prior to proposed with config, and returns the
// diagnostics.
func (p *protocolProvider) plan(name string, prior, proposed, config tftypes.Value) []*tfprotov6.Diagnostic {
	p.t.Helper()
	typ := p.resourceType(name)
	resp, err := p.srv.PlanResourceChange(p.t.Context(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: name, PriorState: p.dynamic(typ, prior), ProposedNewState: p.dynamic(typ, proposed), Config: p.dynamic(typ, config),
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.Diagnostics
}

// findWarning returns the first warning of diags whose summary and detail match,
// and fails the test on any error among diags.
func findWarning(t *testing.T, diags []*tfprotov6.Diagnostic, match func(summary, detail string) bool) *tfprotov6.Diagnostic {
	t.Helper()
	var found *tfprotov6.Diagnostic
	for _, d := range diags {
		switch {
		case d.Severity == tfprotov6.DiagnosticSeverityError:
			t.Errorf("error: %s: %s", d.Summary, d.Detail)
		case d.Severity == tfprotov6.DiagnosticSeverityWarning && found == nil && match(d.Summary, d.Detail):
			found = d
		}
	}
	return found
}
