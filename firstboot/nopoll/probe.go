package nopoll

import (
	"sync"
	"syscall"
	"unsafe"
)

var (
	probeOnce sync.Once
	pollerOK  bool
)

// PollerWorks reports whether this kernel can run Go's network poller:
// it asks epoll_pwait (what the runtime uses on amd64) directly, with raw
// syscalls that never touch the runtime's own poller. ESXi's userworld
// (and the noepoll test harness) answer ENOSYS.
//
// Callers use it to refuse, with a clear error, work that would start the
// poller behind their back: crypto randomness arms a runtime timer on
// first use (crypto/internal/sysrand warns after 60 s blocked), so TLS is
// impossible where the poller cannot run.
func PollerWorks() bool {
	probeOnce.Do(func() {
		fd, _, errno := syscall.RawSyscall(syscall.SYS_EPOLL_CREATE1, syscall.EPOLL_CLOEXEC, 0, 0)
		if errno != 0 {
			return
		}
		defer syscall.Close(int(fd))
		var ev [1]syscall.EpollEvent
		_, _, errno = syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&ev[0])), 1, 0, 0, 0)
		pollerOK = errno == 0
	})
	return pollerOK
}
