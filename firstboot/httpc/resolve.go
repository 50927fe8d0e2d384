package httpc

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// ErrNoHost means a name has no address.
var ErrNoHost = errors.New("no such host")

// Resolver looks host names up the way a minimal libc does: /etc/hosts,
// then an A query to each nameserver of resolv.conf over a blocking UDP
// socket. IPv4 only for names (metadata services are IPv4 or literals).
type Resolver struct {
	HostsFile   string // default /etc/hosts
	ResolvConf  string // default /etc/resolv.conf
	Nameservers []netip.AddrPort
}

// Lookup returns the addresses of host, which may be an IP literal.
func (r *Resolver) Lookup(host string, deadline time.Time) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.WithZone("")}, nil
	}
	hosts := r.HostsFile
	if hosts == "" {
		hosts = "/etc/hosts"
	}
	if b, err := nopoll.ReadFile(hosts, 1<<20); err == nil {
		if as := parseHosts(b, host); len(as) > 0 {
			return as, nil
		}
	}
	servers := r.Nameservers
	if len(servers) == 0 {
		conf := r.ResolvConf
		if conf == "" {
			conf = "/etc/resolv.conf"
		}
		b, err := nopoll.ReadFile(conf, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		servers = parseResolvConf(b)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("resolve %s: no nameservers", host)
	}
	var errs []error
	for _, s := range servers {
		as, err := queryA(s, host, deadline)
		if err == nil {
			return as, nil
		}
		errs = append(errs, fmt.Errorf("nameserver %s: %w", s, err))
	}
	return nil, fmt.Errorf("resolve %s: %w", host, errors.Join(errs...))
}

func parseHosts(b []byte, host string) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, n := range f[1:] {
			if strings.EqualFold(n, host) {
				out = append(out, a)
			}
		}
	}
	return out
}

func parseResolvConf(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, netip.AddrPortFrom(a, 53))
			}
		}
	}
	return out
}

func queryA(server netip.AddrPort, host string, deadline time.Time) ([]netip.Addr, error) {
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil {
		return nil, err
	}
	id := uint16(rand.Uint32())
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	q, err := msg.Pack()
	if err != nil {
		return nil, err
	}
	sa, family := sockaddr(server)
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, sa); err != nil {
		return nil, err
	}
	c := &conn{fd: fd, deadline: deadline}
	if d := time.Now().Add(3 * time.Second); d.Before(deadline) {
		c.deadline = d
	}
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // stray or spoofed datagram
		}
		if h.RCode == dnsmessage.RCodeNameError {
			return nil, ErrNoHost
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return nil, fmt.Errorf("rcode %s", h.RCode)
		}
		if err := p.SkipAllQuestions(); err != nil {
			return nil, err
		}
		var out []netip.Addr
		for {
			ah, err := p.AnswerHeader()
			if err == dnsmessage.ErrSectionDone {
				break
			}
			if err != nil {
				return nil, err
			}
			if ah.Type != dnsmessage.TypeA {
				if err := p.SkipAnswer(); err != nil {
					return nil, err
				}
				continue
			}
			a, err := p.AResource()
			if err != nil {
				return nil, err
			}
			out = append(out, netip.AddrFrom4(a.A))
		}
		if len(out) == 0 {
			return nil, ErrNoHost
		}
		return out, nil
	}
}

// RootsFiles are where the agent looks for CA certificates: ESXi's own
// store first, then the usual Linux bundles (for plan runs on Linux).
var RootsFiles = []string{
	"/etc/vmware/ssl/castore.pem",
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
}

// SystemRoots loads the first readable RootsFiles bundle.
func SystemRoots() (*x509.CertPool, error) { return LoadRoots(RootsFiles...) }

// LoadRoots loads the first readable PEM bundle of files. x509's own
// loader opens files with os.ReadFile, which would start the poller.
func LoadRoots(files ...string) (*x509.CertPool, error) {
	for _, f := range files {
		b, err := nopoll.ReadFile(f, 16<<20)
		if err != nil {
			continue
		}
		p := x509.NewCertPool()
		if p.AppendCertsFromPEM(b) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no PEM certificates in %s", strings.Join(files, ", "))
}
