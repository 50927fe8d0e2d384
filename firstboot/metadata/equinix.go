// Package metadata parses the documents of each metadata service into
// model.Metadata. Parsers are pure (bytes in, model out) so they can be
// fuzzed and tested from fixtures; fetching lives in package provider.
package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// ErrMalformed marks a document that is not what its service serves.
var ErrMalformed = errors.New("malformed metadata document")

// Extensions are the project's documented additions carried where a
// service has free-form data (Equinix customdata, NoCloud/guestinfo key
// "esxi"): what Equinix metadata lacks (DNS, NTP, VLAN, MTU) and the ESXi
// switches its own kickstart understood.
type Extensions struct {
	SSHD struct {
		Enabled *bool `json:"enabled" yaml:"enabled"`
	} `json:"sshd" yaml:"sshd"`
	ESXiShell struct {
		Enabled *bool `json:"enabled" yaml:"enabled"`
	} `json:"esxishell" yaml:"esxishell"`
	RootPWCrypt secret.Secret `json:"rootpwcrypt" yaml:"rootpwcrypt"`
	Network     struct {
		ManagementIPType string   `json:"management_ip_type" yaml:"management_ip_type"`
		DNS              []string `json:"dns" yaml:"dns"`
		Search           []string `json:"search" yaml:"search"`
		NTP              []string `json:"ntp" yaml:"ntp"`
		VLAN             int      `json:"vlan" yaml:"vlan"`
		MTU              int      `json:"mtu" yaml:"mtu"`
		// manual management_ip_type
		IPv4Address string `json:"ipv4_address" yaml:"ipv4_address"`
		IPv4Netmask string `json:"ipv4_netmask" yaml:"ipv4_netmask"`
		IPv4Gateway string `json:"ipv4_gateway" yaml:"ipv4_gateway"`
		IPv4VLAN    int    `json:"ipv4_vlan" yaml:"ipv4_vlan"`
	} `json:"network" yaml:"network"`
}

func (e *Extensions) apply(m *model.Metadata) error {
	if e.SSHD.Enabled != nil {
		m.SSHEnabled = e.SSHD.Enabled
	}
	if e.ESXiShell.Enabled != nil {
		m.ShellEnabled = e.ESXiShell.Enabled
	}
	if !e.RootPWCrypt.IsZero() {
		m.RootPasswordHash = e.RootPWCrypt
	}
	for i, d := range e.Network.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return fmt.Errorf("network.dns[%d]: %q is not an IP address", i, d)
		}
		m.DNS = append(m.DNS, a)
	}
	m.Search = append(m.Search, e.Network.Search...)
	m.NTP = append(m.NTP, e.Network.NTP...)
	if e.Network.VLAN != 0 {
		m.VLAN = e.Network.VLAN
	}
	if e.Network.MTU != 0 {
		m.MTU = e.Network.MTU
	}
	return nil
}

type equinixDoc struct {
	ID         *string  `json:"id"`
	Hostname   string   `json:"hostname"`
	SSHKeys    []string `json:"ssh_keys"`
	Error      string   `json:"error"`
	PrivSubnet []string `json:"private_subnets"`
	CustomData json.RawMessage
	Network    struct {
		Bonding struct {
			Mode            int    `json:"mode"`
			LinkAggregation string `json:"link_aggregation"`
			MAC             string `json:"mac"`
		} `json:"bonding"`
		Interfaces []struct {
			Name string `json:"name"`
			MAC  string `json:"mac"`
			Bond string `json:"bond"`
		} `json:"interfaces"`
		Addresses []struct {
			Family     int    `json:"address_family"`
			Address    string `json:"address"`
			CIDR       int    `json:"cidr"`
			Gateway    string `json:"gateway"`
			Public     bool   `json:"public"`
			Management bool   `json:"management"`
			Enabled    *bool  `json:"enabled"`
		} `json:"addresses"`
	} `json:"network"`
	PhoneHomeURL string `json:"phone_home_url"`
	UserStateURL string `json:"user_state_url"`
}

