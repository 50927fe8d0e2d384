package metadata

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
)

// noCloudMeta is NoCloud's meta-data (YAML, or JSON which is YAML) and the
// VMware guestinfo.metadata document, which cloud-init defines alike.
type noCloudMeta struct {
	InstanceID    string      `yaml:"instance-id"`
	InstanceIDAlt string      `yaml:"instance_id"`
	LocalHostname string      `yaml:"local-hostname"`
	Hostname      string      `yaml:"hostname"`
	PublicKeys    yaml.Node   `yaml:"public-keys"`
	Network       yaml.Node   `yaml:"network"`
	NetworkEnc    string      `yaml:"network.encoding"`
	ESXi          *Extensions `yaml:"esxi"`
}

// ParseNoCloud reads NoCloud meta-data, network-config (nil when absent;
// netplan version 2, bare or under "network:") and user-data.
func ParseNoCloud(meta, network, userdata []byte) (*model.Metadata, error) {
	return parseCloudInit("nocloud", "meta-data", meta, network, userdata)
}

func parseCloudInit(source, what string, meta, network, userdata []byte) (*model.Metadata, error) {
	var md noCloudMeta
	if err := yaml.Unmarshal(meta, &md); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", source, what, ErrMalformed, err)
	}
	id := md.InstanceID
	if id == "" {
		id = md.InstanceIDAlt
	}
	if strings.TrimSpace(id) == "" {
		// cloud-init re-ran everything each boot without one: refuse.
		return nil, fmt.Errorf("%s %s: %w: no instance-id", source, what, ErrMalformed)
	}
	m := &model.Metadata{Source: source, InstanceID: strings.TrimSpace(id)}
	name := md.LocalHostname
	if name == "" {
		name = md.Hostname
	}
	m.SetFQDN(name)
	keys, err := publicKeys(&md.PublicKeys)
	if err != nil {
		return nil, fmt.Errorf("%s %s: public-keys: %w", source, what, err)
	}
	m.SSHKeys = keys
	if md.ESXi != nil {
		if err := md.ESXi.apply(m); err != nil {
			return nil, fmt.Errorf("%s %s: esxi.%w", source, what, err)
		}
	}
	if len(network) == 0 && md.Network.Kind != 0 {
		// guestinfo carries the network inside the metadata, as a
		// mapping or as an encoded string.
		if md.Network.Kind == yaml.ScalarNode {
			if network, err = Decode([]byte(md.Network.Value), md.NetworkEnc); err != nil {
				return nil, fmt.Errorf("%s %s: network: %w", source, what, err)
			}
		} else if network, err = yaml.Marshal(&md.Network); err != nil {
			return nil, err
		}
	}
	if len(bytes.TrimSpace(network)) > 0 {
		if err := parseNetplan(m, network); err != nil {
			return nil, fmt.Errorf("%s network-config: %w", source, err)
		}
	}
	if err := applyUserData(m, userdata, source+" user-data"); err != nil {
		return nil, err
	}
	m.SSHKeys = dedupe(m.SSHKeys)
	return m, nil
}

func publicKeys(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return splitList(n.Value), nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return s, nil
	case yaml.MappingNode:
		var mp map[string]string
		if err := n.Decode(&mp); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		names := make([]string, 0, len(mp))
		for k := range mp {
			names = append(names, k)
		}
		sort.Strings(names)
		var out []string
		for _, k := range names {
			out = append(out, mp[k])
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unexpected YAML kind", ErrMalformed)
}

// Decode undoes a guestinfo ".encoding": "", "base64"/"b64", or
// "gzip+base64"/"gz+b64".
func Decode(b []byte, enc string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return b, nil
	case "base64", "b64":
		return base64Decode(b)
	case "gzip+base64", "gz+b64":
		raw, err := base64Decode(b)
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, 4<<20+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		if len(out) > 4<<20 {
			return nil, fmt.Errorf("%w: gzip: expands beyond 4 MiB", ErrMalformed)
		}
		return out, nil
	}
	return nil, fmt.Errorf("encoding %q: want base64 or gzip+base64", enc)
}

func base64Decode(b []byte) ([]byte, error) {
	s := strings.Join(strings.Fields(string(b)), "")
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrMalformed, err)
	}
	return out, nil
}

type netplanIf struct {
	Match struct {
		MAC string `yaml:"macaddress"`
	} `yaml:"match"`
	MAC         string   `yaml:"macaddress"`
	Addresses   []string `yaml:"addresses"`
	Gateway4    string   `yaml:"gateway4"`
	Gateway6    string   `yaml:"gateway6"`
	MTU         int      `yaml:"mtu"`
	Interfaces  []string `yaml:"interfaces"`
	ID          int      `yaml:"id"`
	Link        string   `yaml:"link"`
	Nameservers struct {
		Addresses []string `yaml:"addresses"`
		Search    []string `yaml:"search"`
	} `yaml:"nameservers"`
	Routes []struct {
		To  string `yaml:"to"`
		Via string `yaml:"via"`
	} `yaml:"routes"`
	Parameters struct {
		Mode string `yaml:"mode"`
	} `yaml:"parameters"`
}

type netplan struct {
	Version   int                  `yaml:"version"`
	Ethernets map[string]netplanIf `yaml:"ethernets"`
	Bonds     map[string]netplanIf `yaml:"bonds"`
	VLANs     map[string]netplanIf `yaml:"vlans"`
}

