package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/metadata"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Well-known network endpoints probed last.
var (
	EquinixURL = "http://metadata.platformequinix.com"
	EC2URL     = "http://169.254.169.254"
)

// DefaultSeedDirs are where an image or a deploy tool may leave a seed:
// MAAS-style on the altbootbank (partition 6), or the bootbank. Bootbank
// names must be 8.3, hence "esxifb" (and its upper-case short name).
var DefaultSeedDirs = []string{"/altbootbank/esxifb", "/altbootbank/ESXIFB", "/bootbank/esxifb", "/bootbank/ESXIFB"}

// ParseSpec turns a kind and a location into a provider: kind is one of
// equinix, ec2, openstack, nocloud, file, guestinfo, or "" to infer it
// (an http(s) URL ending in /metadata is Equinix; a directory holding
// meta-data is NoCloud, one holding openstack/ a config drive; any other
// file is a single document).
func ParseSpec(kind, loc, instanceID string, r esxi.Runner) (Provider, error) {
	isURL := strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
	switch kind {
	case "equinix":
		return Equinix{BaseURL: strings.TrimSuffix(strings.TrimSuffix(loc, "/"), "/metadata")}, nil
	case "ec2":
		return EC2{BaseURL: loc, InstanceID: instanceID, Token: true}, nil
	case "openstack":
		if isURL {
			return OpenStack{BaseURL: loc}, nil
		}
		return OpenStack{Dir: loc}, nil
	case "nocloud":
		if isURL {
			return NoCloud{SeedURL: loc}, nil
		}
		return NoCloud{Dir: loc}, nil
	case "file":
		return File{Path: loc}, nil
	case "guestinfo":
		return Guestinfo{Runner: r}, nil
	case "":
	default:
		return nil, fmt.Errorf("provider %q: want equinix, ec2, openstack, nocloud, file or guestinfo", kind)
	}
	if isURL {
		if strings.HasSuffix(strings.TrimSuffix(loc, "/"), "/metadata") {
			return Equinix{BaseURL: strings.TrimSuffix(strings.TrimSuffix(loc, "/"), "/metadata")}, nil
		}
		return nil, fmt.Errorf("metadata URL %q: cannot infer the service; give --provider", loc)
	}
	if st, err := os.Stat(loc); err == nil && st.IsDir() {
		return seedDir(loc)
	}
	return File{Path: loc}, nil
}

func seedDir(dir string) (Provider, error) {
	for _, n := range seedNames("meta-data") {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return NoCloud{Dir: dir}, nil
		}
	}
	for _, n := range []string{"openstack", "OPENSTAC"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return OpenStack{Dir: dir}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s holds neither meta-data (metadata) nor openstack/", ErrAbsent, dir)
}

// FromBootOptions finds a provider in the kernel options ESXi reports
// (`bootOption -o`): esxi-firstboot.metadata=<kind>:<url> or cloud-init's
// ds=nocloud;s=<url> (also seedfrom=).
func FromBootOptions(opts string) (Provider, bool) {
	for _, f := range strings.Fields(opts) {
		if v, ok := strings.CutPrefix(f, "esxi-firstboot.metadata="); ok {
			kind, loc, ok := strings.Cut(v, ":")
			if ok && !strings.HasPrefix(loc, "//") {
				if p, err := ParseSpec(kind, loc, "", nil); err == nil {
					return p, true
				}
			}
			if p, err := ParseSpec("", v, "", nil); err == nil {
				return p, true
			}
		}
		if v, ok := strings.CutPrefix(f, "ds=nocloud"); ok {
			for _, kv := range strings.Split(v, ";") {
				k, val, _ := strings.Cut(kv, "=")
				if (k == "s" || k == "seedfrom") && (strings.HasPrefix(val, "http://") || strings.HasPrefix(val, "https://")) {
					return NoCloud{SeedURL: val}, true
				}
			}
		}
	}
	return nil, false
}

// Selection is what Discover considers, in order: an explicit provider,
// one named in the boot options, a local seed, guestinfo, then the
// network probe.
type Selection struct {
	Explicit    Provider
	Runner      esxi.Runner // for bootOption and vmware-rpctool; nil skips both
	SeedDirs    []string
	NoProbe     bool
	ProbeURLs   []Provider // default: Equinix then EC2 well-known URLs
	Client      *httpc.Client
	Log         *slog.Logger
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	ProbeBudget time.Duration // per probe candidate per round; default 20 s
	// ExpectInstance, when set, is the only instance-id accepted from any
	// provider (a NAT'd Hegel answering for the wrong machine, a stale
	// seed): anything else fails with ErrWrongInstance before any change.
	ExpectInstance string
}

