package metadata

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ec2Items(b []byte) EC2 {
	t := EC2{Items: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		if k == "public-key" {
			t.Keys = append(t.Keys, v)
			continue
		}
		t.Items[k] = v
	}
	return t
}

func gzb64(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

// summary renders the fields a test pins, in a stable form.
func summary(m *model.Metadata) string {
	var b strings.Builder
	w := func(f string, a ...any) { b.WriteString(strings.TrimSpace(sprintf(f, a...)) + "\n") }
	w("id=%s fqdn=%s teaming=%s vlan=%d mtu=%d", m.InstanceID, m.FQDN(), m.Teaming, m.VLAN, m.MTU)
	for _, u := range m.Uplinks {
		w("uplink %s", u)
	}
	for _, a := range m.Addresses {
		w("addr %s %s gw=%s", a.Role, a.Prefix, a.Gateway)
	}
	for _, r := range m.Routes {
		w("route %s via %s", r.Dest, r.Gateway)
	}
	w("dns=%v ntp=%v search=%v keys=%d root=%v userdata=%v", m.DNS, m.NTP, m.Search, len(m.SSHKeys), !m.RootPasswordHash.IsZero(), !m.UserData.IsZero())
	return b.String()
}

func TestParsers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func() (*model.Metadata, error)
		want  string
	}{
		{"equinix", func() (*model.Metadata, error) {
			return ParseEquinix(read(t, "equinix-metadata.json"), read(t, "equinix-userdata"))
		}, `id=7f0c3a52-9d1e-4b6a-8c2f-1e5d9a0b7c31 fqdn=esx-da-01.example.net teaming=lacp vlan=0 mtu=0
uplink 0c:42:a1:5e:00:10
uplink 0c:42:a1:5e:00:11
addr management 198.51.100.11/31 gw=198.51.100.10
addr management 2001:db8:4200:1a00::7/127 gw=2001:db8:4200:1a00::6
addr private 192.0.2.133/31 gw=192.0.2.132
route 10.0.0.0/8 via 192.0.2.132
dns=[192.0.2.53] ntp=[192.0.2.123] search=[] keys=1 root=true userdata=true
`},
		{"openstack", func() (*model.Metadata, error) {
			return ParseOpenStack(read(t, "openstack-meta_data.json"), read(t, "openstack-network_data.json"), nil)
		}, `id=2d4a0e53-3c1d-4f5a-9b8e-0a1b2c3d4e5f fqdn=esx-ironic-07.cloud.example teaming=failover vlan=100 mtu=9000
uplink 52:54:00:12:34:56
uplink 52:54:00:12:34:57
addr management 203.0.113.20/24 gw=203.0.113.1
addr management 2001:db8:1::20/64 gw=2001:db8:1::1
route 198.18.0.0/15 via 203.0.113.254
dns=[192.0.2.53 192.0.2.54] ntp=[ntp1.example ntp2.example] search=[] keys=1 root=false userdata=false
`},
		{"nocloud", func() (*model.Metadata, error) {
			return ParseNoCloud(read(t, "nocloud-meta-data"), read(t, "nocloud-network-config"), read(t, "nocloud-user-data"))
		}, `id=iid-esx-lab-0042 fqdn=esx-lab-42.lab.example teaming=portid vlan=20 mtu=1500
uplink 00:50:56:aa:00:01
uplink 00:50:56:aa:00:02
addr management 192.0.2.42/24 gw=192.0.2.1
addr management 2001:db8:20::42/64 gw=2001:db8:20::1
route 198.51.100.0/24 via 192.0.2.254
dns=[192.0.2.53] ntp=[pool.ntp.org ntp.lab.example] search=[lab.example] keys=2 root=true userdata=true
`},
		{"guestinfo", func() (*model.Metadata, error) {
			return ParseGuestinfo(gzb64(t, read(t, "guestinfo-metadata.yaml")), "gzip+base64", []byte(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\ntrue\n"))), "base64")
		}, `id=vm-nested-esx-01 fqdn=nested01.lab.example teaming=single vlan=0 mtu=0
uplink 00:0c:29:01:02:03
addr management 10.20.30.40/24 gw=10.20.30.1
dns=[10.20.30.2] ntp=[] search=[] keys=0 root=false userdata=true
`},
		{"ec2", func() (*model.Metadata, error) {
			return ParseEC2(ec2Items(read(t, "ec2-items.txt")), read(t, "nocloud-user-data"))
		}, `id=i-0123456789abcdef0 fqdn=esx-tink-03.example teaming= vlan=0 mtu=0
dns=[] ntp=[ntp.lab.example] search=[] keys=1 root=false userdata=true
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.parse()
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(m); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	for name, f := range map[string]func() error{
		"equinix not json":  func() error { _, err := ParseEquinix([]byte(`{"id": "x",`), nil); return err },
		"equinix no id":     func() error { _, err := ParseEquinix([]byte(`{"hostname": "a"}`), nil); return err },
		"openstack no uuid": func() error { _, err := ParseOpenStack([]byte(`{"hostname":"a"}`), nil, nil); return err },
		"nocloud no iid":    func() error { _, err := ParseNoCloud([]byte("local-hostname: a\n"), nil, nil); return err },
		"nocloud bad yaml":  func() error { _, err := ParseNoCloud([]byte("instance-id: [\n"), nil, nil); return err },
		"netplan v1": func() error {
			_, err := ParseNoCloud([]byte("instance-id: a\n"), []byte("version: 1\nconfig: []\n"), nil)
			return err
		},
		"guestinfo bad b64":  func() error { _, err := ParseGuestinfo([]byte("!!!"), "base64", nil, ""); return err },
		"ec2 empty id":       func() error { _, err := ParseEC2(EC2{Items: map[string]string{}}, nil); return err },
		"ec2 listing escape": func() error { _, err := ParseEC2Listing([]byte("a\n../etc\n")); return err },
		"cloud-config bad": func() error {
			_, err := ParseNoCloud([]byte("instance-id: a\n"), nil, []byte("#cloud-config\nssh_authorized_keys: [\n"))
			return err
		},
	} {
		if err := f(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseEquinix([]byte(`{"error":"Not found"}`), nil); err == nil || !strings.Contains(err.Error(), "Not found") {
		t.Errorf("equinix error document: %v", err)
	}
}

func TestEC2Listing(t *testing.T) {
	got, err := ParseEC2Listing([]byte("instance-id\nhostname\npublic-keys/\n0=ops\n1=dev\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "instance-id,hostname,public-keys/,0/,1/" {
		t.Fatalf("listing %v", got)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	doc := strings.Replace(string(read(t, "equinix-metadata.json")), `"cidr": 31,`, `"cidr": 99,`, 1)
	_, err := ParseEquinix([]byte(doc), read(t, "equinix-userdata"))
	if err == nil {
		t.Fatal("bad cidr accepted")
	}
	for _, s := range []string{"SECRETHASH", "SECRET-USERDATA"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks %s: %v", s, err)
		}
	}
	_, err = ParseNoCloud([]byte("instance-id: a\n"), nil, []byte("#cloud-config\npassword: SECRET-PW\nssh_authorized_keys: {\n"))
	if err == nil || strings.Contains(err.Error(), "SECRET-PW") {
		t.Errorf("cloud-config error: %v", err)
	}
}
