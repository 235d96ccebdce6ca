package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// diagRecorder keeps the warnings the provider returns to Terraform, which
// terraform-plugin-testing does not expose: a test gives its factories() to
// resource.TestCase and asserts on the warnings seen.
type diagRecorder struct {
	mu       sync.Mutex
	warnings []string         // "summary: detail"
	now      func() time.Time // the provider's clock, when not time.Now
}

func (r *diagRecorder) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"infrabackup": func() (tfprotov6.ProviderServer, error) {
			p := New("test")()
			if r.now != nil {
				p = &infrabackupProvider{version: "test", now: r.now}
			}
			s, err := providerserver.NewProtocol6WithError(p)()
			if err != nil {
				return nil, err
			}
			return &recordingServer{ProviderServer: s, rec: r}, nil
		},
	}
}

func (r *diagRecorder) add(diags []*tfprotov6.Diagnostic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range diags {
		if d != nil && d.Severity == tfprotov6.DiagnosticSeverityWarning {
			r.warnings = append(r.warnings, d.Summary+": "+d.Detail)
		}
	}
}

// take returns the warnings seen since the last take, and those among them that
// contain every one of parts.
func (r *diagRecorder) take(parts ...string) (matching, all []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all, r.warnings = r.warnings, nil
	for _, w := range all {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			matching = append(matching, w)
		}
	}
	return matching, all
}

// warning is a check that a warning seen since the last take holds every one of
// parts.
func (r *diagRecorder) warning(parts ...string) checkFunc {
	return deviceCheck(func() error {
		if w, all := r.take(parts...); len(w) == 0 {
			return fmt.Errorf("no warning holds all of %q; warnings: %q", parts, all)
		}
		return nil
	})
}

type recordingServer struct {
	tfprotov6.ProviderServer
	rec *diagRecorder
}

func (s *recordingServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	resp, err := s.ProviderServer.ReadResource(ctx, req)
	if resp != nil {
		s.rec.add(resp.Diagnostics)
	}
	return resp, err
}

func (s *recordingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := s.ProviderServer.PlanResourceChange(ctx, req)
	if resp != nil {
		s.rec.add(resp.Diagnostics)
	}
	return resp, err
}

func (s *recordingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	resp, err := s.ProviderServer.ApplyResourceChange(ctx, req)
	if resp != nil {
		s.rec.add(resp.Diagnostics)
	}
	return resp, err
}

func (s *recordingServer) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	resp, err := s.ProviderServer.ReadDataSource(ctx, req)
	if resp != nil {
		s.rec.add(resp.Diagnostics)
	}
	return resp, err
}
