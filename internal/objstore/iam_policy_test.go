package objstore

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// The least-privilege policy the docs give (examples/s3/iam-policy.json) grants
// exactly the actions the AccessDenied hint names: a user who follows either ends
// with the same policy.
func TestIAMPolicyExampleGrantsWhatTheHintNames(t *testing.T) {
	data, err := os.ReadFile("../../examples/s3/iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Sid    string
			Action any // one action or a list
		}
	}
	if err := json.Unmarshal(data, &policy); err != nil {
		t.Fatal(err)
	}
	granted := map[string][]string{}
	for _, st := range policy.Statement {
		switch a := st.Action.(type) {
		case string:
			granted[st.Sid] = []string{a}
		case []any:
			for _, x := range a {
				s, _ := x.(string)
				granted[st.Sid] = append(granted[st.Sid], s)
			}
		}
	}
	for sid, want := range map[string][]string{
		"CheckTheBucketAndListTheStore":        IAMBucketActions,
		"WriteReadAndDeleteBackups":            IAMObjectActions,
		"ObjectLockOnlyWithAnObjectLockBucket": IAMObjectLockActions,
	} {
		got := slices.Sorted(slices.Values(granted[sid]))
		if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("statement %s grants %v; the store's hint names %v", sid, got, want)
		}
	}
}