// parseNetplan reads the netplan v2 subset an ESXi host can express: one
// management interface (an ethernet, a bond of ethernets or a VLAN on
// either) with static addresses, plus an optional private IPv4 elsewhere.
func parseNetplan(m *model.Metadata, b []byte) error {
	var wrapped struct {
		Network *netplan `yaml:"network"`
	}
	var np netplan
	if err := yaml.Unmarshal(b, &wrapped); err == nil && wrapped.Network != nil {
		np = *wrapped.Network
	} else if err := yaml.Unmarshal(b, &np); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if np.Version != 2 {
		return fmt.Errorf("%w: version %d, want 2 (netplan)", ErrMalformed, np.Version)
	}
	all := map[string]netplanIf{}
	kind := map[string]string{}
	for _, set := range []struct {
		k string
		m map[string]netplanIf
	}{{"ethernet", np.Ethernets}, {"bond", np.Bonds}, {"vlan", np.VLANs}} {
		for n, i := range set.m {
			all[n] = i
			kind[n] = set.k
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	// Deterministic: the interface with a default gateway is management.
	sort.Slice(names, func(i, j int) bool {
		gi, gj := all[names[i]].Gateway4 != "" || hasDefault(all[names[i]]), all[names[j]].Gateway4 != "" || hasDefault(all[names[j]])
		if gi != gj {
			return gi
		}
		return names[i] < names[j]
	})
	var walk func(n string, depth int) error
	walk = func(n string, depth int) error {
		i, ok := all[n]
		if !ok || depth > 4 {
			return fmt.Errorf("%w: interface %q referenced but not defined", ErrMalformed, n)
		}
		if i.MTU != 0 && m.MTU == 0 {
			m.MTU = i.MTU
		}
		switch kind[n] {
		case "vlan":
			m.VLAN = i.ID
			return walk(i.Link, depth+1)
		case "bond":
			switch i.Parameters.Mode {
			case "802.3ad":
				m.Teaming = model.TeamingLACP
			case "active-backup":
				m.Teaming = model.TeamingFailover
			default:
				m.Teaming = model.TeamingPortID
			}
			for _, s := range i.Interfaces {
				if err := walk(s, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		mac := i.Match.MAC
		if mac == "" {
			mac = i.MAC
		}
		if mac == "" {
			return fmt.Errorf("%w: ethernet %q has no match.macaddress (ESXi NICs are matched by MAC)", ErrMalformed, n)
		}
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("%w: ethernet %q: macaddress %q", ErrMalformed, n, mac)
		}
		m.Uplinks = append(m.Uplinks, hw)
		return nil
	}
	mgmtDone := false
	for _, n := range names {
		i := all[n]
		if len(i.Addresses) == 0 {
			continue
		}
		role := model.RolePrivate
		if !mgmtDone {
			role = model.RoleManagement
			if err := walk(n, 0); err != nil {
				return err
			}
			mgmtDone = true
		}
		gw4, gw6 := i.Gateway4, i.Gateway6
		for j, r := range i.Routes {
			via, err := netip.ParseAddr(r.Via)
			if err != nil {
				return fmt.Errorf("%w: %s routes[%d].via %q", ErrMalformed, n, j, r.Via)
			}
			if r.To == "default" || r.To == "0.0.0.0/0" || r.To == "::/0" {
				if via.Is4() {
					gw4 = r.Via
				} else {
					gw6 = r.Via
				}
				continue
			}
			dst, err := netip.ParsePrefix(r.To)
			if err != nil {
				return fmt.Errorf("%w: %s routes[%d].to %q", ErrMalformed, n, j, r.To)
			}
			m.Routes = append(m.Routes, model.Route{Dest: dst.Masked(), Gateway: via})
		}
		for j, s := range i.Addresses {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("%w: %s addresses[%d] %q: want address/length", ErrMalformed, n, j, s)
			}
			if role == model.RolePrivate && !p.Addr().Is4() {
				continue
			}
			fam := 6
			if p.Addr().Is4() {
				fam = 4
			}
			if _, dup := m.First(role, fam); dup {
				continue
			}
			a := model.Address{Prefix: p, Role: role}
			g := gw6
			if fam == 4 {
				g = gw4
			}
			if g != "" {
				if a.Gateway, err = netip.ParseAddr(g); err != nil {
					return fmt.Errorf("%w: %s gateway %q", ErrMalformed, n, g)
				}
			}
			m.Addresses = append(m.Addresses, a)
		}
		for _, d := range i.Nameservers.Addresses {
			a, err := netip.ParseAddr(d)
			if err != nil {
				return fmt.Errorf("%w: %s nameservers %q", ErrMalformed, n, d)
			}
			m.DNS = append(m.DNS, a)
		}
		m.Search = append(m.Search, i.Nameservers.Search...)
	}
	if m.Teaming == "" && len(m.Uplinks) > 0 {
		m.Teaming = model.TeamingSingle
	}
	return nil
}

func hasDefault(i netplanIf) bool {
	for _, r := range i.Routes {
		if r.To == "default" || r.To == "0.0.0.0/0" {
			return true
		}
	}
	return false
}

// ParseGuestinfo reads VMware guestinfo.metadata (already fetched with
// its .encoding) and guestinfo.userdata, as nested ESXi labs set them.
func ParseGuestinfo(meta []byte, metaEnc string, userdata []byte, userEnc string) (*model.Metadata, error) {
	md, err := Decode(meta, metaEnc)
	if err != nil {
		return nil, fmt.Errorf("guestinfo.metadata: %w", err)
	}
	ud, err := Decode(userdata, userEnc)
	if err != nil {
		return nil, fmt.Errorf("guestinfo.userdata: %w", err)
	}
	return parseCloudInit("guestinfo", "guestinfo.metadata", md, nil, ud)
}
