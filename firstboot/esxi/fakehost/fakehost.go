// Package fakehost is a stateful stand-in for an ESXi host: it answers
// the esxcli/localcli/vim-cmd/vmkping/auto-backup.sh subset the agent
// emits, keeps the resulting configuration, and fails like ESXi on bad
// arguments (unknown option, missing parameter, adding what exists,
// removing what does not). An ESXi host cannot run in CI; this is the
// mock the project rules allow where a real thing cannot exist.
//
// It is used in-process (Host implements esxi.Runner) and, through the
// multi-call binary in ./cmd/fakeesx, by the built agent under the
// seccomp harness, with the state kept in a JSON file.
package fakehost

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Lease is what DHCP gave vmk0 on first boot (restored by --type=dhcp).
type Lease struct {
	IP, Netmask, Gateway string
}

// Host is the fake. Exported fields are its persistent state.
type Host struct {
	mu           sync.Mutex
	State        esxi.State
	Lease        Lease
	Reachable    []string   // gateways that answer vmkping
	SSHEnabled   bool       `json:"ssh_enabled"`
	SSHRunning   bool       `json:"ssh_running"`
	ShellEnabled bool       `json:"shell_enabled"`
	ShellRunning bool       `json:"shell_running"`
	Backups      int        `json:"backups"`
	Calls        [][]string `json:"calls"`   // every command, in order
	Changes      int        `json:"changes"` // commands that modified state
	FailOn       []string   `json:"fail_on"` // commands (joined by space) that fail once
	BootOpts     string     `json:"boot_opts"`
	Guestinfo    map[string]string
}

// New returns a freshly installed golden host: vmk0 on DHCP behind
// vSwitch0 with vmnic0, nics with the given MACs (vmnic0 first).
func New(macs ...string) *Host {
	h := &Host{Lease: Lease{IP: "192.0.2.200", Netmask: "255.255.255.0", Gateway: "192.0.2.1"}}
	for i, m := range macs {
		h.State.NICs = append(h.State.NICs, esxi.NIC{Name: fmt.Sprintf("vmnic%d", i), MAC: strings.ToLower(m), Link: "Up"})
	}
	h.State.FQDN = "localhost.localdomain"
	h.State.VSwitches = []esxi.VSwitch{{Name: "vSwitch0", MTU: 1500, Uplinks: []string{"vmnic0"}, Active: []string{"vmnic0"}, LB: "srcport"}}
	h.State.PortGroups = []esxi.PortGroup{{Name: "Management Network", VSwitch: "vSwitch0"}, {Name: "VM Network", VSwitch: "vSwitch0"}}
	h.State.VMKs = []esxi.VMK{{Name: "vmk0", PortGroup: "Management Network", MTU: 1500, MAC: strings.ToLower(macs[0]), IPv4Type: "DHCP", IPv4: h.Lease.IP, Netmask: h.Lease.Netmask}}
	h.State.Routes4 = []esxi.Route{{Network: "default", Gateway: h.Lease.Gateway, Iface: "vmk0", Source: "DHCP"}}
	h.Reachable = []string{h.Lease.Gateway}
	return h
}

// Load reads a host saved by Save.
func Load(path string) (*Host, error) {
	// nopoll: fakeesx runs under the noepoll filter with the agent.
	b, err := nopoll.ReadFile(path, 64<<20)
	if err != nil {
		return nil, err
	}
	h := &Host{}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("fake host %s: %w", path, err)
	}
	return h, nil
}

// Save writes the host as JSON.
func (h *Host) Save(path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return nopoll.WriteFileAtomic(path, b, 0o600)
}

// Snapshot returns a deep copy of the managed state.
func (h *Host) Snapshot() *esxi.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.State.Clone()
}

// fail is an ESXi-style command failure.
func fail(argv []string, f string, a ...any) error {
	return &esxi.ExitError{Argv: argv, Code: 1, Stderr: fmt.Sprintf(f, a...)}
}

