package iso

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// QemuDriver runs the real qemu-system-x86_64 and qemu-img.
type QemuDriver struct {
	QemuPath    string
	QemuImgPath string
}

var _ Driver = (*QemuDriver)(nil)

func (d *QemuDriver) QemuImg(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, d.QemuImgPath, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", d.QemuImgPath, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (d *QemuDriver) ProbeKVM(ctx context.Context, machine, cpu string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.QemuPath, "-machine", machine+",accel=kvm", "-cpu", cpu, "-m", "64",
		"-nodefaults", "-display", "none", "-S", "-monitor", "stdio")
	cmd.Stdin = strings.NewReader("quit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu with accel=kvm -cpu %s: %w: %s", cpu, err, lastLine(out))
	}
	return nil
}

// lastLine is the last non-empty line of QEMU's output, its error message.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "(qemu)") && !strings.HasPrefix(l, "QEMU ") {
			return l
		}
	}
	return ""
}

func (d *QemuDriver) Start(ctx context.Context, args []string, qmpSocket string, console io.Writer) (Machine, error) {
	cmd := exec.Command(d.QemuPath, args...)
	cmd.Stdin = nil // /dev/null: QEMU must never put a terminal into raw mode
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m := &qemuMachine{cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 4096}}
	cmd.Stderr = m.stderr
	// Its own process group, so Packer's Ctrl-C (sent to our group) does
	// not kill QEMU behind the builder's back: Cleanup stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	log.Printf("[INFO] starting %s %s", d.QemuPath, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", d.QemuPath, err)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // console: stdout until QEMU closes it
		defer wg.Done()
		_, _ = io.Copy(console, stdout)
	}()
	go func() { // QMP: the SHUTDOWN event says why the guest stopped
		defer wg.Done()
		m.watchQMP(qmpSocket)
	}()
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.waitErr = err
		m.exited = true
		m.mu.Unlock()
		wg.Wait()
		close(m.done)
	}()
	return m, nil
}

type qemuMachine struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *tailBuffer

	mu       sync.Mutex
	exited   bool
	waitErr  error
	reason   string
	stopOnce sync.Once
}

func (m *qemuMachine) Done() <-chan struct{} { return m.done }

func (m *qemuMachine) Exit() Exit {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := Exit{ShutdownReason: m.reason, Stderr: strings.TrimSpace(m.stderr.String())}
	ps := m.cmd.ProcessState
	if ps == nil {
		e.Code = -1
		return e
	}
	if st, ok := ps.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		e.Code, e.Signal = -1, st.Signal().String()
	} else {
		e.Code = ps.ExitCode()
	}
	return e
}

func (m *qemuMachine) Stop() error {
	m.stopOnce.Do(func() {
		select {
		case <-m.done:
			return
		default:
		}
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	})
	select {
	case <-m.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("qemu (pid %d) did not exit 30s after SIGKILL", m.cmd.Process.Pid)
	}
}

func (m *qemuMachine) isExited() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exited
}

// watchQMP connects to QEMU's QMP socket and records the reason of the
// SHUTDOWN event. QMP is a line-delimited JSON protocol small enough to
// speak directly (greeting, qmp_capabilities, then events) without a
// client library.
func (m *qemuMachine) watchQMP(path string) {
	var conn net.Conn
	var err error
	for i := 0; ; i++ {
		conn, err = net.Dial("unix", path)
		if err == nil {
			break
		}
		if m.isExited() || i > 200 {
			log.Printf("[WARN] qmp %s: %v", path, err)
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"execute":"qmp_capabilities"}` + "\n")); err != nil {
		return
	}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var msg struct {
			Event string `json:"event"`
			Data  struct {
				Guest  bool   `json:"guest"`
				Reason string `json:"reason"`
			} `json:"data"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		if msg.Event == "SHUTDOWN" {
			m.mu.Lock()
			m.reason = msg.Data.Reason
			m.mu.Unlock()
			log.Printf("[INFO] qmp: SHUTDOWN guest=%v reason=%s", msg.Data.Guest, msg.Data.Reason)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Printf("[DEBUG] qmp read: %v", err)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
