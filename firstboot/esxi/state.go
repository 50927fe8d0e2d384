package esxi

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// State is the part of a host's configuration the agent manages, as read
// from esxcli. It is also the fake host's whole state in tests, and what
// `esxi-firstboot plan --host-state` loads from a JSON snapshot.
type State struct {
	FQDN       string      `json:"fqdn"`
	NICs       []NIC       `json:"nics"`
	VSwitches  []VSwitch   `json:"vswitches"`
	PortGroups []PortGroup `json:"portgroups"`
	VMKs       []VMK       `json:"vmks"`
	Routes4    []Route     `json:"routes4"`
	Routes6    []Route     `json:"routes6"`
	DNS        []string    `json:"dns"`
	Search     []string    `json:"search"`
	NTP        []string    `json:"ntp"`
	NTPEnabled bool        `json:"ntp_enabled"`
	// NTPUnsupported: the host has no "esxcli system ntp" (before 7.0 U1).
	NTPUnsupported bool `json:"ntp_unsupported,omitempty"`
}

// NIC is a physical uplink.
type NIC struct {
	Name string `json:"name"`
	MAC  string `json:"mac"` // lower-case, colon-separated
	Link string `json:"link"`
}

// VSwitch is a standard vSwitch with its failover policy.
type VSwitch struct {
	Name    string   `json:"name"`
	MTU     int      `json:"mtu"`
	Uplinks []string `json:"uplinks"`
	Active  []string `json:"active"`
	Standby []string `json:"standby"`
	LB      string   `json:"load_balancing"` // portid, iphash, mac, explicit
}

// PortGroup is a standard port group.
type PortGroup struct {
	Name    string `json:"name"`
	VSwitch string `json:"vswitch"`
	VLAN    int    `json:"vlan"`
}

// VMK is a VMkernel interface.
type VMK struct {
	Name      string   `json:"name"`
	PortGroup string   `json:"portgroup"`
	MTU       int      `json:"mtu"`
	MAC       string   `json:"mac"`
	IPv4Type  string   `json:"ipv4_type"` // DHCP, STATIC, NONE
	IPv4      string   `json:"ipv4"`
	Netmask   string   `json:"netmask"`
	IPv6      []string `json:"ipv6"` // static addr/len
}

// Route is a routing-table entry. Network is "default" or a CIDR.
type Route struct {
	Network string `json:"network"`
	Gateway string `json:"gateway"`
	Iface   string `json:"interface,omitempty"`
	Source  string `json:"source,omitempty"` // DHCP, MANUAL
}

// VSwitch returns the named vSwitch.
func (s *State) VSwitch(name string) *VSwitch {
	for i := range s.VSwitches {
		if s.VSwitches[i].Name == name {
			return &s.VSwitches[i]
		}
	}
	return nil
}

// PortGroup returns the named port group.
func (s *State) PortGroup(name string) *PortGroup {
	for i := range s.PortGroups {
		if s.PortGroups[i].Name == name {
			return &s.PortGroups[i]
		}
	}
	return nil
}

// VMK returns the named interface.
func (s *State) VMK(name string) *VMK {
	for i := range s.VMKs {
		if s.VMKs[i].Name == name {
			return &s.VMKs[i]
		}
	}
	return nil
}

// NICByMAC finds the uplink with mac (any case).
func (s *State) NICByMAC(mac string) *NIC {
	for i := range s.NICs {
		if strings.EqualFold(s.NICs[i].MAC, mac) {
			return &s.NICs[i]
		}
	}
	return nil
}

