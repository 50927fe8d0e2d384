package metadata

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// cloudConfig is the part of a #cloud-config userdata the agent honours:
// keys (Hegel never fills public-keys, so they ride in userdata), names,
// NTP, and the "esxi" extension block.
type cloudConfig struct {
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
	Hostname          string   `yaml:"hostname"`
	FQDN              string   `yaml:"fqdn"`
	NTP               struct {
		Servers []string `yaml:"servers"`
		Pools   []string `yaml:"pools"`
	} `yaml:"ntp"`
	ESXi *Extensions `yaml:"esxi"`
}

// applyUserData stores userdata as a secret and, for #cloud-config, merges
// the honoured keys into m.
func applyUserData(m *model.Metadata, userdata []byte, where string) error {
	if len(userdata) == 0 {
		return nil
	}
	m.UserData = secret.New(string(userdata))
	if !bytes.HasPrefix(userdata, []byte("#cloud-config")) {
		return nil
	}
	var cc cloudConfig
	if err := yaml.Unmarshal(userdata, &cc); err != nil {
		// Do not quote the document: userdata may hold secrets.
		return fmt.Errorf("%s: #cloud-config: %w: not valid YAML", where, ErrMalformed)
	}
	m.SSHKeys = append(m.SSHKeys, cc.SSHAuthorizedKeys...)
	if cc.FQDN != "" {
		m.SetFQDN(cc.FQDN)
	} else if cc.Hostname != "" && m.Hostname == "" {
		m.SetFQDN(cc.Hostname)
	}
	m.NTP = append(m.NTP, cc.NTP.Servers...)
	m.NTP = append(m.NTP, cc.NTP.Pools...)
	if cc.ESXi != nil {
		if err := cc.ESXi.apply(m); err != nil {
			return fmt.Errorf("%s: #cloud-config esxi.%w", where, err)
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
