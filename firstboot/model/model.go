// Package model is the one normalised description of what a host should
// become, whatever metadata service it came from. Providers fill it;
// the planner reads it; nothing in between.
package model

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// Teaming is how uplinks share vSwitch0.
type Teaming string

const (
	// TeamingSingle puts one uplink on vSwitch0 (no redundancy).
	TeamingSingle Teaming = "single"
	// TeamingFailover is active-backup: the first uplink active, the
	// others standby (ESXi "explicit").
	TeamingFailover Teaming = "failover"
	// TeamingPortID balances by virtual port (ESXi "portid").
	TeamingPortID Teaming = "portid"
	// TeamingLACP is what the switch speaks; a standard vSwitch cannot,
	// so the planner uses one uplink and warns.
	TeamingLACP Teaming = "lacp"
)

// Role says where an address goes.
type Role string

const (
	RoleManagement Role = "management" // vmk0
	RolePrivate    Role = "private"    // vmk1 on "Private Network"
)

// Address is one interface address with its gateway.
type Address struct {
	Prefix  netip.Prefix // address and prefix length
	Gateway netip.Addr   // zero when none
	Role    Role
	Public  bool
}

// Route is a static route.
type Route struct {
	Dest    netip.Prefix
	Gateway netip.Addr
}

// Metadata is the normalised host description.
type Metadata struct {
	Source     string `json:"source"`
	InstanceID string `json:"instance_id"`
	Hostname   string `json:"hostname"` // short name
	Domain     string `json:"domain,omitempty"`

	SSHKeys          []string      `json:"ssh_keys,omitempty"`
	RootPasswordHash secret.Secret `json:"root_password_hash"`
	SSHEnabled       *bool         `json:"ssh_enabled,omitempty"`
	ShellEnabled     *bool         `json:"shell_enabled,omitempty"`

	// Uplinks are MAC addresses, primary first. Empty: leave vSwitch0.
	Uplinks []net.HardwareAddr `json:"uplinks,omitempty"`
	Teaming Teaming            `json:"teaming,omitempty"`
	VLAN    int                `json:"vlan,omitempty"` // management port group
	MTU     int                `json:"mtu,omitempty"`

	Addresses []Address    `json:"addresses,omitempty"`
	Routes    []Route      `json:"routes,omitempty"`
	DNS       []netip.Addr `json:"dns,omitempty"`
	Search    []string     `json:"search,omitempty"`
	NTP       []string     `json:"ntp,omitempty"`

	UserData     secret.Secret `json:"userdata"`
	PhoneHomeURL string        `json:"phone_home_url,omitempty"`
	UserStateURL string        `json:"user_state_url,omitempty"`
}

// FQDN is hostname.domain, or the hostname alone.
func (m *Metadata) FQDN() string {
	if m.Domain == "" {
		return m.Hostname
	}
	return m.Hostname + "." + m.Domain
}

// SetFQDN splits name into Hostname and Domain.
func (m *Metadata) SetFQDN(name string) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	m.Hostname, m.Domain, _ = strings.Cut(name, ".")
}

// Management returns the management address of the family (4 or 6).
func (m *Metadata) Management(family int) (Address, bool) {
	return m.First(RoleManagement, family)
}

// Private returns the private IPv4 address.
func (m *Metadata) Private() (Address, bool) { return m.First(RolePrivate, 4) }

// First returns the first address of role and family (4 or 6).
func (m *Metadata) First(r Role, family int) (Address, bool) {
	for _, a := range m.Addresses {
		if a.Role == r && (a.Prefix.Addr().Is4() == (family == 4)) {
			return a, true
		}
	}
	return Address{}, false
}

