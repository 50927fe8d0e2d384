package iso

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// runWait starts the mock machine through stepRunQemu and waits on it.
func runWait(t *testing.T, d *DriverMock, timeout string, ctx context.Context) (multistep.StepAction, error, *DriverMock) {
	t.Helper()
	c := testConfig(t, map[string]interface{}{"accelerator": "tcg", "install_timeout": timeout})
	state, _ := testState(t, c, d)
	state.Put(keyBootISO, "/t/boot.iso")
	state.Put(keyDiskPath, c.OutputDir+"/disk.raw")
	run := &stepRunQemu{}
	if got := run.Run(ctx, state); got != multistep.ActionContinue {
		t.Fatalf("run qemu: %v", stateErr(state))
	}
	defer run.Cleanup(state)
	got := (&stepWaitInstall{}).Run(ctx, state)
	return got, stateErr(state), d
}

func TestStepWaitInstall(t *testing.T) {
	powerOff := Exit{Code: 0, ShutdownReason: "guest-shutdown"}
	for _, tc := range []struct {
		name     string
		d        *DriverMock
		timeout  string
		want     multistep.StepAction
		wantErr  error
		wantText string
		stopped  bool
	}{
		{"clean power-off", &DriverMock{Console: []string{"Installing", "Installation complete. Halting."}, Exit: powerOff}, "1m",
			multistep.ActionContinue, nil, "", false},
		{"psod fails at once", &DriverMock{Console: []string{"Installing", "\x1b[31m@BlueScreen: #PF Exception 14 in world 1:weasel\x1b[0m"}, Hang: true}, "1m",
			multistep.ActionHalt, nil, `serial console line 2 shows a PSOD: "@BlueScreen: #PF Exception 14 in world 1:weasel"`, true},
		{"kickstart error", &DriverMock{Console: []string{"An error has occurred while parsing the installation script"}, Hang: true}, "1m",
			multistep.ActionHalt, nil, "shows a kickstart error", true},
		{"installer error", &DriverMock{Console: []string{"An error has occurred during the installation: disk"}, Hang: true}, "1m",
			multistep.ActionHalt, nil, "shows an installer error", true},
		{"failure line just before exit", &DriverMock{Console: []string{"Traceback (most recent call last):"}, Exit: powerOff}, "1m",
			multistep.ActionHalt, nil, "shows an installer error", false},
		{"hang hits the timeout", &DriverMock{Console: []string{"Installing ESXi"}, Hang: true}, "300ms",
			multistep.ActionHalt, ErrInstallTimeout, `last console line: "Installing ESXi"`, true},
		{"reset is not a power-off", &DriverMock{Console: []string{"Rebooting"}, Exit: Exit{Code: 0, ShutdownReason: "guest-reset"}}, "1m",
			multistep.ActionHalt, ErrNotPoweredOff, "shutdown reason guest-reset", false},
		{"qemu crash is not a power-off", &DriverMock{Exit: Exit{Code: -1, Signal: "aborted", Stderr: "kvm_buf_set_msrs: Assertion failed"}}, "1m",
			multistep.ActionHalt, ErrNotPoweredOff, "on signal aborted", false},
		{"qemu error exit", &DriverMock{Exit: Exit{Code: 1, Stderr: "could not open disk"}}, "1m",
			multistep.ActionHalt, ErrNotPoweredOff, "the serial console printed nothing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			got, err, d := runWait(t, tc.d, tc.timeout, context.Background())
			if got != tc.want {
				t.Fatalf("Run = %v (err %v), want %v", got, err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantText != "" && (err == nil || !strings.Contains(err.Error(), tc.wantText)) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantText)
			}
			if tc.stopped && !d.Machines[0].Stopped {
				t.Error("the machine was not stopped")
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestStepWaitInstallHeartbeat(t *testing.T) {
	c := testConfig(t, map[string]interface{}{"accelerator": "tcg"})
	d := &DriverMock{Console: []string{"Installing ESXi"}, LineDelay: 10 * time.Millisecond, Hang: true}
	state, out := testState(t, c, d)
	state.Put(keyBootISO, "/t/boot.iso")
	state.Put(keyDiskPath, c.OutputDir+"/disk.raw")
	run := &stepRunQemu{}
	if got := run.Run(context.Background(), state); got != multistep.ActionContinue {
		t.Fatal(stateErr(state))
	}
	defer run.Cleanup(state)
	time.AfterFunc(300*time.Millisecond, func() { _ = d.Machines[0].Stop() })
	_ = (&stepWaitInstall{heartbeat: 50 * time.Millisecond}).Run(context.Background(), state)
	if !strings.Contains(out.String(), "Still installing after") || !strings.Contains(out.String(), `last console line: "Installing ESXi"`) {
		t.Errorf("no heartbeat in UI output:\n%s", out)
	}
}

func TestStepWaitInstallCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	got, err, d := runWait(t, &DriverMock{Hang: true}, "1m", ctx)
	if got != multistep.ActionHalt || !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, %v; want halt with context.Canceled", got, err)
	}
	if !d.Machines[0].Stopped {
		t.Error("the machine was not stopped")
	}
}
