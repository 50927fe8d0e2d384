package metadata

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

type osMeta struct {
	UUID       string            `json:"uuid"`
	Hostname   string            `json:"hostname"`
	Name       string            `json:"name"`
	PublicKeys map[string]string `json:"public_keys"`
	Meta       map[string]string `json:"meta"`
}

type osNetwork struct {
	Links []struct {
		ID        string   `json:"id"`
		Type      string   `json:"type"`
		MAC       string   `json:"ethernet_mac_address"`
		MTU       *int     `json:"mtu"`
		BondLinks []string `json:"bond_links"`
		BondMode  string   `json:"bond_mode"`
		VLANID    int      `json:"vlan_id"`
		VLANLink  string   `json:"vlan_link"`
	} `json:"links"`
	Networks []struct {
		Link      string `json:"link"`
		Type      string `json:"type"`
		IPAddress string `json:"ip_address"`
		Netmask   string `json:"netmask"`
		Routes    []struct {
			Network string `json:"network"`
			Netmask string `json:"netmask"`
			Gateway string `json:"gateway"`
		} `json:"routes"`
	} `json:"networks"`
	Services []struct {
		Type    string `json:"type"`
		Address string `json:"address"`
	} `json:"services"`
}

// ParseOpenStack reads meta_data.json, network_data.json (nil when absent)
// and user_data. OpenStack "meta" keys carry the extensions as strings:
// esxi_ntp and esxi_dns (comma-separated), esxi_rootpwcrypt, esxi_ssh.
func ParseOpenStack(meta, network, userdata []byte) (*model.Metadata, error) {
	var md osMeta
	if err := json.Unmarshal(meta, &md); err != nil {
		return nil, fmt.Errorf("openstack meta_data.json: %w: %w", ErrMalformed, err)
	}
	if md.UUID == "" {
		return nil, fmt.Errorf("openstack meta_data.json: %w: no uuid", ErrMalformed)
	}
	m := &model.Metadata{Source: "openstack", InstanceID: md.UUID}
	name := md.Hostname
	if name == "" {
		name = md.Name
	}
	m.SetFQDN(name)
	names := make([]string, 0, len(md.PublicKeys))
	for k := range md.PublicKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m.SSHKeys = append(m.SSHKeys, strings.TrimSpace(md.PublicKeys[k]))
	}
	for _, s := range splitComma(md.Meta["esxi_ntp"]) {
		m.NTP = append(m.NTP, s)
	}
	for _, s := range splitComma(md.Meta["esxi_dns"]) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("openstack meta_data.json: meta.esxi_dns %q: not an IP address", s)
		}
		m.DNS = append(m.DNS, a)
	}
	if h := md.Meta["esxi_rootpwcrypt"]; h != "" {
		m.RootPasswordHash = secret.New(h)
	}
	if v, ok := md.Meta["esxi_ssh"]; ok {
		b := v == "true" || v == "1" || v == "yes"
		m.SSHEnabled = &b
	}
	if len(network) > 0 {
		if err := parseOSNetwork(m, network); err != nil {
			return nil, err
		}
	}
	if err := applyUserData(m, userdata, "openstack user_data"); err != nil {
		return nil, err
	}
	m.SSHKeys = dedupe(m.SSHKeys)
	return m, nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func maskLen(ip netip.Addr, mask string) (int, error) {
	if n, err := netip.ParseAddr(mask); err == nil {
		ones, bits := net.IPMask(n.AsSlice()).Size()
		if bits == 0 {
			return 0, fmt.Errorf("netmask %q is not contiguous", mask)
		}
		return ones, nil
	}
	var n int
	if _, err := fmt.Sscanf(mask, "%d", &n); err == nil && n >= 0 && n <= ip.BitLen() {
		return n, nil
	}
	return 0, fmt.Errorf("netmask %q is neither a mask nor a length", mask)
}