// Run executes one command against the fake.
func (h *Host) Run(argv ...string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Calls = append(h.Calls, append([]string(nil), argv...))
	joined := strings.Join(argv, " ")
	for i, f := range h.FailOn {
		if f == joined {
			h.FailOn = slices.Delete(h.FailOn, i, i+1)
			return nil, fail(argv, "Error: injected failure")
		}
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	switch argv[0] {
	case "esxcli", "localcli":
		return h.esxcli(argv)
	case "vim-cmd":
		return h.vimCmd(argv)
	case "vmkping":
		return h.vmkping(argv)
	case "auto-backup.sh":
		h.Backups++
		return []byte("Saving current state in /bootbank\n"), nil
	case "bootOption":
		return []byte(h.BootOpts + "\n"), nil
	case "vmware-rpctool":
		if len(argv) == 2 && strings.HasPrefix(argv[1], "info-get guestinfo.") {
			if v, ok := h.Guestinfo[strings.TrimPrefix(argv[1], "info-get ")]; ok {
				return []byte(v + "\n"), nil
			}
			return nil, fail(argv, "No value found")
		}
		return nil, fail(argv, "Unknown command")
	}
	return nil, fail(argv, "sh: %s: not found", argv[0])
}

func (h *Host) vimCmd(argv []string) ([]byte, error) {
	if len(argv) != 2 {
		return nil, fail(argv, "Usage: vim-cmd [options] command [args]")
	}
	h.Changes++
	switch argv[1] {
	case "hostsvc/enable_ssh":
		h.SSHEnabled = true
	case "hostsvc/start_ssh":
		h.SSHRunning = true
	case "hostsvc/disable_ssh":
		h.SSHEnabled = false
	case "hostsvc/stop_ssh":
		h.SSHRunning = false
	case "hostsvc/enable_esx_shell":
		h.ShellEnabled = true
	case "hostsvc/start_esx_shell":
		h.ShellRunning = true
	case "hostsvc/disable_esx_shell":
		h.ShellEnabled = false
	case "hostsvc/stop_esx_shell":
		h.ShellRunning = false
	default:
		h.Changes--
		return nil, fail(argv, "Unknown command: '%s'", argv[1])
	}
	return nil, nil
}

// vmkping -I vmkN [-6] [-c N] [-W S] ADDR succeeds when ADDR is reachable:
// listed in Reachable, on a subnet of vmkN, and vSwitch0 has an active
// uplink whose link is up.
func (h *Host) vmkping(argv []string) ([]byte, error) {
	iface, target := "", ""
	for i := 1; i < len(argv); i++ {
		switch argv[i] {
		case "-I":
			i++
			if i < len(argv) {
				iface = argv[i]
			}
		case "-c", "-W":
			i++
		case "-6":
		default:
			target = argv[i]
		}
	}
	v := h.State.VMK(iface)
	if v == nil || target == "" {
		return nil, fail(argv, "Unknown interface '%s'", iface)
	}
	up := false
	if pg := h.State.PortGroup(v.PortGroup); pg != nil {
		if vs := h.State.VSwitch(pg.VSwitch); vs != nil {
			for _, a := range vs.Active {
				for _, n := range h.State.NICs {
					if n.Name == a && n.Link == "Up" {
						up = true
					}
				}
			}
		}
	}
	on := false
	if t, err := netip.ParseAddr(target); err == nil {
		if t.Is4() && v.IPv4 != "" {
			if p, err := prefix4(v.IPv4, v.Netmask); err == nil && p.Contains(t) {
				on = true
			}
		}
		for _, a := range v.IPv6 {
			if p, err := netip.ParsePrefix(a); err == nil && p.Masked().Contains(t) {
				on = true
			}
		}
	}
	if up && on && slices.Contains(h.Reachable, target) {
		return []byte(fmt.Sprintf("PING %s: 56 data bytes\n3 packets transmitted, 3 packets received, 0%% packet loss\n", target)), nil
	}
	return []byte(fmt.Sprintf("PING %s: 56 data bytes\n3 packets transmitted, 0 packets received, 100%% packet loss\n", target)), &esxi.ExitError{Argv: argv, Code: 1, Stderr: "100% packet loss"}
}

func prefix4(ip, mask string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, err
	}
	m, err := netip.ParseAddr(mask)
	if err != nil {
		return netip.Prefix{}, err
	}
	bits := 0
	for _, b := range m.As4() {
		for ; b != 0; b <<= 1 {
			if b&0x80 == 0 {
				return netip.Prefix{}, fmt.Errorf("netmask %s not contiguous", mask)
			}
			bits++
		}
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// opts parses esxcli options against spec (long name → short letter),
// collecting repeated options in order.
func opts(argv []string, args []string, spec map[string]string) (map[string][]string, error) {
	out := map[string][]string{}
	short := map[string]string{}
	for l, s := range spec {
		if s != "" {
			short[s] = l
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var name, val string
		var hasVal bool
		switch {
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a[2:], "=")
			if _, ok := spec[name]; !ok {
				return nil, fail(argv, "Error: Invalid option %s", a)
			}
		case strings.HasPrefix(a, "-") && len(a) >= 2:
			l, ok := short[a[1:2]]
			if !ok {
				return nil, fail(argv, "Error: Invalid option %s", a)
			}
			name = l
			if len(a) > 2 {
				val, hasVal = a[2:], true
			}
		default:
			return nil, fail(argv, "Error: Unexpected argument %q", a)
		}
		if !hasVal {
			if name == "all" {
				val = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fail(argv, "Error: Missing value for option --%s", name)
				}
				i++
				val = args[i]
			}
		}
		out[name] = append(out[name], val)
	}
	return out, nil
}

func need(argv []string, o map[string][]string, spec map[string]string, names ...string) error {
	for _, n := range names {
		if len(o[n]) == 0 {
			return fail(argv, "Error: Missing required parameter -%s|--%s", spec[n], n)
		}
	}
	return nil
}

func boolArg(argv []string, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fail(argv, "Error: Invalid data constraint for parameter. '%s' is not a valid boolean", v)
}

func (h *Host) esxcli(argv []string) ([]byte, error) {
	args := argv[1:]
	csvOut := false
	for len(args) > 0 && strings.HasPrefix(args[0], "--formatter") {
		csvOut = args[0] == "--formatter=csv"
		args = args[1:]
	}
	var ns []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		ns, args = append(ns, args[0]), args[1:]
	}
	cmd := strings.Join(ns, " ")
	spec, ok := specs[cmd]
	if !ok {
		return nil, fail(argv, "Error: Unknown command or namespace %s", cmd)
	}
	o, err := opts(argv, args, spec)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(cmd, " get") || strings.HasSuffix(cmd, " list") {
		if !csvOut {
			return nil, fail(argv, "fake host: only --formatter=csv output is modelled")
		}
		return h.query(argv, cmd, o)
	}
	h.Changes++
	if err := h.change(argv, cmd, o, spec); err != nil {
		h.Changes--
		return nil, err
	}
	return nil, nil
}

