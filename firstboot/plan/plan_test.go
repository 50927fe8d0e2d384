package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi/fakehost"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/metadata"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
)

const rootHash = "$6$c2FsdHNhbHQ$SECRETHASHexampleonlyNOTREAL"

func equinix(t *testing.T) *model.Metadata {
	t.Helper()
	doc, err := os.ReadFile("../metadata/testdata/equinix-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := metadata.ParseEquinix(doc, []byte("#!/bin/sh\ntouch \"$0.ran\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newHost is a fresh golden host with the Equinix fixture's NICs (plus an
// onboard NIC) and a root file tree.
func newHost(t *testing.T, macs ...string) (*fakehost.Host, *Host) {
	t.Helper()
	if len(macs) == 0 {
		macs = []string{"0c:42:a1:5e:00:10", "0c:42:a1:5e:00:11"}
	}
	f := fakehost.New(macs...)
	f.Reachable = append(f.Reachable, "198.51.100.10")
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:$6$old$oldhash:19000:0:99999:7:::\ndcui:*:13358:0:99999:7:::\n"), 0o400)
	return f, &Host{Runner: f, Root: root, TmpDir: t.TempDir(), CheckTries: 2, CheckWait: 1}
}

func build(t *testing.T, m *model.Metadata, h *Host) *Plan {
	t.Helper()
	st, err := h.State()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(m, st, h)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyEquinixThenIdempotent(t *testing.T) {
	f, h := newHost(t)
	m := equinix(t)
	p := build(t, m, h)
	text := p.String()
	for _, want := range []string{
		"esxcli system hostname set --fqdn=esx-da-01.example.net",
		"esxcli network ip interface ipv4 set --interface-name=vmk0 --type=static --ipv4=198.51.100.11 --netmask=255.255.255.254",
		"esxcli network ip route ipv4 add --gateway=198.51.100.10 --network=default",
		"esxcli network ip interface ipv6 address add --interface-name=vmk0 --ipv6=2001:db8:4200:1a00::7/127",
		"esxcli network vswitch standard portgroup add '--portgroup-name=Private Network' --vswitch-name=vSwitch0",
		"esxcli network ip interface add --interface-name=vmk1 '--portgroup-name=Private Network'",
		"esxcli network ip route ipv4 add --gateway=192.0.2.132 --network=10.0.0.0/8",
		"check: vmkping -I vmk0 198.51.100.10",
		"check: vmkping -6 -I vmk0 2001:db8:4200:1a00::6 (warn only)",
		"LACP",
		"write /etc/shadow (root hash [redacted])",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	// LACP: the second port is never attached to the standard vSwitch.
	if strings.Contains(text, "uplink add") {
		t.Errorf("LACP plan adds an uplink:\n%s", text)
	}
	out, err := h.Apply(p, nil)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, strings.Join(f.CallStrings(), "\n"))
	}
	if out.RolledBack || !out.UserdataRan || out.UserdataExit != 0 {
		t.Fatalf("outcome %+v", out)
	}
	// The IPv6 gateway is not in the fake's reachable list: warn, keep.
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "IPv6 gateway 2001:db8:4200:1a00::6") {
		t.Fatalf("warnings %v", out.Warnings)
	}
	s := f.Snapshot()
	if s.FQDN != "esx-da-01.example.net" || s.VMK("vmk0").IPv4 != "198.51.100.11" || s.VMK("vmk1") == nil || s.VMK("vmk1").IPv4 != "192.0.2.133" {
		t.Fatalf("host state %+v", s)
	}
	if f.Backups < 1 {
		t.Fatal("configuration not persisted")
	}
	shadow, _ := os.ReadFile(filepath.Join(h.Root, "etc/shadow"))
	if !strings.HasPrefix(string(shadow), "root:"+rootHash+":19000:") || !strings.Contains(string(shadow), "dcui:") {
		t.Fatalf("shadow:\n%s", shadow)
	}
	// Rebuilt against the configured host: only the service ensures remain.
	p2 := build(t, m, h)
	for _, s := range p2.Steps {
		if s.ID != "ssh-service" && s.ID != "esx-shell" && s.ID != "persist" {
			t.Errorf("second plan still changes %s: %v", s.ID, s.Actions)
		}
	}
}

func TestGatewayUnreachableRollsBack(t *testing.T) {
	f, h := newHost(t)
	f.Reachable = []string{"192.0.2.1"} // the new gateway never answers
	before := f.Snapshot()
	p := build(t, equinix(t), h)
	out, err := h.Apply(p, nil)
	if !errors.Is(err, ErrGatewayUnreachable) || !out.RolledBack {
		t.Fatalf("err %v outcome %+v", err, out)
	}
	after := f.Snapshot()
	if d := Diff(after, before); len(d) != 0 {
		t.Fatalf("network not restored: %v", d)
	}
	if after.VMK("vmk0").IPv4Type != "DHCP" || after.VMK("vmk1") != nil {
		t.Fatalf("after rollback: %+v", after.VMKs)
	}
	if f.Backups != 0 {
		t.Fatal("a failed network change was persisted")
	}
	if out.UserdataRan {
		t.Fatal("userdata ran after a failed network step")
	}
}

func TestFailedCommandRollsBack(t *testing.T) {
	f, h := newHost(t)
	f.FailOn = []string{"esxcli network ip route ipv4 add --gateway=192.0.2.132 --network=10.0.0.0/8"}
	before := f.Snapshot()
	_, err := h.Apply(build(t, equinix(t), h), nil)
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err %v", err)
	}
	if d := Diff(f.Snapshot(), before); len(d) != 0 {
		t.Fatalf("network not restored: %v", d)
	}
}

