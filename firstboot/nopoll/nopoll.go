// Package nopoll is the agent's file, sleep and process I/O, written so the
// Go runtime's network poller is never initialised.
//
// ESXi's userworld answers epoll_pwait with ENOSYS. Go initialises its
// poller on the first os.Open/OpenFile/ReadFile/CreateTemp (every file is
// offered to epoll on Linux), the first os.Pipe or socket, and the first
// runtime timer (time.Sleep, time.After, context.WithTimeout); from then on
// sysmon calls epoll_pwait every 10 ms and the process dies with
// "runtime: netpoll failed". Measured under the noepoll seccomp harness:
// os.ReadFile followed by 300 ms of work crashes; so does a program whose
// garbage collector wakes the scavenger (it sleeps on a runtime timer).
//
// So the agent opens files with syscall.Open and wraps them with os.NewFile
// (a blocking descriptor passed to NewFile is never offered to the poller),
// sleeps with nanosleep(2), waits for children with wait4(2), and turns the
// garbage collector off (DisableGC) for its short life.
package nopoll

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// DisableGC turns the collector off so the scavenger never arms its timer.
// The agent is short-lived and bounds every body it reads, so its heap
// stays in the tens of MiB.
func DisableGC() { debug.SetGCPercent(-1) }

// Open opens path without registering it with the poller.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads at most limit bytes of path; a longer file is an error
// so that a hostile seed file cannot exhaust memory.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// WriteFileAtomic writes data to a temporary file beside path, fsyncs it
// and renames it over path, so a crash leaves the old or the new file,
// never a torn one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp." + strconv.Itoa(os.Getpid())
	f, err := Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := Open(filepath.Dir(path), syscall.O_RDONLY|syscall.O_DIRECTORY, 0); err == nil {
		d.Sync() // best effort: some filesystems (vfat bootbanks) refuse
		d.Close()
	}
	return nil
}

// AppendFile appends data to path, creating it with perm.
func AppendFile(path string, data []byte, perm os.FileMode) error {
	f, err := Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_APPEND, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", path, err)
	}
	return f.Close()
}

// ReadDirNames lists the names in dir.
func ReadDirNames(dir string) ([]string, error) {
	f, err := Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// Sleep blocks the calling thread for d with nanosleep(2): no runtime
// timer is armed.
func Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		err := syscall.Nanosleep(&ts, &rem)
		if err != syscall.EINTR {
			return
		}
		ts = rem
	}
}

// ErrTimeout is returned by Run when the command outlived its deadline and
// was killed.
var ErrTimeout = errors.New("command timed out")

// Result is a finished command.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int // -1 when killed by a signal
}

// maxOutput bounds what Run keeps of a command's output.
const maxOutput = 8 << 20

// Run executes argv (argv[0] is a path) with stdin from /dev/null and
// stdout/stderr into unlinked temporary files under tmpDir, polling
// wait4(WNOHANG) so that a hung command is killed at deadline without a
// runtime timer. A non-zero exit is not an error: callers read ExitCode.
func Run(argv []string, env []string, tmpDir string, deadline time.Time) (*Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("run: empty command")
	}
	null, err := Open(os.DevNull, syscall.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	out, err := tempFile(tmpDir, "stdout")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	errf, err := tempFile(tmpDir, "stderr")
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	if env == nil {
		env = os.Environ()
	}
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), out.Fd(), errf.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", argv[0], err)
	}
	var ws syscall.WaitStatus
	step := time.Millisecond
	timedOut := false
	for {
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wait %s: %w", argv[0], err)
		}
		if wpid == pid {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) && !timedOut {
			// The whole process group: a shell's children must go too.
			syscall.Kill(-pid, syscall.SIGKILL)
			timedOut = true
		}
		Sleep(step)
		if step < 50*time.Millisecond {
			step *= 2
		}
	}
	res := &Result{ExitCode: ws.ExitStatus()}
	if ws.Signaled() {
		res.ExitCode = -1
	}
	if res.Stdout, err = readBack(out); err != nil {
		return nil, err
	}
	if res.Stderr, err = readBack(errf); err != nil {
		return nil, err
	}
	if timedOut {
		return res, fmt.Errorf("%s: %w", argv[0], ErrTimeout)
	}
	return res, nil
}

func tempFile(dir, what string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	for i := 0; i < 100; i++ {
		name := filepath.Join(dir, fmt.Sprintf(".esxi-firstboot-%d-%d-%s", os.Getpid(), time.Now().UnixNano()+int64(i), what))
		f, err := Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Unlinked at once: the output may hold secrets (userdata runs).
		os.Remove(name)
		return f, nil
	}
	return nil, fmt.Errorf("create temporary file in %s: too many collisions", dir)
}

func readBack(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOutput))
	if err != nil {
		return nil, fmt.Errorf("read command output: %w", err)
	}
	return b, nil
}
