package iso

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
)

func markerDisk(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	o := fixture.DiskOptions{Onetime: true}
	if content != "" {
		o.Extra = []disk.File{{Name: "/" + MarkerFile, Data: []byte(content)}}
	}
	if _, err := fixture.Disk(p, o); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStepVerifyMarker(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name    string
		content string
		ok      bool
	}{
		{"this build's marker", markerContent(token), true},
		{"another build's marker", markerContent("ffffffffffffffffffffffffffffffff"), false},
		{"no marker", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, nil)
			state, _ := testState(t, c, &DriverMock{})
			state.Put(keyDiskPath, markerDisk(t, tc.content))
			state.Put(keyKickstart, &renderedKickstart{Token: token})
			got := (&stepVerifyMarker{}).Run(context.Background(), state)
			if (got == multistep.ActionContinue) != tc.ok {
				t.Fatalf("Run = %v (err %v), want ok=%v", got, stateErr(state), tc.ok)
			}
			if !tc.ok && !errors.Is(stateErr(state), ErrNoMarker) {
				t.Errorf("err = %v, want ErrNoMarker", stateErr(state))
			}
		})
	}
}