func parseOSNetwork(m *model.Metadata, b []byte) error {
	var nd osNetwork
	if err := json.Unmarshal(b, &nd); err != nil {
		return fmt.Errorf("openstack network_data.json: %w: %w", ErrMalformed, err)
	}
	macOf := map[string]string{}
	for _, l := range nd.Links {
		macOf[l.ID] = l.MAC
	}
	// The management link is the one carrying the first static network;
	// follow vlan → bond → physical links to the MACs.
	var uplinks []string
	seenLink := map[string]bool{}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		if depth > 4 || seenLink[id] {
			return
		}
		seenLink[id] = true
		for _, l := range nd.Links {
			if l.ID != id {
				continue
			}
			switch l.Type {
			case "bond":
				switch l.BondMode {
				case "802.3ad":
					m.Teaming = model.TeamingLACP
				case "active-backup":
					m.Teaming = model.TeamingFailover
				default:
					m.Teaming = model.TeamingPortID
				}
				for _, s := range l.BondLinks {
					walk(s, depth+1)
				}
			case "vlan":
				if m.VLAN == 0 {
					m.VLAN = l.VLANID
				}
				walk(l.VLANLink, depth+1)
			default:
				if l.MAC != "" {
					uplinks = append(uplinks, l.MAC)
				}
			}
			if l.MTU != nil && m.MTU == 0 {
				m.MTU = *l.MTU
			}
		}
	}
	for i, n := range nd.Networks {
		if n.Type != "ipv4" && n.Type != "ipv6" {
			continue // dhcp networks: the host keeps what DHCP gave it
		}
		ip, err := netip.ParseAddr(strings.Split(n.IPAddress, "/")[0])
		if err != nil {
			return fmt.Errorf("openstack network_data.json: networks[%d].ip_address %q: %w", i, n.IPAddress, err)
		}
		bits := ip.BitLen()
		if _, l, ok := strings.Cut(n.IPAddress, "/"); ok {
			n.Netmask = l
		}
		if n.Netmask != "" {
			if bits, err = maskLen(ip, n.Netmask); err != nil {
				return fmt.Errorf("openstack network_data.json: networks[%d]: %w", i, err)
			}
		}
		a := model.Address{Prefix: netip.PrefixFrom(ip, bits)}
		for j, r := range n.Routes {
			gw, err := netip.ParseAddr(r.Gateway)
			if err != nil {
				return fmt.Errorf("openstack network_data.json: networks[%d].routes[%d].gateway %q: %w", i, j, r.Gateway, err)
			}
			dst, err := netip.ParseAddr(r.Network)
			if err != nil {
				return fmt.Errorf("openstack network_data.json: networks[%d].routes[%d].network %q: %w", i, j, r.Network, err)
			}
			l, err := maskLen(dst, r.Netmask)
			if err != nil {
				return fmt.Errorf("openstack network_data.json: networks[%d].routes[%d]: %w", i, j, err)
			}
			if l == 0 {
				a.Gateway = gw
			} else {
				m.Routes = append(m.Routes, model.Route{Dest: netip.PrefixFrom(dst, l).Masked(), Gateway: gw})
			}
		}
		_, have := m.Management(map[bool]int{true: 4, false: 6}[ip.Is4()])
		switch {
		case !have:
			a.Role = model.RoleManagement
			walk(n.Link, 0)
		case ip.Is4():
			if _, p := m.Private(); p {
				continue
			}
			a.Role = model.RolePrivate
		default:
			continue
		}
		m.Addresses = append(m.Addresses, a)
	}
	for i, s := range uplinks {
		hw, err := net.ParseMAC(s)
		if err != nil {
			return fmt.Errorf("openstack network_data.json: link %d: ethernet_mac_address %q: %w", i, s, err)
		}
		m.Uplinks = append(m.Uplinks, hw)
	}
	if m.Teaming == "" && len(m.Uplinks) > 0 {
		m.Teaming = model.TeamingSingle
	}
	for _, s := range nd.Services {
		if s.Type == "dns" {
			a, err := netip.ParseAddr(s.Address)
			if err != nil {
				return fmt.Errorf("openstack network_data.json: services dns %q: %w", s.Address, err)
			}
			m.DNS = append(m.DNS, a)
		}
	}
	return nil
}
