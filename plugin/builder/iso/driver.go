package iso

import (
	"context"
	"io"
	"strconv"
)

// Driver runs the external programs of a build: qemu-img and QEMU. Steps
// only talk to QEMU through it, so unit tests swap in DriverMock.
type Driver interface {
	// QemuImg runs qemu-img with args and returns its combined output on
	// failure inside the error.
	QemuImg(ctx context.Context, args ...string) error
	// ProbeKVM starts QEMU paused with KVM and the given machine and CPU
	// model and quits it: /dev/kvm can open and still fail at the first
	// vCPU setup (nested or sandboxed hosts), which only QEMU can tell.
	ProbeKVM(ctx context.Context, machine, cpu string) error
	// Start launches QEMU with args. The guest's serial console (QEMU's
	// stdout) is copied to console until QEMU exits. qmpSocket is the
	// path of the QMP socket the args create; the machine listens on it
	// for the SHUTDOWN event that says why the guest stopped.
	Start(ctx context.Context, args []string, qmpSocket string, console io.Writer) (Machine, error)
}

// Machine is a running QEMU.
type Machine interface {
	// Done is closed once QEMU has exited and its console is drained.
	Done() <-chan struct{}
	// Exit says how QEMU ended; valid after Done is closed.
	Exit() Exit
	// Stop kills QEMU (if still running) and waits for it. Safe to call
	// more than once and after QEMU exited by itself.
	Stop() error
}

// Exit is how a QEMU run ended.
type Exit struct {
	// Code is QEMU's exit status; -1 if it was killed by a signal.
	Code int
	// Signal names the signal that killed QEMU, if any.
	Signal string
	// ShutdownReason is the reason of QMP's SHUTDOWN event:
	// "guest-shutdown" for an ACPI/hardware power-off by the guest,
	// "guest-reset" for a reboot (a crash with -no-reboot), "guest-panic",
	// "host-signal", ... Empty when QEMU sent no SHUTDOWN event.
	ShutdownReason string
	// Stderr is the tail of QEMU's own error output.
	Stderr string
}

// PoweredOff reports whether the guest powered the machine off itself and
// QEMU exited cleanly: the only ending that counts as a finished install.
func (e Exit) PoweredOff() bool {
	return e.Code == 0 && e.Signal == "" && e.ShutdownReason == "guest-shutdown"
}

func (e Exit) String() string {
	s := "qemu exited"
	switch {
	case e.Signal != "":
		s += " on signal " + e.Signal
	default:
		s += " with status " + strconv.Itoa(e.Code)
	}
	if e.ShutdownReason != "" {
		s += ", shutdown reason " + e.ShutdownReason
	} else {
		s += ", no shutdown event from the guest"
	}
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}
