package iso

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

func TestStepCreateDisk(t *testing.T) {
	c := testConfig(t, map[string]interface{}{"disk_size": "40G", "disk_name": "golden.raw"})
	d := &DriverMock{}
	state, _ := testState(t, c, d)
	if got := (&stepCreateDisk{}).Run(context.Background(), state); got != multistep.ActionContinue {
		t.Fatalf("Run = %v: %v", got, stateErr(state))
	}
	want := [][]string{{"qemu-img", "create", "-f", "raw", filepath.Join(c.OutputDir, "golden.raw"), "42949672960"}}
	if !reflect.DeepEqual(d.Calls, want) {
		t.Errorf("calls = %q, want %q", d.Calls, want)
	}
	if state.Get(keyDiskPath) != filepath.Join(c.OutputDir, "golden.raw") {
		t.Errorf("disk path = %v", state.Get(keyDiskPath))
	}
}

func TestStepCreateDiskFails(t *testing.T) {
	c := testConfig(t, nil)
	d := &DriverMock{QemuImgErr: errors.New("qemu-img: no space left on device")}
	state, _ := testState(t, c, d)
	if got := (&stepCreateDisk{}).Run(context.Background(), state); got != multistep.ActionHalt {
		t.Fatalf("Run = %v, want halt", got)
	}
	if err := stateErr(state); err == nil || !strings.Contains(err.Error(), "create disk: qemu-img: no space left") {
		t.Errorf("error = %v", err)
	}
	if _, ok := state.GetOk(keyDiskPath); ok {
		t.Error("disk path set after a failure")
	}
}
