// Package plan turns metadata and a host snapshot into an ordered list of
// idempotent steps, prints it with secrets redacted, and applies it in a
// safe order: everything that cannot cut the host off first, the
// management network last, then a gateway check that rolls the network
// back when it fails, then persistence and userdata.
package plan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// Phase orders steps.
type Phase string

const (
	PhaseSystem   Phase = "system"
	PhaseNetwork  Phase = "network"
	PhasePersist  Phase = "persist"
	PhaseUserdata Phase = "userdata"
)

// Names the agent gives what it creates.
const (
	VSwitch0     = "vSwitch0"
	MgmtPG       = "Management Network"
	PrivatePG    = "Private Network"
	MgmtVMK      = "vmk0"
	AuthKeysPath = "/etc/ssh/keys-root/authorized_keys"
	ShadowPath   = "/etc/shadow"
)

// Sentinel errors.
var (
	// ErrWrongHost: none of the metadata's NIC MACs exist here, so the
	// document describes another machine.
	ErrWrongHost = errors.New("metadata describes another host")
	// ErrUnsafe: the plan would leave the host without an uplink.
	ErrUnsafe = errors.New("unsafe network change")
)

// Action is one host command or one file write.
type Action struct {
	Argv []string   `json:"argv,omitempty"`
	File *FileWrite `json:"file,omitempty"`
}

// FileWrite replaces a file's content. Secret contents never print.
type FileWrite struct {
	Path    string        `json:"path"`
	Mode    uint32        `json:"mode"`
	Content secret.Secret `json:"-"`
	Public  string        `json:"content,omitempty"` // set when not secret
	Summary string        `json:"summary"`
}

// Data returns the bytes to write.
func (f *FileWrite) Data() []byte {
	if !f.Content.IsZero() {
		return []byte(f.Content.Reveal())
	}
	return []byte(f.Public)
}

