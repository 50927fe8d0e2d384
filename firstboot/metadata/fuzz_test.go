package metadata

import (
	"fmt"
	"testing"
)

var sprintf = fmt.Sprintf

// Each fuzz target checks the parser never panics and that whatever it
// accepts can be validated (Validate must not panic either).

func FuzzEquinix(f *testing.F) {
	f.Add(read(f, "equinix-metadata.json"), read(f, "equinix-userdata"))
	f.Add([]byte(`{"error":"x"}`), []byte(nil))
	f.Fuzz(func(t *testing.T, doc, ud []byte) {
		if m, err := ParseEquinix(doc, ud); err == nil {
			_ = m.Validate()
		}
	})
}

func FuzzEC2(f *testing.F) {
	f.Add(read(f, "ec2-items.txt"), read(f, "nocloud-user-data"))
	f.Fuzz(func(t *testing.T, items, ud []byte) {
		if _, err := ParseEC2Listing(items); err != nil {
			return
		}
		if m, err := ParseEC2(ec2Items(items), ud); err == nil {
			_ = m.Validate()
		}
	})
}

func FuzzOpenStack(f *testing.F) {
	f.Add(read(f, "openstack-meta_data.json"), read(f, "openstack-network_data.json"))
	f.Fuzz(func(t *testing.T, meta, network []byte) {
		if m, err := ParseOpenStack(meta, network, nil); err == nil {
			_ = m.Validate()
		}
	})
}

func FuzzNoCloud(f *testing.F) {
	f.Add(read(f, "nocloud-meta-data"), read(f, "nocloud-network-config"), read(f, "nocloud-user-data"))
	f.Fuzz(func(t *testing.T, meta, network, ud []byte) {
		if m, err := ParseNoCloud(meta, network, ud); err == nil {
			_ = m.Validate()
		}
	})
}

func FuzzGuestinfo(f *testing.F) {
	f.Add(gzb64(f, read(f, "guestinfo-metadata.yaml")), "gzip+base64")
	f.Add(read(f, "guestinfo-metadata.yaml"), "")
	f.Fuzz(func(t *testing.T, meta []byte, enc string) {
		if m, err := ParseGuestinfo(meta, enc, nil, ""); err == nil {
			_ = m.Validate()
		}
	})
}
