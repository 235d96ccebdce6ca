package provider

import (
	"os"
	"strings"
	"testing"
)

// readTraceLog reads the TF_LOG=trace log at path and fails the test at once unless
// the log holds every one of proof (the provider's own device traffic): only then
// does the absence of a secret from it mean anything.
func readTraceLog(t *testing.T, path string, proof ...string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	for _, want := range proof {
		if !strings.Contains(log, want) {
			t.Fatalf("the trace log lacks %q: it does not capture the provider's logs", want)
		}
	}
	return log
}