// ParseEquinix reads an Equinix Metal / Hegel / hollow /metadata document
// and the raw /userdata (nil when the service had none).
func ParseEquinix(doc, userdata []byte) (*model.Metadata, error) {
	var d equinixDoc
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("equinix /metadata: %w: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("equinix /metadata: %w: %w", ErrMalformed, err)
	}
	if d.Error != "" {
		return nil, fmt.Errorf("equinix /metadata: service error %q", d.Error)
	}
	if d.ID == nil {
		return nil, fmt.Errorf("equinix /metadata: %w: no \"id\" field", ErrMalformed)
	}
	m := &model.Metadata{Source: "equinix", InstanceID: *d.ID, SSHKeys: d.SSHKeys,
		PhoneHomeURL: d.PhoneHomeURL, UserStateURL: d.UserStateURL}
	m.SetFQDN(d.Hostname)
	if len(userdata) > 0 {
		m.UserData = secret.New(string(userdata))
	}
	var ext Extensions
	if cd := raw["customdata"]; len(cd) > 0 && string(cd) != "null" {
		if err := json.Unmarshal(cd, &ext); err != nil {
			return nil, fmt.Errorf("equinix /metadata: customdata: %w: %w", ErrMalformed, err)
		}
		if err := ext.apply(m); err != nil {
			return nil, fmt.Errorf("equinix /metadata: customdata.%w", err)
		}
	}

	// Uplinks: the bond MAC (eth0, the NIC the host booted from) first.
	b := d.Network.Bonding
	var macs []string
	if b.MAC != "" {
		macs = append(macs, b.MAC)
	}
	for _, i := range d.Network.Interfaces {
		if b.LinkAggregation == "individual" && len(macs) > 0 {
			break
		}
		macs = append(macs, i.MAC)
	}
	seen := map[string]bool{}
	for i, s := range macs {
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("equinix /metadata: network.interfaces[%d].mac %q: not a MAC address", i, s)
		}
		if !seen[hw.String()] {
			seen[hw.String()] = true
			m.Uplinks = append(m.Uplinks, hw)
		}
	}
	switch {
	case len(m.Uplinks) <= 1 || b.LinkAggregation == "individual":
		m.Teaming = model.TeamingSingle
	case b.Mode == 4:
		m.Teaming = model.TeamingLACP
	case b.Mode == 1:
		m.Teaming = model.TeamingFailover
	default:
		m.Teaming = model.TeamingPortID
	}

	ipType := ext.Network.ManagementIPType
	if ipType == "" {
		ipType = "both"
	}
	var pub4, pub6, priv4 *model.Address
	for i, a := range d.Network.Addresses {
		if !a.Management || (a.Enabled != nil && !*a.Enabled) {
			continue // elastic extras are not configured on the host
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			return nil, fmt.Errorf("equinix /metadata: network.addresses[%d].address %q: %w", i, a.Address, err)
		}
		if (a.Family == 4) != ip.Is4() {
			return nil, fmt.Errorf("equinix /metadata: network.addresses[%d]: address_family %d does not match %s", i, a.Family, ip)
		}
		if _, err := ip.Prefix(a.CIDR); err != nil || a.CIDR <= 0 {
			return nil, fmt.Errorf("equinix /metadata: network.addresses[%d].cidr %d: bad prefix length for %s", i, a.CIDR, ip)
		}
		addr := &model.Address{Prefix: netip.PrefixFrom(ip, a.CIDR), Public: a.Public}
		if a.Gateway != "" {
			if addr.Gateway, err = netip.ParseAddr(a.Gateway); err != nil {
				return nil, fmt.Errorf("equinix /metadata: network.addresses[%d].gateway %q: %w", i, a.Gateway, err)
			}
		}
		switch {
		case a.Public && ip.Is4() && pub4 == nil:
			pub4 = addr
		case a.Public && ip.Is6() && pub6 == nil:
			pub6 = addr
		case !a.Public && ip.Is4() && priv4 == nil:
			priv4 = addr
		}
	}
	add := func(a *model.Address, r model.Role) {
		if a != nil {
			a.Role = r
			m.Addresses = append(m.Addresses, *a)
		}
	}
	switch ipType {
	case "both":
		add(pub4, model.RoleManagement)
		add(pub6, model.RoleManagement)
		add(priv4, model.RolePrivate)
	case "public":
		add(pub4, model.RoleManagement)
		add(pub6, model.RoleManagement)
	case "private":
		add(priv4, model.RoleManagement)
	case "dhcp":
	case "manual":
		n := ext.Network
		ip, err1 := netip.ParseAddr(n.IPv4Address)
		mask := net.ParseIP(n.IPv4Netmask).To4()
		gw, err2 := netip.ParseAddr(n.IPv4Gateway)
		if err1 != nil || mask == nil || err2 != nil {
			return nil, fmt.Errorf("equinix /metadata: customdata.network: manual needs ipv4_address, ipv4_netmask and ipv4_gateway")
		}
		ones, bits := net.IPMask(mask).Size()
		if bits == 0 {
			return nil, fmt.Errorf("equinix /metadata: customdata.network.ipv4_netmask %q: not a contiguous mask", n.IPv4Netmask)
		}
		m.Addresses = append(m.Addresses, model.Address{Prefix: netip.PrefixFrom(ip, ones), Gateway: gw, Role: model.RoleManagement})
		if n.IPv4VLAN != 0 {
			m.VLAN = n.IPv4VLAN
		}
	default:
		return nil, fmt.Errorf("equinix /metadata: customdata.network.management_ip_type %q: want public, private, both, manual or dhcp", ipType)
	}
	// Private subnets are reached through the private gateway.
	if priv4 != nil && priv4.Role == model.RolePrivate && priv4.Gateway.IsValid() {
		subnets := d.PrivSubnet
		if subnets == nil {
			subnets = []string{"10.0.0.0/8"}
		}
		for i, s := range subnets {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() {
				return nil, fmt.Errorf("equinix /metadata: private_subnets[%d] %q: not an IPv4 prefix", i, s)
			}
			m.Routes = append(m.Routes, model.Route{Dest: p.Masked(), Gateway: priv4.Gateway})
		}
	}
	return m, nil
}

// splitList splits newline-separated EC2 list values.
func splitList(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