// specs lists each command's options: long name → short letter.
var specs = map[string]map[string]string{
	"system hostname get":                          {},
	"system hostname set":                          {"fqdn": "f", "host": "H", "domain": "d"},
	"system ntp get":                               {},
	"system ntp set":                               {"server": "s", "enabled": "e", "reset": "r"},
	"network nic list":                             {},
	"network vswitch standard list":                {"vswitch-name": "v"},
	"network vswitch standard set":                 {"vswitch-name": "v", "mtu": "m"},
	"network vswitch standard uplink add":          {"uplink-name": "u", "vswitch-name": "v"},
	"network vswitch standard uplink remove":       {"uplink-name": "u", "vswitch-name": "v"},
	"network vswitch standard policy failover get": {"vswitch-name": "v"},
	"network vswitch standard policy failover set": {"vswitch-name": "v", "active-uplinks": "a", "standby-uplinks": "s", "load-balancing": "l"},
	"network vswitch standard portgroup list":      {},
	"network vswitch standard portgroup add":       {"portgroup-name": "p", "vswitch-name": "v"},
	"network vswitch standard portgroup remove":    {"portgroup-name": "p", "vswitch-name": "v"},
	"network vswitch standard portgroup set":       {"portgroup-name": "p", "vlan-id": "v"},
	"network ip interface list":                    {},
	"network ip interface add":                     {"interface-name": "i", "portgroup-name": "p", "mtu": "m", "mac-address": "M"},
	"network ip interface remove":                  {"interface-name": "i"},
	"network ip interface set":                     {"interface-name": "i", "mtu": "m", "enabled": "e"},
	"network ip interface ipv4 get":                {"interface-name": "i"},
	"network ip interface ipv4 set":                {"interface-name": "i", "type": "t", "ipv4": "I", "netmask": "N", "gateway": "g"},
	"network ip interface ipv6 address list":       {},
	"network ip interface ipv6 address add":        {"interface-name": "i", "ipv6": "I"},
	"network ip interface ipv6 address remove":     {"interface-name": "i", "ipv6": "I"},
	"network ip route ipv4 list":                   {},
	"network ip route ipv4 add":                    {"gateway": "g", "network": "n"},
	"network ip route ipv4 remove":                 {"gateway": "g", "network": "n"},
	"network ip route ipv6 list":                   {},
	"network ip route ipv6 add":                    {"gateway": "g", "network": "n"},
	"network ip route ipv6 remove":                 {"gateway": "g", "network": "n"},
	"network ip dns server list":                   {},
	"network ip dns server add":                    {"server": "s"},
	"network ip dns server remove":                 {"server": "s", "all": "a"},
	"network ip dns search list":                   {},
	"network ip dns search add":                    {"domain": "d"},
	"network ip dns search remove":                 {"domain": "d"},
}

