package plan

import (
	"slices"
	"strconv"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
)

// Diff returns the esxcli commands that turn cur's network into want's,
// grouped in stages that must run in order: uplinks before the failover
// policy that names them, port groups before interfaces on them, addresses
// before routes through them, removals last. Apply re-reads the host
// between stages, so a stage made moot by an earlier one is skipped; the
// same function computes the rollback (want = the snapshot).
func Diff(cur, want *esxi.State) [][]Action {
	esx := func(a ...string) Action { return Action{Argv: append([]string{"esxcli"}, a...)} }
	var stages [][]Action
	stage := func(acts []Action) {
		if len(acts) > 0 {
			stages = append(stages, acts)
		}
	}
	// 1. uplinks to add; 2. failover policy; 3. a larger MTU (a smaller
	// one waits until the interfaces on the switch have shrunk: s5b).
	var s1, s2, s3, s5b []Action
	for _, wv := range want.VSwitches {
		cv := cur.VSwitch(wv.Name)
		if cv == nil {
			continue // the agent never creates vSwitches
		}
		for _, u := range wv.Uplinks {
			if !slices.Contains(cv.Uplinks, u) {
				s1 = append(s1, esx("network", "vswitch", "standard", "uplink", "add", "--uplink-name="+u, "--vswitch-name="+wv.Name))
			}
		}
		if !slices.Equal(cv.Active, wv.Active) || !slices.Equal(cv.Standby, wv.Standby) || (wv.LB != "" && cv.LB != wv.LB) {
			a := []string{"network", "vswitch", "standard", "policy", "failover", "set", "--vswitch-name=" + wv.Name, "--active-uplinks=" + join(wv.Active)}
			if len(wv.Standby) > 0 || len(cv.Standby) > 0 {
				a = append(a, "--standby-uplinks="+join(wv.Standby))
			}
			if wv.LB != "" {
				a = append(a, "--load-balancing="+wv.LB)
			}
			s2 = append(s2, esx(a...))
		}
		if wv.MTU != 0 && wv.MTU != cv.MTU {
			a := esx("network", "vswitch", "standard", "set", "--vswitch-name="+wv.Name, "--mtu="+strconv.Itoa(wv.MTU))
			if wv.MTU > cv.MTU {
				s3 = append(s3, a)
			} else {
				s5b = append(s5b, a)
			}
		}
	}
	stage(s1)
	stage(s2)
	stage(s3)
	// 4. port groups and VLANs.
	var s4 []Action
	for _, wp := range want.PortGroups {
		cp := cur.PortGroup(wp.Name)
		if cp == nil {
			s4 = append(s4, esx("network", "vswitch", "standard", "portgroup", "add", "--portgroup-name="+wp.Name, "--vswitch-name="+wp.VSwitch))
		}
		if (cp == nil && wp.VLAN != 0) || (cp != nil && cp.VLAN != wp.VLAN) {
			s4 = append(s4, esx("network", "vswitch", "standard", "portgroup", "set", "--portgroup-name="+wp.Name, "--vlan-id="+strconv.Itoa(wp.VLAN)))
		}
	}
	stage(s4)
	// 5. interfaces and their MTU.
	var s5, s6, s7 []Action
	for _, wk := range want.VMKs {
		ck := cur.VMK(wk.Name)
		if ck == nil {
			a := []string{"network", "ip", "interface", "add", "--interface-name=" + wk.Name, "--portgroup-name=" + wk.PortGroup}
			if wk.MTU != 0 {
				a = append(a, "--mtu="+strconv.Itoa(wk.MTU))
			}
			s5 = append(s5, esx(a...))
			ck = &esxi.VMK{Name: wk.Name, MTU: wk.MTU, IPv4Type: "NONE"}
		} else if wk.MTU != 0 && wk.MTU != ck.MTU {
			s5 = append(s5, esx("network", "ip", "interface", "set", "--interface-name="+wk.Name, "--mtu="+strconv.Itoa(wk.MTU)))
		}
		// 6. IPv4.
		if wk.IPv4Type != ck.IPv4Type || (wk.IPv4Type == "STATIC" && (wk.IPv4 != ck.IPv4 || wk.Netmask != ck.Netmask)) {
			switch wk.IPv4Type {
			case "STATIC":
				s6 = append(s6, esx("network", "ip", "interface", "ipv4", "set", "--interface-name="+wk.Name, "--type=static", "--ipv4="+wk.IPv4, "--netmask="+wk.Netmask))
			case "DHCP":
				s6 = append(s6, esx("network", "ip", "interface", "ipv4", "set", "--interface-name="+wk.Name, "--type=dhcp"))
			case "NONE":
				s6 = append(s6, esx("network", "ip", "interface", "ipv4", "set", "--interface-name="+wk.Name, "--type=none"))
			}
		}
		// 7. IPv6 static addresses.
		for _, a := range ck.IPv6 {
			if !slices.Contains(wk.IPv6, a) {
				s7 = append(s7, esx("network", "ip", "interface", "ipv6", "address", "remove", "--interface-name="+wk.Name, "--ipv6="+a))
			}
		}
		for _, a := range wk.IPv6 {
			if !slices.Contains(ck.IPv6, a) {
				s7 = append(s7, esx("network", "ip", "interface", "ipv6", "address", "add", "--interface-name="+wk.Name, "--ipv6="+a))
			}
		}
	}
	stage(s5)
	stage(s5b)
	stage(s6)
	stage(s7)
	// 8. routes that go, 9. routes that come.
	var s8, s9 []Action
	for _, fam := range []struct {
		name      string
		cur, want []esxi.Route
	}{{"ipv4", cur.Routes4, want.Routes4}, {"ipv6", cur.Routes6, want.Routes6}} {
		for _, r := range fam.cur {
			if !slices.ContainsFunc(fam.want, func(x esxi.Route) bool { return sameRoute(x, r) }) {
				if r.Source == "DHCP" && !slices.ContainsFunc(fam.want, func(x esxi.Route) bool { return x.Network == r.Network }) {
					continue // the lease's business, not ours
				}
				s8 = append(s8, esx("network", "ip", "route", fam.name, "remove", "--gateway="+r.Gateway, "--network="+r.Network))
			}
		}
		for _, r := range fam.want {
			if !slices.ContainsFunc(fam.cur, func(x esxi.Route) bool { return sameRoute(x, r) }) {
				s9 = append(s9, esx("network", "ip", "route", fam.name, "add", "--gateway="+r.Gateway, "--network="+r.Network))
			}
		}
	}
	stage(s8)
	stage(s9)
	// 10. interfaces, 11. port groups, 12. uplinks that go.
	var s10, s11, s12 []Action
	for _, ck := range cur.VMKs {
		if want.VMK(ck.Name) == nil {
			s10 = append(s10, esx("network", "ip", "interface", "remove", "--interface-name="+ck.Name))
		}
	}
	for _, cp := range cur.PortGroups {
		if want.PortGroup(cp.Name) == nil {
			s11 = append(s11, esx("network", "vswitch", "standard", "portgroup", "remove", "--portgroup-name="+cp.Name, "--vswitch-name="+cp.VSwitch))
		}
	}
	for _, cv := range cur.VSwitches {
		wv := want.VSwitch(cv.Name)
		if wv == nil {
			continue
		}
		for _, u := range cv.Uplinks {
			if !slices.Contains(wv.Uplinks, u) {
				s12 = append(s12, esx("network", "vswitch", "standard", "uplink", "remove", "--uplink-name="+u, "--vswitch-name="+cv.Name))
			}
		}
	}
	stage(s10)
	stage(s11)
	stage(s12)
	return stages
}

func join(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
