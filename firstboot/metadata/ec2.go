package metadata

import (
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
)

// EC2 is the flattened 2009-04-04 meta-data tree: item path → value, with
// the public keys already gathered into Keys.
type EC2 struct {
	Items map[string]string
	Keys  []string
}

// ParseEC2 reads an EC2-style tree (Hegel, Tootles, hollow, EC2 IMDS).
// The shape carries no netmask or gateway, so the host keeps its DHCP
// address: only identity, keys and userdata come from here.
func ParseEC2(t EC2, userdata []byte) (*model.Metadata, error) {
	id := strings.TrimSpace(t.Items["instance-id"])
	if id == "" {
		return nil, fmt.Errorf("ec2 meta-data/instance-id: %w: empty", ErrMalformed)
	}
	if strings.ContainsAny(id, "<>{}\n") {
		return nil, fmt.Errorf("ec2 meta-data/instance-id: %w: %q is not an instance id", ErrMalformed, id)
	}
	m := &model.Metadata{Source: "ec2", InstanceID: id}
	name := t.Items["hostname"]
	if name == "" {
		name = t.Items["local-hostname"]
	}
	m.SetFQDN(name)
	for _, k := range t.Keys {
		m.SSHKeys = append(m.SSHKeys, splitList(k)...)
	}
	if err := applyUserData(m, userdata, "ec2 user-data"); err != nil {
		return nil, err
	}
	m.SSHKeys = dedupe(m.SSHKeys)
	return m, nil
}

// ParseEC2Listing reads a directory listing ("instance-id\nplacement/\n"),
// returning the entries; names ending in "/" are directories. Public keys
// are listed as "0=keyname": the index is returned with a trailing "/"
// because the key itself lives under "<index>/openssh-key".
func ParseEC2Listing(b []byte) ([]string, error) {
	var out []string
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if idx, _, ok := strings.Cut(l, "="); ok {
			l = idx + "/"
		}
		name := strings.TrimSuffix(l, "/")
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/?#%\\ \t\x00") || len(l) > 255 {
			return nil, fmt.Errorf("ec2 listing line %d: %w: bad entry %q", i+1, ErrMalformed, l)
		}
		out = append(out, l)
	}
	return out, nil
}
