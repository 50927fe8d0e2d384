package iso

import (
	"context"
	"io"
	"sync"
	"time"
)

// DriverMock records every call as its own []string (program name first)
// and plays back a scripted QEMU run: console output, then an exit, or no
// exit at all (a hang) until Stop.
type DriverMock struct {
	mu    sync.Mutex
	Calls [][]string

	QemuImgErr error
	ProbeErr   error
	StartErr   error

	// Console is written to the console writer line by line.
	Console []string
	// LineDelay spaces the console lines out.
	LineDelay time.Duration
	// Hang keeps the machine running after the console until Stop.
	Hang bool
	// Exit is how the scripted run ends (unless Hang).
	Exit Exit
	// OnExit runs just before the machine reports it exited, e.g. to
	// write the completion marker onto the disk as the guest would.
	OnExit func()

	Machines []*MachineMock
}

var _ Driver = (*DriverMock)(nil)

func (d *DriverMock) record(call []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Calls = append(d.Calls, call)
}

// CallsTo returns the recorded calls whose program is name.
func (d *DriverMock) CallsTo(name string) [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out [][]string
	for _, c := range d.Calls {
		if c[0] == name {
			out = append(out, c)
		}
	}
	return out
}

func (d *DriverMock) QemuImg(_ context.Context, args ...string) error {
	d.record(append([]string{"qemu-img"}, args...))
	return d.QemuImgErr
}

func (d *DriverMock) ProbeKVM(_ context.Context, machine, cpu string) error {
	d.record([]string{"qemu-probe-kvm", machine, cpu})
	return d.ProbeErr
}

func (d *DriverMock) Start(_ context.Context, args []string, qmpSocket string, console io.Writer) (Machine, error) {
	d.record(append([]string{"qemu", "qmp=" + qmpSocket}, args...))
	if d.StartErr != nil {
		return nil, d.StartErr
	}
	m := &MachineMock{done: make(chan struct{}), stop: make(chan struct{}), exit: d.Exit}
	d.mu.Lock()
	d.Machines = append(d.Machines, m)
	d.mu.Unlock()
	go func() {
		defer close(m.done)
		for _, l := range d.Console {
			select {
			case <-m.stop:
				m.killed()
				return
			case <-time.After(d.LineDelay):
			}
			_, _ = io.WriteString(console, l+"\n")
		}
		if d.Hang {
			<-m.stop
			m.killed()
			return
		}
		if d.OnExit != nil {
			d.OnExit()
		}
	}()
	return m, nil
}

// MachineMock is a scripted QEMU run.
type MachineMock struct {
	done     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex
	exit     Exit
	Stopped  bool
}

func (m *MachineMock) killed() {
	m.mu.Lock()
	m.exit = Exit{Code: -1, Signal: "killed"}
	m.mu.Unlock()
}

func (m *MachineMock) Done() <-chan struct{} { return m.done }

func (m *MachineMock) Exit() Exit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exit
}

func (m *MachineMock) Stop() error {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		m.Stopped = true
		m.mu.Unlock()
		close(m.stop)
	})
	<-m.done
	return nil
}
