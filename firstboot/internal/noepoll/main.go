// Command noepoll runs a program under a seccomp filter that makes
// epoll_wait, epoll_pwait and epoll_pwait2 fail with ENOSYS, which is how
// ESXi 7's userworld answers Go's network poller (research measured.md).
// Tests use it to prove the firstboot agent never blocks in the poller and
// that a stock net/http binary does crash there.
//
//	noepoll PROGRAM [ARG...]
//
// Hand-assembled because the filter is eight BPF instructions and
// golang.org/x/sys/unix already has the types; a seccomp library would add a
// dependency for nothing.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// auditArchX86_64 is AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT |
// __AUDIT_ARCH_LE); a filter must check the architecture before trusting
// the syscall number.
const auditArchX86_64 = 0xc000003e

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

func filter() []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	return []unix.SockFilter{
		{Code: ld, K: offArch},
		{Code: jeq, Jt: 1, Jf: 0, K: auditArchX86_64},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW}, // other arch: not our concern
		{Code: ld, K: offNr},
		{Code: jeq, Jt: 3, Jf: 0, K: unix.SYS_EPOLL_WAIT},
		{Code: jeq, Jt: 2, Jf: 0, K: unix.SYS_EPOLL_PWAIT},
		{Code: jeq, Jt: 1, Jf: 0, K: unix.SYS_EPOLL_PWAIT2},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: enosys},
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: noepoll PROGRAM [ARG...]")
		os.Exit(2)
	}
	if runtime.GOARCH != "amd64" {
		fmt.Fprintf(os.Stderr, "noepoll: only amd64 is supported, not %s\n", runtime.GOARCH)
		os.Exit(2)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "noepoll: %v\n", err)
		os.Exit(2)
	}
	// The filter and no_new_privs are per thread and survive execve, so
	// install and exec on one locked thread.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "noepoll: prctl(PR_SET_NO_NEW_PRIVS): %v\n", err)
		os.Exit(2)
	}
	f := filter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		fmt.Fprintf(os.Stderr, "noepoll: seccomp(SET_MODE_FILTER): %v\n", errno)
		os.Exit(2)
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "noepoll: exec %s: %v\n", path, err)
	os.Exit(2)
}