// Discover finds metadata before deadline. With an explicit provider it
// retries only that one; otherwise it tries each candidate in order, and
// goes round again (backing off) while the network candidates answer
// nothing, until the deadline. The first document that parses and
// validates wins.
func (s *Selection) Discover(deadline time.Time) (*model.Metadata, string, error) {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fetch := func(p Provider, until time.Time) (*model.Metadata, error) {
		if until.After(deadline) {
			until = deadline
		}
		f := &Fetcher{Client: s.Client, Deadline: until, Log: log, MinBackoff: s.MinBackoff, MaxBackoff: s.MaxBackoff}
		m, err := p.Fetch(f)
		if err != nil {
			return nil, err
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
		if s.ExpectInstance != "" && m.InstanceID != s.ExpectInstance {
			return nil, fmt.Errorf("%s: %w: expected %q, document is for %q", p.Name(), ErrWrongInstance, s.ExpectInstance, m.InstanceID)
		}
		return m, nil
	}
	if s.Explicit != nil {
		log.Info("metadata provider", "provider", s.Explicit.Name(), "from", "configuration")
		m, err := fetch(s.Explicit, deadline)
		if err != nil {
			return nil, s.Explicit.Name(), fmt.Errorf("%s: %w", s.Explicit.Name(), err)
		}
		return m, s.Explicit.Name(), nil
	}
	var local []Provider
	if s.Runner != nil {
		if out, err := s.Runner.Run("bootOption", "-o"); err == nil {
			if p, ok := FromBootOptions(string(out)); ok {
				log.Info("metadata provider", "provider", p.Name(), "from", "boot options")
				m, err := fetch(p, deadline)
				if err != nil {
					return nil, p.Name(), fmt.Errorf("%s (from boot options): %w", p.Name(), err)
				}
				return m, p.Name(), nil
			}
		}
	}
	dirs := s.SeedDirs
	if dirs == nil {
		dirs = DefaultSeedDirs
	}
	for _, d := range dirs {
		if p, err := seedDir(d); err == nil {
			local = append(local, p)
		}
	}
	if s.Runner != nil {
		local = append(local, Guestinfo{Runner: s.Runner})
	}
	for _, p := range local {
		m, err := fetch(p, deadline)
		if errors.Is(err, ErrAbsent) {
			continue
		}
		if err != nil {
			return nil, p.Name(), fmt.Errorf("%s: %w", p.Name(), err)
		}
		log.Info("metadata provider", "provider", p.Name(), "from", "local seed")
		return m, p.Name(), nil
	}
	if s.NoProbe {
		return nil, "", fmt.Errorf("%w: no seed, no guestinfo, and the network probe is off", ErrAbsent)
	}
	probes := s.ProbeURLs
	if probes == nil {
		probes = []Provider{Equinix{BaseURL: EquinixURL}, EC2{BaseURL: EC2URL, Token: true}}
	}
	budget := s.ProbeBudget
	if budget <= 0 {
		budget = 20 * time.Second
	}
	var errs []error
	for round := 1; ; round++ {
		errs = errs[:0]
		for _, p := range probes {
			m, err := fetch(p, time.Now().Add(budget))
			if err == nil {
				log.Info("metadata provider", "provider", p.Name(), "from", "network probe", "round", round)
				return m, p.Name(), nil
			}
			// A service that answered with a bad document is the
			// answer: fail rather than fall through to another one.
			if errors.Is(err, metadata.ErrMalformed) || errors.Is(err, model.ErrInvalid) || errors.Is(err, ErrWrongInstance) {
				return nil, p.Name(), fmt.Errorf("%s: %w", p.Name(), err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		}
		if time.Until(deadline) < 2*time.Second {
			return nil, "", fmt.Errorf("%w: no metadata service answered: %w", ErrDeadline, errors.Join(errs...))
		}
		log.Warn("no metadata service answered, probing again", "round", round)
		nopoll.Sleep(time.Second)
	}
}