func (h *Host) query(argv []string, cmd string, o map[string][]string) ([]byte, error) {
	s := &h.State
	j := func(l []string) string { return strings.Join(l, ",") }
	switch cmd {
	case "system hostname get":
		host, dom, _ := strings.Cut(s.FQDN, ".")
		return esxi.FormatCSV([]string{"DomainName", "FullyQualifiedDomainName", "HostName"}, [][]string{{dom, s.FQDN, host}}), nil
	case "system ntp get":
		return esxi.FormatCSV([]string{"Enabled", "Server"}, [][]string{{strconv.FormatBool(s.NTPEnabled), j(s.NTP)}}), nil
	case "network nic list":
		var rows [][]string
		for _, n := range s.NICs {
			rows = append(rows, []string{"Up", "Fake NIC", "fake", "Full", n.Link, n.Link, n.MAC, "1500", n.Name, "0000:00:00.0", "10000"})
		}
		return esxi.FormatCSV([]string{"AdminStatus", "Description", "Driver", "Duplex", "Link", "LinkStatus", "MACAddress", "MTU", "Name", "PCIDevice", "Speed"}, rows), nil
	case "network vswitch standard list":
		var rows [][]string
		for _, v := range s.VSwitches {
			var pgs []string
			for _, p := range s.PortGroups {
				if p.VSwitch == v.Name {
					pgs = append(pgs, p.Name)
				}
			}
			rows = append(rows, []string{v.Name, strconv.Itoa(v.MTU), j(pgs), j(v.Uplinks)})
		}
		return esxi.FormatCSV([]string{"Name", "MTU", "Portgroups", "Uplinks"}, rows), nil
	case "network vswitch standard policy failover get":
		if err := need(argv, o, specs[cmd], "vswitch-name"); err != nil {
			return nil, err
		}
		v := s.VSwitch(o["vswitch-name"][0])
		if v == nil {
			return nil, fail(argv, "Error: Unable to find vswitch %s", o["vswitch-name"][0])
		}
		return esxi.FormatCSV([]string{"ActiveAdapters", "LoadBalancing", "StandbyAdapters"}, [][]string{{j(v.Active), v.LB, j(v.Standby)}}), nil
	case "network vswitch standard portgroup list":
		var rows [][]string
		for _, p := range s.PortGroups {
			rows = append(rows, []string{"0", p.Name, strconv.Itoa(p.VLAN), p.VSwitch})
		}
		return esxi.FormatCSV([]string{"ActiveClients", "Name", "VLANID", "VirtualSwitch"}, rows), nil
	case "network ip interface list":
		var rows [][]string
		for _, v := range s.VMKs {
			rows = append(rows, []string{"true", v.MAC, strconv.Itoa(v.MTU), v.Name, v.PortGroup})
		}
		return esxi.FormatCSV([]string{"Enabled", "MACAddress", "MTU", "Name", "Portgroup"}, rows), nil
	case "network ip interface ipv4 get":
		var rows [][]string
		for _, v := range s.VMKs {
			rows = append(rows, []string{v.IPv4Type, "0.0.0.0", v.IPv4, v.Netmask, v.Name})
		}
		return esxi.FormatCSV([]string{"AddressType", "Gateway", "IPv4Address", "IPv4Netmask", "Name"}, rows), nil
	case "network ip interface ipv6 address list":
		var rows [][]string
		for _, v := range s.VMKs {
			for _, a := range v.IPv6 {
				addr, l, _ := strings.Cut(a, "/")
				rows = append(rows, []string{addr, v.Name, l, "PREFERRED", "STATIC"})
			}
		}
		return esxi.FormatCSV([]string{"Address", "Interface", "Netmask", "Status", "Type"}, rows), nil
	case "network ip route ipv4 list", "network ip route ipv6 list":
		rs := s.Routes4
		if strings.Contains(cmd, "ipv6") {
			rs = s.Routes6
		}
		var rows [][]string
		for _, r := range rs {
			net, mask := r.Network, ""
			if net == "default" {
				mask = "0.0.0.0"
				if strings.Contains(cmd, "ipv6") {
					mask = "0"
				}
			} else if p, err := netip.ParsePrefix(net); err == nil {
				net = p.Addr().String()
				if p.Addr().Is4() {
					mask = maskString(p.Bits())
				} else {
					mask = strconv.Itoa(p.Bits())
				}
			}
			src := r.Source
			if src == "" {
				src = "MANUAL"
			}
			rows = append(rows, []string{r.Gateway, r.Iface, mask, net, src})
		}
		return esxi.FormatCSV([]string{"Gateway", "Interface", "Netmask", "Network", "Source"}, rows), nil
	case "network ip dns server list":
		return esxi.FormatCSV([]string{"DNSServers"}, [][]string{{j(s.DNS)}}), nil
	case "network ip dns search list":
		return esxi.FormatCSV([]string{"DNSSearchDomains"}, [][]string{{j(s.Search)}}), nil
	}
	return nil, fail(argv, "fake host: %s not modelled", cmd)
}