func TestWrongHostChangesNothing(t *testing.T) {
	f, h := newHost(t, "00:11:22:33:44:55", "00:11:22:33:44:56")
	st, _ := h.State()
	if _, err := Build(equinix(t), st, h); !errors.Is(err, ErrWrongHost) {
		t.Fatalf("err %v, want ErrWrongHost", err)
	}
	if f.Changes != 0 {
		t.Fatalf("%d changes on a wrong host", f.Changes)
	}
}

func TestFailoverKeepsCurrentUplink(t *testing.T) {
	// Onboard vmnic0 carried DHCP; the metadata names the two add-in
	// ports in failover: vmnic0 must stay (standby), never be dropped.
	f, h := newHost(t, "aa:aa:aa:00:00:01", "0c:42:a1:5e:00:10", "0c:42:a1:5e:00:11")
	m := equinix(t)
	m.Teaming = model.TeamingFailover
	p := build(t, m, h)
	if _, err := h.Apply(p, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	vs := f.Snapshot().VSwitch("vSwitch0")
	if strings.Join(vs.Active, ",") != "vmnic1" || strings.Join(vs.Standby, ",") != "vmnic2,vmnic0" || vs.LB != "explicit" {
		t.Fatalf("vSwitch0 %+v", vs)
	}
	if !strings.Contains(strings.Join(p.Warnings, "\n"), "vmnic0 carries the management network") {
		t.Fatalf("no warning about vmnic0: %v", p.Warnings)
	}
}

func TestOldESXiWithoutNTPNamespace(t *testing.T) {
	f, h := newHost(t)
	f.FailOn = []string{"esxcli --formatter=csv system ntp get"}
	p := build(t, equinix(t), h)
	if strings.Contains(p.String(), "ntp set") || !strings.Contains(strings.Join(p.Warnings, "\n"), "7.0 U1") {
		t.Fatalf("plan:\n%s", p)
	}
}

func TestJumboFramesAndRollbackOrder(t *testing.T) {
	f, h := newHost(t)
	f.Reachable = []string{"192.0.2.1"} // force the rollback
	m := equinix(t)
	m.MTU = 9000
	before := f.Snapshot()
	if _, err := h.Apply(build(t, m, h), nil); !errors.Is(err, ErrGatewayUnreachable) {
		t.Fatalf("err %v", err)
	}
	calls := strings.Join(f.CallStrings(), "\n")
	up := strings.Index(calls, "vswitch standard set --vswitch-name=vSwitch0 --mtu=9000")
	vmkUp := strings.Index(calls, "ip interface set --interface-name=vmk0 --mtu=9000")
	vmkDown := strings.Index(calls, "ip interface set --interface-name=vmk0 --mtu=1500")
	down := strings.Index(calls, "vswitch standard set --vswitch-name=vSwitch0 --mtu=1500")
	if up < 0 || vmkUp < up || vmkDown < vmkUp || down < vmkDown {
		t.Fatalf("MTU order: switch up %d, vmk up %d, vmk down %d, switch down %d\n%s", up, vmkUp, vmkDown, down, calls)
	}
	if d := Diff(f.Snapshot(), before); len(d) != 0 {
		t.Fatalf("not restored: %v", d)
	}
}

func TestShortHostname(t *testing.T) {
	f, h := newHost(t)
	m := equinix(t)
	m.SetFQDN("esx07")
	p := build(t, m, h)
	if !strings.Contains(p.String(), "esxcli system hostname set --host=esx07\n") {
		t.Fatalf("plan:\n%s", p)
	}
	if _, err := h.Apply(p, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.Snapshot().FQDN; got != "esx07.localdomain" {
		t.Fatalf("fqdn %q", got)
	}
	for _, s := range build(t, m, h).Steps {
		if s.ID == "hostname" {
			t.Fatal("short name set again")
		}
	}
}

func TestNoActiveLinkIsUnsafe(t *testing.T) {
	f, h := newHost(t)
	f.State.NICs[0].Link = "Down"
	st, _ := h.State()
	if _, err := Build(equinix(t), st, h); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("err %v, want ErrUnsafe", err)
	}
}

func TestPlanRedactsSecrets(t *testing.T) {
	_, h := newHost(t)
	m := equinix(t)
	p := build(t, m, h)
	j, _ := json.Marshal(p)
	for _, out := range []string{p.String(), string(j)} {
		if strings.Contains(out, "SECRETHASH") || strings.Contains(out, "touch") {
			t.Errorf("plan output leaks a secret:\n%s", out)
		}
	}
}

func TestFakeHostErrorsLikeESXi(t *testing.T) {
	f, _ := newHost(t)
	for argv, want := range map[string]string{
		"esxcli network ip interface ipv4 set --interface-name=vmk0 --type=static":                "Missing required parameter -I|--ipv4",
		"esxcli network ip interface ipv4 set -i vmk9 -t dhcp":                                    "Unable to find vmknic vmk9",
		"esxcli network vswitch standard uplink add --uplink-name=vmnic0 --vswitch-name=vSwitch0": "Uplink already exists",
		"esxcli network vswitch standard portgroup add -p VM Network -v vSwitch0":                 "Unexpected argument",
		"esxcli network ip dns server add --bogus=1":                                              "Invalid option --bogus",
		"esxcli network ip route ipv4 add -g 203.0.113.1 -n default":                              "already exists",
		"esxcli network vswitch standard policy failover set -v vSwitch0 -a vmnic7":               "Invalid uplink vmnic7",
		"esxcli system frobnicate": "Unknown command or namespace",
		"vim-cmd hostsvc/nope":     "Unknown command",
	} {
		_, err := f.Run(strings.Fields(argv)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", argv, err, want)
		}
	}
	if f.Changes != 0 {
		t.Errorf("failed commands changed the host %d times", f.Changes)
	}
}
