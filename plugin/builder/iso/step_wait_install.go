package iso

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// ErrInstallTimeout is returned when install_timeout passes first.
var ErrInstallTimeout = errors.New("install_timeout reached")

// ErrNotPoweredOff is returned when QEMU ended any other way than the
// guest powering off (a crash, a reset, a signal).
var ErrNotPoweredOff = errors.New("guest did not power off")

// stepWaitInstall waits for the first of: a failure line on the console
// (fails within the time it takes to print it), QEMU exiting, the install
// timeout, or cancellation. Only a guest power-off with a clean console
// lets the build go on to check the completion marker.
//
// Uses: keyConfig, keyUI, keyMachine, keyConsole. Produces: nothing.
type stepWaitInstall struct {
	// heartbeat is how often a long install reports it is still running
	// (a real ESXi install takes 10-60 minutes); 5m when zero.
	heartbeat time.Duration
}

func (s *stepWaitInstall) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	ui := state.Get(keyUI).(packersdk.Ui)
	m := state.Get(keyMachine).(Machine)
	w := state.Get(keyConsole).(*consoleWatcher)

	ui.Say(fmt.Sprintf("Waiting up to %s for the installer to finish and power off", c.InstallTimeout))
	start := time.Now()
	timer := time.NewTimer(c.InstallTimeout)
	defer timer.Stop()
	if s.heartbeat == 0 {
		s.heartbeat = 5 * time.Minute
	}
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for exited := false; !exited; {
		select {
		case <-beat.C:
			ui.Say(fmt.Sprintf("Still installing after %s (of install_timeout %s)%s", since(start), c.InstallTimeout, lastLines(w)))
		case f := <-w.Failed():
			_ = m.Stop()
			return halt(state, fmt.Errorf("install failed after %s: %w", since(start), f))
		case <-timer.C:
			_ = m.Stop()
			return halt(state, fmt.Errorf("install: %w (%s) before the guest powered off%s",
				ErrInstallTimeout, c.InstallTimeout, lastLines(w)))
		case <-ctx.Done():
			_ = m.Stop()
			return halt(state, fmt.Errorf("install: %w", ctx.Err()))
		case <-m.Done():
			exited = true
		}
	}
	// QEMU is gone and its console drained: a failure printed just before
	// the end still counts.
	_ = w.Close()
	if f := w.Failure(); f != nil {
		return halt(state, fmt.Errorf("install failed after %s: %w", since(start), *f))
	}
	exit := m.Exit()
	if !exit.PoweredOff() {
		return halt(state, fmt.Errorf("install: %w: %s%s", ErrNotPoweredOff, exit, lastLines(w)))
	}
	ui.Say(fmt.Sprintf("Guest powered off after %s", since(start)))
	return multistep.ActionContinue
}

func (s *stepWaitInstall) Cleanup(multistep.StateBag) {}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func lastLines(w *consoleWatcher) string {
	l := w.LastLines()
	if len(l) == 0 {
		return "; the serial console printed nothing"
	}
	return fmt.Sprintf("; last console line: %q", l[len(l)-1]) + func() string {
		if len(l) == 1 {
			return ""
		}
		return " (before it: " + strings.Join(quoteAll(l[:len(l)-1]), ", ") + ")"
	}()
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
