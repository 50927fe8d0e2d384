package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/metadata"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Provider fetches and parses one service's documents.
type Provider interface {
	Name() string
	Fetch(f *Fetcher) (*model.Metadata, error)
}

// maxDoc bounds a local seed file.
const maxDoc = 4 << 20

func join(base, p string) string { return strings.TrimSuffix(base, "/") + "/" + p }

// Equinix reads Equinix Metal / Tinkerbell Hegel / hollow-metadataservice:
// GET <base>/metadata (required) and <base>/userdata (404 = none).
type Equinix struct{ BaseURL string }

func (p Equinix) Name() string { return "equinix " + p.BaseURL }

func (p Equinix) Fetch(f *Fetcher) (*model.Metadata, error) {
	doc, err := f.Get(join(p.BaseURL, "metadata"), nil)
	if err != nil {
		return nil, err
	}
	ud, err := optional(f.Get(join(p.BaseURL, "userdata"), nil))
	if err != nil {
		return nil, err
	}
	return metadata.ParseEquinix(doc, ud)
}

// EC2 reads the 2009-04-04 tree of EC2 IMDS, Hegel, Tootles or hollow.
// InstanceID selects Tootles' /tootles/instanceID/<id>/ path and is then
// also checked against what the service answers.
type EC2 struct {
	BaseURL    string
	InstanceID string
	// Token asks for an IMDSv2 session token first; a service without
	// the endpoint (Hegel) answers 404/405 and the agent goes on without.
	Token bool
}

func (p EC2) Name() string { return "ec2 " + p.BaseURL }

func (p EC2) Fetch(f *Fetcher) (*model.Metadata, error) {
	hdr := http.Header{}
	if p.Token {
		tok, err := f.Do("PUT", join(p.BaseURL, "latest/api/token"), http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {"300"}})
		switch {
		case err == nil:
			hdr.Set("X-Aws-Ec2-Metadata-Token", strings.TrimSpace(string(tok)))
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrRejected):
			f.log().Info("no IMDSv2 token endpoint, continuing without", "url", p.BaseURL)
		default:
			return nil, err
		}
	}
	base := p.BaseURL
	if p.InstanceID != "" {
		base = join(base, "tootles/instanceID/"+p.InstanceID)
	}
	base = join(base, "2009-04-04")
	get := func(item string) (string, error) {
		b, err := f.Get(join(base, "meta-data/"+item), hdr)
		return strings.TrimSpace(string(b)), err
	}
	id, err := get("instance-id")
	if err != nil {
		return nil, err
	}
	t := metadata.EC2{Items: map[string]string{"instance-id": id}}
	for _, item := range []string{"hostname", "local-hostname"} {
		b, err := optional(f.Get(join(base, "meta-data/"+item), hdr))
		if err != nil {
			return nil, err
		}
		t.Items[item] = strings.TrimSpace(string(b))
	}
	listing, err := optional(f.Get(join(base, "meta-data/public-keys/"), hdr))
	if err != nil {
		return nil, err
	}
	entries, err := metadata.ParseEC2Listing(listing)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		k, err := optional(f.Get(join(base, "meta-data/public-keys/"+e+"openssh-key"), hdr))
		if err != nil {
			return nil, err
		}
		if len(k) > 0 {
			t.Keys = append(t.Keys, string(k))
		}
	}
	ud, err := optional(f.Get(join(base, "user-data"), hdr))
	if err != nil {
		return nil, err
	}
	// The tree is read item by item: if the service switched instances
	// in between (a NAT'd Hegel, a re-provisioned record), the pieces
	// belong to different hosts.
	again, err := get("instance-id")
	if err != nil {
		return nil, err
	}
	if again != id {
		return nil, fmt.Errorf("ec2: %w: instance-id changed from %q to %q during the fetch", ErrWrongInstance, id, again)
	}
	if p.InstanceID != "" && id != p.InstanceID {
		return nil, fmt.Errorf("ec2: %w: asked for %q, service answered %q", ErrWrongInstance, p.InstanceID, id)
	}
	return metadata.ParseEC2(t, ud)
}

// OpenStack reads openstack/latest/{meta_data.json,network_data.json,
// user_data} from an HTTP base (Nova/Ironic metadata) or a directory
// (a mounted config drive, where ESXi's iso9660 shows 8.3 upper-case
// names such as OPENSTAC/LATEST/META_DAT.JSO).
type OpenStack struct{ BaseURL, Dir string }

func (p OpenStack) Name() string {
	if p.Dir != "" {
		return "openstack config drive " + p.Dir
	}
	return "openstack " + p.BaseURL
}