func (a Action) String() string {
	if a.File != nil {
		return fmt.Sprintf("write %s (%s)", a.File.Path, a.File.Summary)
	}
	q := make([]string, len(a.Argv))
	for i, s := range a.Argv {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ',' || r == ':' || r == '+' || r == '@' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Step is one idempotent unit, marked done after it succeeds.
type Step struct {
	ID      string   `json:"id"`
	Phase   Phase    `json:"phase"`
	Summary string   `json:"summary"`
	Actions []Action `json:"actions"`
	// Unverified steps issue idempotent commands whose current state the
	// agent does not read (SSH and shell services): always run on a full
	// run, never reported as drift.
	Unverified bool `json:"unverified,omitempty"`
}

// Check is the post-network reachability test.
type Check struct {
	Iface   string `json:"interface"`
	Gateway string `json:"gateway"`
	// Optional checks only warn: IPv6 gateways may answer late (router
	// advertisements, DAD), and IPv4 is what keeps the host reachable.
	Optional bool `json:"optional,omitempty"`
}

// Plan is the whole change set.
type Plan struct {
	InstanceID string   `json:"instance_id"`
	Source     string   `json:"source"`
	Steps      []Step   `json:"steps"`
	Checks     []Check  `json:"checks,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	// Want is the network state the network phase converges to.
	Want *esxi.State `json:"-"`
	// UserData is run once after the host is configured.
	UserData secret.Secret `json:"-"`
}

// Empty reports whether nothing would change.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// String renders the plan for humans: every command, secrets redacted.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan for instance %s (from %s): %d steps\n", p.InstanceID, p.Source, len(p.Steps))
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "[%s] %s: %s\n", s.Phase, s.ID, s.Summary)
		for _, a := range s.Actions {
			fmt.Fprintf(&b, "    %s\n", a)
		}
		if s.Phase == PhaseNetwork && s.ID == "network" {
			for _, c := range p.Checks {
				if c.Optional {
					fmt.Fprintf(&b, "    check: vmkping -6 -I %s %s (warn only)\n", c.Iface, c.Gateway)
				} else {
					fmt.Fprintf(&b, "    check: vmkping -I %s %s (else roll the network back)\n", c.Iface, c.Gateway)
				}
			}
		}
	}
	if ud := p.UserData.Reveal(); ud != "" {
		if strings.HasPrefix(ud, "#cloud-config") {
			b.WriteString("[userdata] #cloud-config: keys and names merged above; not executed\n")
		} else {
			fmt.Fprintf(&b, "[userdata] run the userdata script once (%d bytes, content %s)\n", len(ud), secret.Redacted)
		}
	}
	if p.Empty() {
		b.WriteString("nothing to change\n")
	}
	return b.String()
}

// Files reads host files the plan edits (relative to the host's root).
type Files interface {
	ReadFile(path string) ([]byte, error)
}

// Build computes the plan that turns host state cur (and files) into what
// m describes. It changes nothing.
func Build(m *model.Metadata, cur *esxi.State, files Files) (*Plan, error) {
	p := &Plan{InstanceID: m.InstanceID, Source: m.Source, UserData: m.UserData}
	add := func(id string, ph Phase, sum string, acts ...Action) {
		if len(acts) > 0 {
			p.Steps = append(p.Steps, Step{ID: id, Phase: ph, Summary: sum, Actions: acts})
		}
	}
	esx := func(a ...string) Action { return Action{Argv: append([]string{"esxcli"}, a...)} }

	// A name without a domain sets only the host part (--fqdn wants a
	// dotted name); the host keeps whatever domain it has.
	curHost, _, _ := strings.Cut(cur.FQDN, ".")
	switch {
	case m.Hostname == "":
	case m.Domain == "" && m.Hostname != curHost:
		add("hostname", PhaseSystem, fmt.Sprintf("%s → %s", curHost, m.Hostname), esx("system", "hostname", "set", "--host="+m.Hostname))
	case m.Domain != "" && m.FQDN() != cur.FQDN:
		add("hostname", PhaseSystem, fmt.Sprintf("%s → %s", cur.FQDN, m.FQDN()), esx("system", "hostname", "set", "--fqdn="+m.FQDN()))
	}
	if len(m.DNS) > 0 {
		want := make([]string, len(m.DNS))
		for i, a := range m.DNS {
			want[i] = a.String()
		}
		if !slices.Equal(want, cur.DNS) {
			acts := []Action{esx("network", "ip", "dns", "server", "remove", "--all")}
			for _, s := range want {
				acts = append(acts, esx("network", "ip", "dns", "server", "add", "--server="+s))
			}
			add("dns", PhaseSystem, fmt.Sprintf("servers %v → %v", cur.DNS, want), acts...)
		}
	}
	search := m.Search
	if len(search) == 0 && m.Domain != "" {
		search = []string{m.Domain}
	}
	if len(search) > 0 && !slices.Equal(search, cur.Search) {
		var acts []Action
		for _, d := range cur.Search {
			if !slices.Contains(search, d) {
				acts = append(acts, esx("network", "ip", "dns", "search", "remove", "--domain="+d))
			}
		}
		for _, d := range search {
			if !slices.Contains(cur.Search, d) {
				acts = append(acts, esx("network", "ip", "dns", "search", "add", "--domain="+d))
			}
		}
		add("dns-search", PhaseSystem, fmt.Sprintf("%v → %v", cur.Search, search), acts...)
	}
	if len(m.NTP) > 0 && cur.NTPUnsupported {
		p.Warnings = append(p.Warnings, fmt.Sprintf("NTP servers %v not set: this ESXi has no \"esxcli system ntp\" (needs 7.0 U1 or later)", m.NTP))
	} else if len(m.NTP) > 0 && (!slices.Equal(m.NTP, cur.NTP) || !cur.NTPEnabled) {
		a := []string{"system", "ntp", "set"}
		for _, s := range m.NTP {
			a = append(a, "--server="+s)
		}
		add("ntp", PhaseSystem, fmt.Sprintf("servers %v, enabled", m.NTP), esx(append(a, "--enabled=true")...))
	}
	if len(m.SSHKeys) > 0 {
		old, err := files.ReadFile(AuthKeysPath)
		if err != nil && !errors.Is(err, errNotExist) {
			return nil, fmt.Errorf("read %s: %w", AuthKeysPath, err)
		}
		lines := strings.Split(strings.TrimRight(string(old), "\n"), "\n")
		if len(old) == 0 {
			lines = nil
		}
		added := 0
		for _, k := range m.SSHKeys {
			if !slices.Contains(lines, k) {
				lines = append(lines, k)
				added++
			}
		}
		if added > 0 {
			add("ssh-keys", PhaseSystem, fmt.Sprintf("add %d key(s) for root, keep %d", added, len(lines)-added),
				Action{File: &FileWrite{Path: AuthKeysPath, Mode: 0o600, Public: strings.Join(lines, "\n") + "\n",
					Summary: fmt.Sprintf("%d keys", len(lines))}})
		}
	}
	if h := m.RootPasswordHash.Reveal(); h != "" {
		old, err := files.ReadFile(ShadowPath)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", ShadowPath, err)
		}
		upd, changed, err := setShadowHash(old, "root", h)
		if err != nil {
			return nil, err
		}
		if changed {
			add("root-password", PhaseSystem, "set root password hash "+secret.Redacted,
				Action{File: &FileWrite{Path: ShadowPath, Mode: 0o400, Content: secret.New(string(upd)), Summary: "root hash " + secret.Redacted}})
		}
	}
	ensure := func(id, sum string, acts ...Action) {
		add(id, PhaseSystem, sum, acts...)
		p.Steps[len(p.Steps)-1].Unverified = true
	}
	if m.SSHEnabled != nil {
		if *m.SSHEnabled {
			ensure("ssh-service", "enable and start SSH", Action{Argv: []string{"vim-cmd", "hostsvc/enable_ssh"}}, Action{Argv: []string{"vim-cmd", "hostsvc/start_ssh"}})
		} else {
			ensure("ssh-service", "stop and disable SSH", Action{Argv: []string{"vim-cmd", "hostsvc/stop_ssh"}}, Action{Argv: []string{"vim-cmd", "hostsvc/disable_ssh"}})
		}
	}
	if m.ShellEnabled != nil {
		if *m.ShellEnabled {
			ensure("esx-shell", "enable and start the ESXi Shell", Action{Argv: []string{"vim-cmd", "hostsvc/enable_esx_shell"}}, Action{Argv: []string{"vim-cmd", "hostsvc/start_esx_shell"}})
		} else {
			ensure("esx-shell", "stop and disable the ESXi Shell", Action{Argv: []string{"vim-cmd", "hostsvc/stop_esx_shell"}}, Action{Argv: []string{"vim-cmd", "hostsvc/disable_esx_shell"}})
		}
	}

	want, warns, err := DesiredNetwork(m, cur)
	if err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, warns...)
	p.Want = want
	var netActs []Action
	for _, st := range Diff(cur, want) {
		netActs = append(netActs, st...)
	}
	if len(netActs) > 0 {
		add("network", PhaseNetwork, "management network, uplinks, private network and routes", netActs...)
		if a, ok := m.Management(4); ok {
			p.Checks = append(p.Checks, Check{Iface: MgmtVMK, Gateway: a.Gateway.String()})
		}
		if a, ok := m.Management(6); ok && a.Gateway.IsValid() {
			p.Checks = append(p.Checks, Check{Iface: MgmtVMK, Gateway: a.Gateway.String(), Optional: true})
		}
	}
	if len(p.Steps) > 0 {
		add("persist", PhasePersist, "save the configuration to the bootbank", Action{Argv: []string{"auto-backup.sh"}})
	}
	return p, nil
}

var errNotExist = errors.New("file does not exist")

// ErrNotExist is what Files implementations return for a missing file.
var ErrNotExist = errNotExist

// setShadowHash replaces user's hash in a shadow file.
func setShadowHash(shadow []byte, user, hash string) ([]byte, bool, error) {
	lines := strings.Split(string(shadow), "\n")
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[0] == user {
			if f[1] == hash {
				return shadow, false, nil
			}
			f[1] = hash
			lines[i] = strings.Join(f, ":")
			return []byte(strings.Join(lines, "\n")), true, nil
		}
	}
	return nil, false, fmt.Errorf("%s: no %s entry", ShadowPath, user)
}

// DesiredNetwork is cur with m's network applied. NICs are matched by MAC.
func DesiredNetwork(m *model.Metadata, cur *esxi.State) (*esxi.State, []string, error) {
	want := cur.Clone()
	var warns []string
	vs := want.VSwitch(VSwitch0)
	if vs == nil {
		return nil, nil, fmt.Errorf("host has no %s", VSwitch0)
	}
	if len(m.Uplinks) > 0 {
		var names, missing []string
		for _, mac := range m.Uplinks {
			if n := cur.NICByMAC(mac.String()); n != nil {
				names = append(names, n.Name)
			} else {
				missing = append(missing, mac.String())
			}
		}
		if len(names) == 0 {
			var have []string
			for _, n := range cur.NICs {
				have = append(have, n.MAC)
			}
			return nil, nil, fmt.Errorf("%w: none of its NIC MACs %v is on this host (host has %v)", ErrWrongHost, macs(m.Uplinks), have)
		}
		if len(missing) > 0 {
			return nil, nil, fmt.Errorf("%w: uplink MAC(s) %v not on this host", ErrWrongHost, missing)
		}
		sel := names
		switch m.Teaming {
		case model.TeamingLACP:
			if len(names) > 1 {
				warns = append(warns, fmt.Sprintf("the switch ports run LACP, which a standard vSwitch cannot speak: only %s (MAC %s) goes on %s; %v stay unused", names[0], m.Uplinks[0], VSwitch0, names[1:]))
			}
			sel = names[:1]
		case model.TeamingSingle, "":
			sel = names[:1]
		}
		active, standby := sel, []string(nil)
		switch m.Teaming {
		case model.TeamingFailover:
			active, standby = sel[:1], sel[1:]
			vs.LB = "explicit"
		case model.TeamingLACP:
			vs.LB = "explicit"
		case model.TeamingPortID:
			vs.LB = "portid"
		}
		// The active list must keep the uplink the host is reachable
		// through now (the "active list without vmnic0" trap): demote
		// it to standby rather than drop it.
		for _, a := range cur.VSwitch(VSwitch0).Active {
			if !slices.Contains(active, a) && !slices.Contains(standby, a) {
				standby = append(standby, a)
				warns = append(warns, fmt.Sprintf("%s carries the management network now but is not in the metadata: kept as standby on %s", a, VSwitch0))
			}
		}
		uplinks := append([]string(nil), vs.Uplinks...)
		for _, n := range append(append([]string(nil), active...), standby...) {
			if !slices.Contains(uplinks, n) {
				uplinks = append(uplinks, n)
			}
		}
		vs.Uplinks = uplinks
		vs.Active = append([]string(nil), active...)
		vs.Standby = standby
		up := false
		for _, a := range vs.Active {
			if n := nicNamed(cur, a); n != nil && strings.EqualFold(n.Link, "up") {
				up = true
			}
		}
		if !up {
			return nil, nil, fmt.Errorf("%w: no active uplink of %v has link up", ErrUnsafe, vs.Active)
		}
	}
	if m.MTU != 0 {
		vs.MTU = m.MTU
	}
	if m.VLAN != 0 {
		if pg := want.PortGroup(MgmtPG); pg != nil {
			pg.VLAN = m.VLAN
		}
	}
	vmk0 := want.VMK(MgmtVMK)
	if vmk0 == nil {
		return nil, nil, fmt.Errorf("host has no %s", MgmtVMK)
	}
	if m.MTU != 0 {
		vmk0.MTU = m.MTU
	}
	// Routes: what the metadata says, replacing what earlier runs set.
	keepDHCP := func(rs []esxi.Route, iface string) []esxi.Route {
		var out []esxi.Route
		for _, r := range rs {
			if r.Source == "DHCP" && r.Iface != iface {
				out = append(out, r)
			}
		}
		return out
	}
	if a, ok := m.Management(4); ok {
		vmk0.IPv4Type, vmk0.IPv4, vmk0.Netmask = "STATIC", a.Prefix.Addr().String(), mask4(a.Prefix.Bits())
		want.Routes4 = keepDHCP(want.Routes4, MgmtVMK)
		want.Routes4 = append(want.Routes4, esxi.Route{Network: "default", Gateway: a.Gateway.String()})
	} else {
		// DHCP stays; keep its routes, drop ones a previous run set.
		want.Routes4 = slices.DeleteFunc(want.Routes4, func(r esxi.Route) bool { return r.Source != "DHCP" })
	}
	want.Routes6 = nil
	if a, ok := m.Management(6); ok {
		vmk0.IPv6 = []string{a.Prefix.String()}
		if a.Gateway.IsValid() {
			want.Routes6 = append(want.Routes6, esxi.Route{Network: "default", Gateway: a.Gateway.String()})
		}
	} else {
		vmk0.IPv6 = nil
	}
	if a, ok := m.Private(); ok {
		if want.PortGroup(PrivatePG) == nil {
			want.PortGroups = append(want.PortGroups, esxi.PortGroup{Name: PrivatePG, VSwitch: VSwitch0, VLAN: m.VLAN})
		}
		var v *esxi.VMK
		for i := range want.VMKs {
			if want.VMKs[i].PortGroup == PrivatePG {
				v = &want.VMKs[i]
			}
		}
		if v == nil {
			want.VMKs = append(want.VMKs, esxi.VMK{Name: freeVMK(want), PortGroup: PrivatePG, MTU: vmk0.MTU})
			v = &want.VMKs[len(want.VMKs)-1]
		}
		v.IPv4Type, v.IPv4, v.Netmask = "STATIC", a.Prefix.Addr().String(), mask4(a.Prefix.Bits())
		if m.MTU != 0 {
			v.MTU = m.MTU
		}
	} else {
		// A private network from an earlier instance goes away.
		want.VMKs = slices.DeleteFunc(want.VMKs, func(v esxi.VMK) bool { return v.PortGroup == PrivatePG })
		want.PortGroups = slices.DeleteFunc(want.PortGroups, func(p esxi.PortGroup) bool { return p.Name == PrivatePG })
	}
	for _, r := range m.Routes {
		rt := esxi.Route{Network: r.Dest.String(), Gateway: r.Gateway.String()}
		if r.Dest.Bits() == 0 {
			rt.Network = "default"
		}
		if r.Dest.Addr().Is4() {
			if !slices.ContainsFunc(want.Routes4, func(x esxi.Route) bool { return sameRoute(x, rt) }) {
				want.Routes4 = append(want.Routes4, rt)
			}
		} else if !slices.ContainsFunc(want.Routes6, func(x esxi.Route) bool { return sameRoute(x, rt) }) {
			want.Routes6 = append(want.Routes6, rt)
		}
	}
	return want, warns, nil
}

func macs(hw []net.HardwareAddr) []string {
	var out []string
	for _, h := range hw {
		out = append(out, h.String())
	}
	return out
}

func nicNamed(s *esxi.State, name string) *esxi.NIC {
	for i := range s.NICs {
		if s.NICs[i].Name == name {
			return &s.NICs[i]
		}
	}
	return nil
}

func freeVMK(s *esxi.State) string {
	for i := 1; ; i++ {
		n := fmt.Sprintf("vmk%d", i)
		if s.VMK(n) == nil {
			return n
		}
	}
}

func mask4(bits int) string {
	var m [4]byte
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m).String()
}

func sameRoute(a, b esxi.Route) bool { return a.Network == b.Network && a.Gateway == b.Gateway }