// ErrInvalid marks a document that parsed but cannot describe a host.
var ErrInvalid = errors.New("invalid metadata")

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// Validate checks everything the planner relies on, so a bad document
// fails before anything on the host changes.
func (m *Metadata) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if strings.TrimSpace(m.InstanceID) == "" {
		bad("instance-id: empty (the run-once key is required)")
	} else if len(m.InstanceID) > 256 || strings.ContainsAny(m.InstanceID, "/\\\x00\n") {
		bad("instance-id %q: want at most 256 characters without / \\ NUL or newline", m.InstanceID)
	}
	if m.Hostname == "" {
		bad("hostname: empty")
	}
	for _, l := range strings.Split(m.FQDN(), ".") {
		if m.Hostname != "" && !hostLabel.MatchString(l) {
			bad("hostname %q: label %q is not a DNS label", m.FQDN(), l)
			break
		}
	}
	if len(m.FQDN()) > 253 {
		bad("hostname: %d characters, want at most 253", len(m.FQDN()))
	}
	seen := map[Role]map[bool]bool{}
	for i, a := range m.Addresses {
		if !a.Prefix.IsValid() {
			bad("addresses[%d]: invalid prefix", i)
			continue
		}
		if a.Role != RoleManagement && a.Role != RolePrivate {
			bad("addresses[%d]: role %q, want management or private", i, a.Role)
		}
		if a.Role == RolePrivate && !a.Prefix.Addr().Is4() {
			bad("addresses[%d]: private address %s: only IPv4 is supported", i, a.Prefix)
		}
		if seen[a.Role] == nil {
			seen[a.Role] = map[bool]bool{}
		}
		if seen[a.Role][a.Prefix.Addr().Is4()] {
			bad("addresses[%d]: second %s address of one family (%s)", i, a.Role, a.Prefix)
		}
		seen[a.Role][a.Prefix.Addr().Is4()] = true
		if a.Gateway.IsValid() && a.Gateway.Is4() != a.Prefix.Addr().Is4() {
			bad("addresses[%d]: gateway %s is not of the family of %s", i, a.Gateway, a.Prefix)
		}
		if a.Gateway.IsValid() && a.Gateway == a.Prefix.Addr() {
			bad("addresses[%d]: gateway %s equals the address", i, a.Gateway)
		}
	}
	if mgmt, ok := m.Management(4); ok && !mgmt.Gateway.IsValid() {
		bad("management IPv4 %s: no gateway (needed for the reachability check)", mgmt.Prefix)
	}
	for i, r := range m.Routes {
		if !r.Dest.IsValid() || !r.Gateway.IsValid() {
			bad("routes[%d]: destination and gateway required", i)
		}
	}
	for i, u := range m.Uplinks {
		if len(u) != 6 {
			bad("uplinks[%d]: %q is not a 48-bit MAC", i, u)
		}
	}
	switch m.Teaming {
	case "", TeamingSingle, TeamingFailover, TeamingPortID, TeamingLACP:
	default:
		bad("teaming %q: want single, failover, portid or lacp", m.Teaming)
	}
	if m.VLAN < 0 || m.VLAN > 4094 {
		bad("vlan %d: want 0-4094", m.VLAN)
	}
	if m.MTU != 0 && (m.MTU < 1280 || m.MTU > 9000) {
		bad("mtu %d: want 1280-9000", m.MTU)
	}
	for i, k := range m.SSHKeys {
		f := strings.Fields(k)
		if len(f) < 2 || strings.ContainsAny(k, "\n\r") {
			bad("ssh_keys[%d]: not one authorized_keys line", i)
		}
	}
	if h := m.RootPasswordHash.Reveal(); h != "" {
		// Never print the value: say what is wrong with it.
		if !strings.HasPrefix(h, "$6$") && !strings.HasPrefix(h, "$5$") && !strings.HasPrefix(h, "$1$") {
			bad("root password hash: not a crypt(3) SHA-512/SHA-256/MD5 hash")
		} else if strings.Contains(h, "rounds=") {
			bad("root password hash: carries rounds=, which ESXi 7.0.3 rejects")
		} else if strings.ContainsAny(h, ":\n") {
			bad("root password hash: contains ':' or newline")
		}
	}
	for i, n := range m.NTP {
		if n == "" || strings.ContainsAny(n, " \t\n,") {
			bad("ntp[%d]: %q is not a server name", i, n)
		}
	}
	for i, d := range m.Search {
		if d == "" || strings.ContainsAny(d, " \t\n,") {
			bad("search[%d]: %q is not a domain", i, d)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}