func (p OpenStack) Fetch(f *Fetcher) (*model.Metadata, error) {
	var get func(name, short string) ([]byte, error)
	if p.Dir != "" {
		get = func(name, short string) ([]byte, error) {
			for _, c := range []string{filepath.Join(p.Dir, "openstack", "latest", name), filepath.Join(p.Dir, "OPENSTAC", "LATEST", short)} {
				b, err := nopoll.ReadFile(c, maxDoc)
				if err == nil {
					return b, nil
				}
				if !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
			}
			return nil, fmt.Errorf("%s: %w", filepath.Join(p.Dir, "openstack/latest", name), ErrNotFound)
		}
	} else {
		get = func(name, _ string) ([]byte, error) { return f.Get(join(p.BaseURL, "openstack/latest/"+name), nil) }
	}
	meta, err := get("meta_data.json", "META_DAT.JSO")
	if err != nil {
		if p.Dir != "" && errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrAbsent, err)
		}
		return nil, err
	}
	nd, err := optional(get("network_data.json", "NETWORK_.JSO"))
	if err != nil {
		return nil, err
	}
	ud, err := optional(get("user_data", "USER_DAT"))
	if err != nil {
		return nil, err
	}
	return metadata.ParseOpenStack(meta, nd, ud)
}

// NoCloud reads meta-data (required), network-config and user-data from
// a seed URL (ds=nocloud;s=URL) or a seed directory.
type NoCloud struct{ SeedURL, Dir string }

func (p NoCloud) Name() string {
	if p.Dir != "" {
		return "nocloud " + p.Dir
	}
	return "nocloud " + p.SeedURL
}

func (p NoCloud) Fetch(f *Fetcher) (*model.Metadata, error) {
	get := func(name string) ([]byte, error) {
		if p.Dir == "" {
			return f.Get(join(p.SeedURL, name), nil)
		}
		for _, n := range seedNames(name) {
			b, err := nopoll.ReadFile(filepath.Join(p.Dir, n), maxDoc)
			if err == nil || !errors.Is(err, os.ErrNotExist) {
				return b, err
			}
		}
		return nil, fmt.Errorf("%s: %w", filepath.Join(p.Dir, name), ErrNotFound)
	}
	meta, err := get("meta-data")
	if err != nil {
		if p.Dir != "" && errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrAbsent, err)
		}
		return nil, err
	}
	nc, err := optional(get("network-config"))
	if err != nil {
		return nil, err
	}
	ud, err := optional(get("user-data"))
	if err != nil {
		return nil, err
	}
	return metadata.ParseNoCloud(meta, nc, ud)
}

// seedAliases are 8.3 names for a seed on a bootbank or altbootbank, whose
// FAT file names must be 8.3 (NoCloud's own names are longer).
var seedAliases = map[string]string{"meta-data": "metadata", "user-data": "userdata", "network-config": "network"}

// seedNames lists the names a seed file may have: NoCloud's, then the 8.3
// alias in lower and upper case (FAT short names are stored upper-case).
func seedNames(name string) []string {
	out := []string{name}
	if a, ok := seedAliases[name]; ok {
		out = append(out, a, strings.ToUpper(a))
	}
	return out
}

// Guestinfo reads guestinfo.metadata/.userdata (+ .encoding) through
// vmware-rpctool on a nested ESXi VM.
type Guestinfo struct{ Runner esxi.Runner }

func (p Guestinfo) Name() string { return "vmware guestinfo" }

func (p Guestinfo) Fetch(f *Fetcher) (*model.Metadata, error) {
	get := func(key string) ([]byte, bool, error) {
		out, err := p.Runner.Run("vmware-rpctool", "info-get guestinfo."+key)
		var ee *esxi.ExitError
		if errors.As(err, &ee) {
			return nil, false, nil // rpctool exits 1 for an unset key
		}
		if err != nil {
			return nil, false, err
		}
		return bytes.TrimRight(out, "\n"), true, nil
	}
	meta, ok, err := get("metadata")
	if err != nil {
		return nil, fmt.Errorf("%w: guestinfo: %w", ErrAbsent, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: guestinfo.metadata is not set", ErrAbsent)
	}
	menc, _, _ := get("metadata.encoding")
	ud, _, _ := get("userdata")
	uenc, _, _ := get("userdata.encoding")
	return metadata.ParseGuestinfo(meta, string(menc), ud, string(uenc))
}

// File reads one local document, recognising its format: an Equinix
// /metadata JSON, an OpenStack meta_data.json, or NoCloud meta-data.
type File struct{ Path string }

func (p File) Name() string { return "file " + p.Path }

func (p File) Fetch(*Fetcher) (*model.Metadata, error) {
	b, err := nopoll.ReadFile(p.Path, maxDoc)
	if err != nil {
		return nil, err
	}
	return ParseDocument(b)
}

// ParseDocument recognises and parses a single metadata document.
func ParseDocument(b []byte) (*model.Metadata, error) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) == nil {
		_, hasID := probe["id"]
		_, hasUUID := probe["uuid"]
		switch {
		case hasID:
			return metadata.ParseEquinix(b, nil)
		case hasUUID:
			return metadata.ParseOpenStack(b, nil, nil)
		}
	}
	return metadata.ParseNoCloud(b, nil, nil)
}