func maskString(bits int) string {
	var m [4]byte
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m).String()
}

func (h *Host) change(argv []string, cmd string, o map[string][]string, spec map[string]string) error {
	s := &h.State
	one := func(n string) string { return o[n][0] }
	req := func(names ...string) error { return need(argv, o, spec, names...) }
	switch cmd {
	case "system hostname set":
		host, dom, _ := strings.Cut(s.FQDN, ".")
		switch {
		case len(o["fqdn"]) > 0 && (len(o["host"]) > 0 || len(o["domain"]) > 0):
			return fail(argv, "Error: --fqdn cannot be combined with --host or --domain")
		case len(o["fqdn"]) > 0:
			if !strings.Contains(one("fqdn"), ".") {
				return fail(argv, "Error: Invalid fully qualified domain name %s", one("fqdn"))
			}
			s.FQDN = one("fqdn")
			return nil
		case len(o["host"]) > 0 || len(o["domain"]) > 0:
			if len(o["host"]) > 0 {
				host = one("host")
			}
			if len(o["domain"]) > 0 {
				dom = one("domain")
			}
			s.FQDN = host
			if dom != "" {
				s.FQDN += "." + dom
			}
			return nil
		}
		return fail(argv, "Error: one of --fqdn, --host or --domain is required")
	case "system ntp set":
		if len(o["server"]) > 0 {
			s.NTP = append([]string(nil), o["server"]...)
		}
		if len(o["enabled"]) > 0 {
			b, err := boolArg(argv, one("enabled"))
			if err != nil {
				return err
			}
			s.NTPEnabled = b
		}
		return nil
	case "network vswitch standard set":
		if err := req("vswitch-name"); err != nil {
			return err
		}
		v := s.VSwitch(one("vswitch-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vswitch %s", one("vswitch-name"))
		}
		if len(o["mtu"]) > 0 {
			m, err := strconv.Atoi(one("mtu"))
			if err != nil || m < 1280 || m > 9000 {
				return fail(argv, "Error: Invalid MTU %s", one("mtu"))
			}
			v.MTU = m
		}
		return nil
	case "network vswitch standard uplink add", "network vswitch standard uplink remove":
		if err := req("uplink-name", "vswitch-name"); err != nil {
			return err
		}
		v := s.VSwitch(one("vswitch-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vswitch %s", one("vswitch-name"))
		}
		u := one("uplink-name")
		if !slices.ContainsFunc(s.NICs, func(n esxi.NIC) bool { return n.Name == u }) {
			return fail(argv, "Error: Unable to find physical nic %s", u)
		}
		has := slices.Contains(v.Uplinks, u)
		if strings.HasSuffix(cmd, "add") {
			if has {
				return fail(argv, "Error: Uplink already exists: %s", u)
			}
			for _, o := range s.VSwitches {
				if slices.Contains(o.Uplinks, u) {
					return fail(argv, "Error: Uplink %s is already in use by %s", u, o.Name)
				}
			}
			v.Uplinks = append(v.Uplinks, u)
			// ESXi adds a new uplink to the active list.
			v.Active = append(v.Active, u)
			return nil
		}
		if !has {
			return fail(argv, "Error: Uplink %s is not attached to %s", u, v.Name)
		}
		v.Uplinks = slices.DeleteFunc(v.Uplinks, func(x string) bool { return x == u })
		v.Active = slices.DeleteFunc(v.Active, func(x string) bool { return x == u })
		v.Standby = slices.DeleteFunc(v.Standby, func(x string) bool { return x == u })
		return nil
	case "network vswitch standard policy failover set":
		if err := req("vswitch-name"); err != nil {
			return err
		}
		v := s.VSwitch(one("vswitch-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vswitch %s", one("vswitch-name"))
		}
		var active, standby []string
		if len(o["active-uplinks"]) > 0 {
			active = esxi.List(one("active-uplinks"))
		} else {
			active = v.Active
		}
		if len(o["standby-uplinks"]) > 0 {
			standby = esxi.List(one("standby-uplinks"))
		} else {
			standby = v.Standby
		}
		for _, u := range append(append([]string(nil), active...), standby...) {
			if !slices.Contains(v.Uplinks, u) {
				return fail(argv, "Error: Invalid uplink %s: not attached to %s", u, v.Name)
			}
		}
		for _, u := range active {
			if slices.Contains(standby, u) {
				return fail(argv, "Error: Uplink %s cannot be both active and standby", u)
			}
		}
		if len(o["load-balancing"]) > 0 {
			lb := one("load-balancing")
			if !slices.Contains([]string{"portid", "iphash", "mac", "explicit", "srcport"}, lb) {
				return fail(argv, "Error: Invalid load balancing policy %s", lb)
			}
			v.LB = lb
		}
		v.Active, v.Standby = active, standby
		return nil
	case "network vswitch standard portgroup add":
		if err := req("portgroup-name", "vswitch-name"); err != nil {
			return err
		}
		if s.VSwitch(one("vswitch-name")) == nil {
			return fail(argv, "Error: Unable to find vswitch %s", one("vswitch-name"))
		}
		if s.PortGroup(one("portgroup-name")) != nil {
			return fail(argv, "Error: A portgroup with the name %s already exists", one("portgroup-name"))
		}
		s.PortGroups = append(s.PortGroups, esxi.PortGroup{Name: one("portgroup-name"), VSwitch: one("vswitch-name")})
		return nil
	case "network vswitch standard portgroup remove":
		if err := req("portgroup-name", "vswitch-name"); err != nil {
			return err
		}
		for _, v := range s.VMKs {
			if v.PortGroup == one("portgroup-name") {
				return fail(argv, "Error: The resource '%s' is in use", one("portgroup-name"))
			}
		}
		n := len(s.PortGroups)
		s.PortGroups = slices.DeleteFunc(s.PortGroups, func(p esxi.PortGroup) bool { return p.Name == one("portgroup-name") })
		if n == len(s.PortGroups) {
			return fail(argv, "Error: Unable to find portgroup %s", one("portgroup-name"))
		}
		return nil
	case "network vswitch standard portgroup set":
		if err := req("portgroup-name"); err != nil {
			return err
		}
		p := s.PortGroup(one("portgroup-name"))
		if p == nil {
			return fail(argv, "Error: Unable to find portgroup %s", one("portgroup-name"))
		}
		if len(o["vlan-id"]) > 0 {
			v, err := strconv.Atoi(one("vlan-id"))
			if err != nil || v < 0 || v > 4095 {
				return fail(argv, "Error: Invalid VLAN ID %s", one("vlan-id"))
			}
			p.VLAN = v
		}
		return nil
	case "network ip interface add":
		if err := req("interface-name", "portgroup-name"); err != nil {
			return err
		}
		if s.VMK(one("interface-name")) != nil {
			return fail(argv, "Error: Interface %s already exists", one("interface-name"))
		}
		if s.PortGroup(one("portgroup-name")) == nil {
			return fail(argv, "Error: Unable to find portgroup %s", one("portgroup-name"))
		}
		mtu := 1500
		if len(o["mtu"]) > 0 {
			mtu, _ = strconv.Atoi(one("mtu"))
		}
		s.VMKs = append(s.VMKs, esxi.VMK{Name: one("interface-name"), PortGroup: one("portgroup-name"), MTU: mtu,
			MAC: fmt.Sprintf("00:50:56:6f:00:%02x", len(s.VMKs)), IPv4Type: "NONE"})
		return nil
	case "network ip interface remove":
		if err := req("interface-name"); err != nil {
			return err
		}
		if one("interface-name") == "vmk0" {
			return fail(argv, "Error: Cannot remove the management interface vmk0 here")
		}
		n := len(s.VMKs)
		s.VMKs = slices.DeleteFunc(s.VMKs, func(v esxi.VMK) bool { return v.Name == one("interface-name") })
		if n == len(s.VMKs) {
			return fail(argv, "Error: Unable to find vmknic %s", one("interface-name"))
		}
		s.Routes4 = slices.DeleteFunc(s.Routes4, func(r esxi.Route) bool { return r.Iface == one("interface-name") })
		return nil
	case "network ip interface set":
		if err := req("interface-name"); err != nil {
			return err
		}
		v := s.VMK(one("interface-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vmknic %s", one("interface-name"))
		}
		if len(o["mtu"]) > 0 {
			m, err := strconv.Atoi(one("mtu"))
			if err != nil || m < 1280 || m > 9000 {
				return fail(argv, "Error: Invalid MTU %s", one("mtu"))
			}
			v.MTU = m
		}
		return nil
	case "network ip interface ipv4 set":
		if err := req("interface-name", "type"); err != nil {
			return err
		}
		v := s.VMK(one("interface-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vmknic %s", one("interface-name"))
		}
		switch strings.ToLower(one("type")) {
		case "dhcp":
			v.IPv4Type, v.IPv4, v.Netmask = "DHCP", "", ""
			if v.Name == "vmk0" {
				v.IPv4, v.Netmask = h.Lease.IP, h.Lease.Netmask
				if !slices.ContainsFunc(s.Routes4, func(r esxi.Route) bool { return r.Network == "default" }) {
					s.Routes4 = append(s.Routes4, esxi.Route{Network: "default", Gateway: h.Lease.Gateway, Iface: "vmk0", Source: "DHCP"})
				}
			}
		case "static":
			if err := req("ipv4", "netmask"); err != nil {
				return err
			}
			if _, err := prefix4(one("ipv4"), one("netmask")); err != nil {
				return fail(argv, "Error: Invalid IPv4 address or netmask: %s/%s", one("ipv4"), one("netmask"))
			}
			v.IPv4Type, v.IPv4, v.Netmask = "STATIC", one("ipv4"), one("netmask")
			// Leaving DHCP drops the routes the lease installed.
			s.Routes4 = slices.DeleteFunc(s.Routes4, func(r esxi.Route) bool { return r.Iface == v.Name && r.Source == "DHCP" })
		case "none":
			v.IPv4Type, v.IPv4, v.Netmask = "NONE", "", ""
		default:
			return fail(argv, "Error: Invalid type %s: must be one of dhcp, none, static", one("type"))
		}
		return nil
	case "network ip interface ipv6 address add", "network ip interface ipv6 address remove":
		if err := req("interface-name", "ipv6"); err != nil {
			return err
		}
		v := s.VMK(one("interface-name"))
		if v == nil {
			return fail(argv, "Error: Unable to find vmknic %s", one("interface-name"))
		}
		a := one("ipv6")
		if p, err := netip.ParsePrefix(a); err != nil || !p.Addr().Is6() {
			return fail(argv, "Error: Invalid IPv6 address %s: want address/prefix", a)
		}
		if strings.HasSuffix(cmd, "add") {
			if slices.Contains(v.IPv6, a) {
				return fail(argv, "Error: Address already exists: %s", a)
			}
			v.IPv6 = append(v.IPv6, a)
			return nil
		}
		if !slices.Contains(v.IPv6, a) {
			return fail(argv, "Error: Address not found: %s", a)
		}
		v.IPv6 = slices.DeleteFunc(v.IPv6, func(x string) bool { return x == a })
		return nil
	case "network ip route ipv4 add", "network ip route ipv6 add", "network ip route ipv4 remove", "network ip route ipv6 remove":
		if err := req("gateway", "network"); err != nil {
			return err
		}
		six := strings.Contains(cmd, "ipv6")
		rs := &s.Routes4
		if six {
			rs = &s.Routes6
		}
		gw, err := netip.ParseAddr(one("gateway"))
		if err != nil || gw.Is6() != six {
			return fail(argv, "Error: Invalid gateway %s", one("gateway"))
		}
		netw := one("network")
		if netw != "default" {
			p, err := netip.ParsePrefix(netw)
			if err != nil || p.Addr().Is6() != six || p.Masked() != p {
				return fail(argv, "Error: Invalid network %s", netw)
			}
		}
		idx := slices.IndexFunc(*rs, func(r esxi.Route) bool { return r.Network == netw })
		if strings.HasSuffix(cmd, "remove") {
			if idx < 0 || (*rs)[idx].Gateway != one("gateway") {
				return fail(argv, "Error: Unable to remove route: not found")
			}
			*rs = slices.Delete(*rs, idx, idx+1)
			return nil
		}
		if idx >= 0 {
			return fail(argv, "Error: Unable to add route: a route to %s already exists", netw)
		}
		// The gateway must be on a connected subnet.
		iface := ""
		for _, v := range s.VMKs {
			if !six && v.IPv4 != "" {
				if p, err := prefix4(v.IPv4, v.Netmask); err == nil && p.Contains(gw) {
					iface = v.Name
				}
			}
			for _, a := range v.IPv6 {
				if p, err := netip.ParsePrefix(a); err == nil && six && p.Masked().Contains(gw) {
					iface = v.Name
				}
			}
		}
		if iface == "" {
			return fail(argv, "Error: Unable to add route: gateway %s is not reachable on any interface", gw)
		}
		*rs = append(*rs, esxi.Route{Network: netw, Gateway: one("gateway"), Iface: iface, Source: "MANUAL"})
		return nil
	case "network ip dns server add":
		if err := req("server"); err != nil {
			return err
		}
		if _, err := netip.ParseAddr(one("server")); err != nil {
			return fail(argv, "Error: Invalid DNS server %s", one("server"))
		}
		if slices.Contains(s.DNS, one("server")) {
			return fail(argv, "Error: Server %s already exists", one("server"))
		}
		s.DNS = append(s.DNS, one("server"))
		return nil
	case "network ip dns server remove":
		if len(o["all"]) > 0 {
			s.DNS = nil
			return nil
		}
		if err := req("server"); err != nil {
			return err
		}
		if !slices.Contains(s.DNS, one("server")) {
			return fail(argv, "Error: Server %s not found", one("server"))
		}
		s.DNS = slices.DeleteFunc(s.DNS, func(x string) bool { return x == one("server") })
		return nil
	case "network ip dns search add", "network ip dns search remove":
		if err := req("domain"); err != nil {
			return err
		}
		d := one("domain")
		if strings.HasSuffix(cmd, "add") {
			if slices.Contains(s.Search, d) {
				return fail(argv, "Error: Search domain %s already exists", d)
			}
			s.Search = append(s.Search, d)
			return nil
		}
		if !slices.Contains(s.Search, d) {
			return fail(argv, "Error: Search domain %s not found", d)
		}
		s.Search = slices.DeleteFunc(s.Search, func(x string) bool { return x == d })
		return nil
	}
	return fail(argv, "fake host: %s not modelled", cmd)
}

// CallStrings returns the calls as strings, for assertions.
func (h *Host) CallStrings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.Calls {
		out = append(out, strings.Join(c, " "))
	}
	return out
}

var _ esxi.Runner = (*Host)(nil)