// Clone deep-copies s (the rollback snapshot must not alias).
func (s *State) Clone() *State {
	c := *s
	c.NICs = append([]NIC(nil), s.NICs...)
	c.VSwitches = nil
	for _, v := range s.VSwitches {
		v.Uplinks = append([]string(nil), v.Uplinks...)
		v.Active = append([]string(nil), v.Active...)
		v.Standby = append([]string(nil), v.Standby...)
		c.VSwitches = append(c.VSwitches, v)
	}
	c.PortGroups = append([]PortGroup(nil), s.PortGroups...)
	c.VMKs = nil
	for _, v := range s.VMKs {
		v.IPv6 = append([]string(nil), v.IPv6...)
		c.VMKs = append(c.VMKs, v)
	}
	c.Routes4 = append([]Route(nil), s.Routes4...)
	c.Routes6 = append([]Route(nil), s.Routes6...)
	c.DNS = append([]string(nil), s.DNS...)
	c.Search = append([]string(nil), s.Search...)
	c.NTP = append([]string(nil), s.NTP...)
	return &c
}

// Table is esxcli --formatter=csv output: a header row naming fields
// (esxcli drops the spaces of its human column names) and one row per
// record. List-valued fields are split on commas and blanks by List.
type Table []map[string]string

// ParseCSV reads esxcli csv output, tolerating the trailing comma esxcli
// puts on every line.
func ParseCSV(b []byte) (Table, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("esxcli csv: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	head := recs[0]
	var t Table
	for i, rec := range recs[1:] {
		if len(rec) < len(head) && !(len(rec) == len(head)-1 && head[len(head)-1] == "") {
			return nil, fmt.Errorf("esxcli csv: row %d has %d fields, header has %d", i+2, len(rec), len(head))
		}
		row := map[string]string{}
		for j, h := range head {
			if h != "" && j < len(rec) {
				row[h] = rec[j]
			}
		}
		t = append(t, row)
	}
	return t, nil
}

// List splits a list-valued cell. esxcli joins list items with commas
// (seen as "VM Network, Management Network"), and items such as port
// group names may contain spaces, so only commas separate.
func List(cell string) []string {
	var out []string
	for _, f := range strings.Split(cell, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// FormatCSV renders rows in esxcli's csv shape (header from fields).
func FormatCSV(fields []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(append(append([]string(nil), fields...), ""))
	for _, r := range rows {
		w.Write(append(append([]string(nil), r...), ""))
	}
	w.Flush()
	return b.Bytes()
}

// ReadState reads the managed configuration through r (esxcli or
// localcli, which answers even when hostd is down at first boot).
func ReadState(r Runner, cli string) (*State, error) {
	q := func(args ...string) (Table, error) {
		out, err := r.Run(append([]string{cli, "--formatter=csv"}, args...)...)
		if err != nil {
			return nil, err
		}
		t, err := ParseCSV(out)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", cli, strings.Join(args, " "), err)
		}
		return t, nil
	}
	s := &State{}
	t, err := q("system", "hostname", "get")
	if err != nil {
		return nil, err
	}
	if len(t) > 0 {
		s.FQDN = t[0]["FullyQualifiedDomainName"]
	}
	if t, err = q("network", "nic", "list"); err != nil {
		return nil, err
	}
	for _, r := range t {
		s.NICs = append(s.NICs, NIC{Name: r["Name"], MAC: strings.ToLower(r["MACAddress"]), Link: r["LinkStatus"]})
	}
	if t, err = q("network", "vswitch", "standard", "list"); err != nil {
		return nil, err
	}
	for _, r := range t {
		mtu, _ := strconv.Atoi(r["MTU"])
		v := VSwitch{Name: r["Name"], MTU: mtu, Uplinks: List(r["Uplinks"])}
		ft, err := q("network", "vswitch", "standard", "policy", "failover", "get", "--vswitch-name="+v.Name)
		if err != nil {
			return nil, err
		}
		if len(ft) > 0 {
			v.Active, v.Standby, v.LB = List(ft[0]["ActiveAdapters"]), List(ft[0]["StandbyAdapters"]), ft[0]["LoadBalancing"]
		}
		s.VSwitches = append(s.VSwitches, v)
	}
	if t, err = q("network", "vswitch", "standard", "portgroup", "list"); err != nil {
		return nil, err
	}
	for _, r := range t {
		vlan, _ := strconv.Atoi(r["VLANID"])
		s.PortGroups = append(s.PortGroups, PortGroup{Name: r["Name"], VSwitch: r["VirtualSwitch"], VLAN: vlan})
	}
	if t, err = q("network", "ip", "interface", "list"); err != nil {
		return nil, err
	}
	for _, r := range t {
		mtu, _ := strconv.Atoi(r["MTU"])
		s.VMKs = append(s.VMKs, VMK{Name: r["Name"], PortGroup: r["Portgroup"], MTU: mtu, MAC: strings.ToLower(r["MACAddress"])})
	}
	if t, err = q("network", "ip", "interface", "ipv4", "get"); err != nil {
		return nil, err
	}
	for _, r := range t {
		if v := s.VMK(r["Name"]); v != nil {
			v.IPv4Type, v.IPv4, v.Netmask = strings.ToUpper(r["AddressType"]), r["IPv4Address"], r["IPv4Netmask"]
		}
	}
	if t, err = q("network", "ip", "interface", "ipv6", "address", "list"); err != nil {
		return nil, err
	}
	for _, r := range t {
		if v := s.VMK(r["Interface"]); v != nil && strings.EqualFold(r["Type"], "STATIC") {
			v.IPv6 = append(v.IPv6, r["Address"]+"/"+r["Netmask"])
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		if t, err = q("network", "ip", "route", fam, "list"); err != nil {
			return nil, err
		}
		for _, r := range t {
			rt := Route{Network: r["Network"], Gateway: r["Gateway"], Iface: r["Interface"], Source: r["Source"]}
			if rt.Network != "default" && r["Netmask"] != "" {
				if fam == "ipv4" {
					rt.Network += "/" + strconv.Itoa(maskBits(r["Netmask"]))
				} else {
					rt.Network += "/" + r["Netmask"]
				}
			}
			if rt.Gateway == "0.0.0.0" || rt.Gateway == "::" || rt.Gateway == "" {
				continue // connected routes are the interfaces' business
			}
			if fam == "ipv4" {
				s.Routes4 = append(s.Routes4, rt)
			} else {
				s.Routes6 = append(s.Routes6, rt)
			}
		}
	}
	if t, err = q("network", "ip", "dns", "server", "list"); err != nil {
		return nil, err
	}
	if len(t) > 0 {
		s.DNS = List(t[0]["DNSServers"])
	}
	if t, err = q("network", "ip", "dns", "search", "list"); err != nil {
		return nil, err
	}
	if len(t) > 0 {
		s.Search = List(t[0]["DNSSearchDomains"])
	}
	// "system ntp" exists from 7.0 U1; older hosts answer with an
	// unknown-namespace error, which is not a failure to read the host.
	var ee *ExitError
	if t, err = q("system", "ntp", "get"); errors.As(err, &ee) {
		s.NTPUnsupported = true
	} else if err != nil {
		return nil, err
	}
	if len(t) > 0 {
		s.NTP = List(t[0]["Server"])
		s.NTPEnabled = strings.EqualFold(t[0]["Enabled"], "true")
	}
	sort.SliceStable(s.NICs, func(i, j int) bool { return nicLess(s.NICs[i].Name, s.NICs[j].Name) })
	return s, nil
}

// nicLess orders vmnic2 before vmnic10.
func nicLess(a, b string) bool {
	na, ea := strconv.Atoi(strings.TrimLeft(a, "abcdefghijklmnopqrstuvwxyz"))
	nb, eb := strconv.Atoi(strings.TrimLeft(b, "abcdefghijklmnopqrstuvwxyz"))
	if ea == nil && eb == nil && na != nb {
		return na < nb
	}
	return a < b
}

func maskBits(mask string) int {
	n := 0
	for _, p := range strings.Split(mask, ".") {
		v, _ := strconv.Atoi(p)
		for v > 0 {
			n += v & 1
			v >>= 1
		}
	}
	return n
}
