package model

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

func valid() *Metadata {
	mac, _ := net.ParseMAC("0c:42:a1:5e:00:10")
	return &Metadata{InstanceID: "iid", Hostname: "esx01", Domain: "example.net", Uplinks: []net.HardwareAddr{mac},
		Addresses:        []Address{{Prefix: netip.MustParsePrefix("198.51.100.11/31"), Gateway: netip.MustParseAddr("198.51.100.10"), Role: RoleManagement}},
		RootPasswordHash: secret.New("$6$salt$hash")}
}

func TestValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mut  func(m *Metadata)
		want string
	}{
		"no instance":    {func(m *Metadata) { m.InstanceID = " " }, "instance-id: empty"},
		"slash in id":    {func(m *Metadata) { m.InstanceID = "a/b" }, "instance-id"},
		"bad label":      {func(m *Metadata) { m.Hostname = "esx_01" }, "not a DNS label"},
		"no gateway":     {func(m *Metadata) { m.Addresses[0].Gateway = netip.Addr{} }, "no gateway"},
		"gateway family": {func(m *Metadata) { m.Addresses[0].Gateway = netip.MustParseAddr("2001:db8::1") }, "not of the family"},
		"two mgmt v4":    {func(m *Metadata) { m.Addresses = append(m.Addresses, m.Addresses[0]) }, "second management"},
		"private v6": {func(m *Metadata) {
			m.Addresses = append(m.Addresses, Address{Prefix: netip.MustParsePrefix("2001:db8::5/64"), Role: RolePrivate})
		}, "only IPv4"},
		"vlan":            {func(m *Metadata) { m.VLAN = 4095 }, "vlan 4095"},
		"mtu":             {func(m *Metadata) { m.MTU = 100 }, "mtu 100"},
		"teaming":         {func(m *Metadata) { m.Teaming = "bond" }, "teaming"},
		"multi-line key":  {func(m *Metadata) { m.SSHKeys = []string{"ssh-ed25519 AAAA\nssh-rsa BBBB"} }, "ssh_keys[0]"},
		"rounds":          {func(m *Metadata) { m.RootPasswordHash = secret.New("$6$rounds=4096$salt$SECRET") }, "rounds="},
		"plaintext pw":    {func(m *Metadata) { m.RootPasswordHash = secret.New("VMware1!SECRET") }, "not a crypt(3)"},
		"ntp with spaces": {func(m *Metadata) { m.NTP = []string{"a b"} }, "ntp[0]"},
	} {
		m := valid()
		tc.mut(m)
		err := m.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error prints the password: %v", name, err)
		}
	}
}
