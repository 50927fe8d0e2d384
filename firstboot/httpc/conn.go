package httpc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errTimeout satisfies net.Error so crypto/tls and callers see a timeout.
type errTimeout struct{ op string }

func (e errTimeout) Error() string   { return e.op + ": i/o timeout" }
func (e errTimeout) Timeout() bool   { return true }
func (e errTimeout) Temporary() bool { return true }

// conn is a TCP connection on a blocking socket. It implements net.Conn so
// crypto/tls can run over it, but it is never handed to the runtime
// poller: reads and writes are plain read(2)/write(2) bounded by
// SO_RCVTIMEO/SO_SNDTIMEO, which ESXi's userworld supports.
type conn struct {
	fd       int
	local    net.Addr
	remote   net.Addr
	deadline time.Time // read and write deadline
}

var _ net.Conn = (*conn)(nil)

func sockaddr(ap netip.AddrPort) (syscall.Sockaddr, int) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, syscall.AF_INET
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}, syscall.AF_INET6
}

// dial connects to ap, giving up at deadline.
func dial(ap netip.AddrPort, deadline time.Time) (*conn, error) {
	sa, family := sockaddr(ap)
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			syscall.Close(fd)
		}
	}()
	// Non-blocking connect plus poll(2) is the only way to bound connect
	// that survives EINTR from the Go runtime's preemption signals.
	err = syscall.Connect(fd, sa)
	if err != nil && err != syscall.EINPROGRESS && err != syscall.EINTR {
		return nil, fmt.Errorf("connect %s: %w", ap, err)
	}
	if err != nil {
		for {
			ms := int(time.Until(deadline) / time.Millisecond)
			if ms <= 0 {
				return nil, fmt.Errorf("connect %s: %w", ap, errTimeout{"connect"})
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			n, perr := unix.Poll(pfd, ms)
			if perr == syscall.EINTR {
				continue
			}
			if perr != nil {
				return nil, fmt.Errorf("connect %s: poll: %w", ap, perr)
			}
			if n > 0 {
				break
			}
		}
		soerr, gerr := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if gerr != nil {
			return nil, fmt.Errorf("connect %s: %w", ap, gerr)
		}
		if soerr != 0 {
			return nil, fmt.Errorf("connect %s: %w", ap, &os.SyscallError{Syscall: "connect", Err: syscall.Errno(soerr)})
		}
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("connect %s: set blocking: %w", ap, err)
	}
	c := &conn{fd: fd, remote: net.TCPAddrFromAddrPort(ap), deadline: deadline}
	if lsa, err := syscall.Getsockname(fd); err == nil {
		switch v := lsa.(type) {
		case *syscall.SockaddrInet4:
			c.local = &net.TCPAddr{IP: v.Addr[:], Port: v.Port}
		case *syscall.SockaddrInet6:
			c.local = &net.TCPAddr{IP: v.Addr[:], Port: v.Port}
		}
	}
	ok = true
	return c, nil
}

// arm sets the socket timeouts to what is left until the deadline.
func (c *conn) arm(opt int, op string) error {
	if c.deadline.IsZero() {
		return nil
	}
	left := time.Until(c.deadline)
	if left <= 0 {
		return errTimeout{op}
	}
	if left < time.Millisecond {
		left = time.Millisecond
	}
	tv := syscall.NsecToTimeval(int64(left))
	return syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv)
}

func (c *conn) Read(b []byte) (int, error) {
	for {
		if err := c.arm(syscall.SO_RCVTIMEO, "read"); err != nil {
			return 0, err
		}
		n, err := syscall.Read(c.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errTimeout{"read"}
		case err != nil:
			return 0, &os.SyscallError{Syscall: "read", Err: err}
		case n == 0 && len(b) > 0:
			return 0, errEOF
		}
		return n, nil
	}
}

func (c *conn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		if err := c.arm(syscall.SO_SNDTIMEO, "write"); err != nil {
			return done, err
		}
		n, err := syscall.Write(c.fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, errTimeout{"write"}
		case err != nil:
			return done, &os.SyscallError{Syscall: "write", Err: err}
		}
	}
	return done, nil
}

func (c *conn) Close() error {
	if c.fd < 0 {
		return errors.New("close: already closed")
	}
	err := syscall.Close(c.fd)
	c.fd = -1
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// The request deadline set at dial only ever tightens: crypto/tls clears
// deadlines with the zero time, which must not lift the bound.
func (c *conn) SetDeadline(t time.Time) error {
	if !t.IsZero() && (c.deadline.IsZero() || t.Before(c.deadline)) {
		c.deadline = t
	}
	return nil
}
func (c *conn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }
