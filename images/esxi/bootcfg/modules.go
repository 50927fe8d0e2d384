package bootcfg

import "strings"

// Module is one entry of modules=: a path and its own arguments.
type Module struct {
	Path string
	Args []string
}

func (m Module) String() string {
	return strings.Join(append([]string{m.Path}, m.Args...), " ")
}

// Modules splits modules= on "---" (mboot's separator); empty items are
// dropped as mboot does.
func (c *Config) Modules() []Module {
	return ParseModules(c.Value(KeyModules))
}

// ParseModules splits a modules= value.
func ParseModules(v string) []Module {
	var mods []Module
	for _, item := range strings.Split(v, "---") {
		f := strings.Fields(item)
		if len(f) == 0 {
			continue
		}
		mods = append(mods, Module{Path: f[0], Args: f[1:]})
	}
	return mods
}

// SetModules writes modules= from mods.
func (c *Config) SetModules(mods []Module) {
	parts := make([]string, len(mods))
	for i, m := range mods {
		parts[i] = m.String()
	}
	c.Set(KeyModules, strings.Join(parts, " --- "))
}

// AppendModule adds a module at the end unless one with the same path
// (case-insensitive, as on FAT and the ISO) is already listed.
func (c *Config) AppendModule(m Module) {
	mods := c.Modules()
	for _, x := range mods {
		if strings.EqualFold(x.Path, m.Path) {
			return
		}
	}
	c.SetModules(append(mods, m))
}

// RemoveModule drops every module with the given path (case-insensitive)
// and reports whether one was there.
func (c *Config) RemoveModule(path string) bool {
	mods := c.Modules()
	out := mods[:0]
	for _, x := range mods {
		if !strings.EqualFold(x.Path, path) {
			out = append(out, x)
		}
	}
	if len(out) == len(mods) {
		return false
	}
	c.SetModules(out)
	return true
}

// Option is one kernelopt token: key=value, or a bare flag (HasValue false).
type Option struct {
	Key      string
	Value    string
	HasValue bool
}

func (o Option) String() string {
	if o.HasValue {
		return o.Key + "=" + o.Value
	}
	return o.Key
}

// Options is kernelopt as an ordered list. ESXi splits kernelopt on
// whitespace; it has no quoting, so neither does this.
type Options []Option

// ParseOptions splits a kernelopt value.
func ParseOptions(v string) Options {
	var opts Options
	for _, f := range strings.Fields(v) {
		k, val, ok := strings.Cut(f, "=")
		opts = append(opts, Option{Key: k, Value: val, HasValue: ok})
	}
	return opts
}

func (o Options) String() string {
	s := make([]string, len(o))
	for i, x := range o {
		s[i] = x.String()
	}
	return strings.Join(s, " ")
}

// Get returns the last option named key (the VMkernel takes the last).
func (o Options) Get(key string) (Option, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].Key == key {
			return o[i], true
		}
	}
	return Option{}, false
}

// Set replaces the first option named key and drops later duplicates, or
// appends it.
func (o Options) Set(opt Option) Options {
	out := make(Options, 0, len(o)+1)
	done := false
	for _, x := range o {
		if x.Key == opt.Key {
			if !done {
				out = append(out, opt)
				done = true
			}
			continue
		}
		out = append(out, x)
	}
	if !done {
		out = append(out, opt)
	}
	return out
}

// Remove drops every option named key.
func (o Options) Remove(key string) Options {
	out := make(Options, 0, len(o))
	for _, x := range o {
		if x.Key != key {
			out = append(out, x)
		}
	}
	return out
}

// Merge sets every option of add (keeping order of first appearance):
// "ks=cdrom:/KS.CFG" replaces an existing ks=, a flag is added once.
func (o Options) Merge(add Options) Options {
	for _, a := range add {
		o = o.Set(a)
	}
	return o
}

// KernelOpt parses kernelopt=.
func (c *Config) KernelOpt() Options { return ParseOptions(c.Value(KeyKernelOpt)) }

// SetKernelOpt writes kernelopt=.
func (c *Config) SetKernelOpt(o Options) { c.Set(KeyKernelOpt, o.String()) }
