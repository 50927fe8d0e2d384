// Package bootcfg parses and renders ESXi's boot.cfg, the file mboot and
// safeboot read from the installer ISO and from each bootbank.
//
// The grammar follows the bootloader (esx-boot bootlib/parse.c and
// mboot/config.c): one KEY=VALUE per line, spaces around '=' and at both
// ends ignored, '#' starts a comment line, keys are case-insensitive and a
// later duplicate wins. Config keeps every line it read, so rendering an
// unmodified file gives back the same bytes and edits touch only the lines
// they change; unknown keys survive in place.
package bootcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxSize bounds what Parse accepts. Real files are a few KiB; mboot reads
// the whole file into memory, so a huge one is a sign of a wrong file.
const MaxSize = 1 << 20

// BootStateLimit is how far into the file safeboot looks for bootstate,
// which it rewrites in place on every boot (esx-boot safeboot/config.c).
const BootStateLimit = 512

// ErrTooLarge is returned for input over MaxSize.
var ErrTooLarge = errors.New("boot.cfg larger than 1 MiB")

// ErrNoKernel is returned by Validate when the required kernel key is missing.
var ErrNoKernel = errors.New("boot.cfg has no kernel= line")

// Well-known keys (mboot and safeboot).
const (
	KeyKernel    = "kernel"
	KeyKernelOpt = "kernelopt"
	KeyModules   = "modules"
	KeyTitle     = "title"
	KeyPrefix    = "prefix"
	KeyBuild     = "build"
	KeyUpdated   = "updated"
	KeyBootState = "bootstate"
	KeyTimeout   = "timeout"
)

type line struct {
	raw   string // the text as read, without the line ending; "" for a rendered line
	key   string // key as spelled in the file; "" for comments and blank or junk lines
	value string // value with surrounding space trimmed and space runs merged
	dirty bool   // rendered from key/value instead of raw
}

// Config is a parsed boot.cfg. The zero value is an empty file.
type Config struct {
	lines []line
	crlf  bool // the file used CRLF line endings; Bytes keeps them
	// noFinalNewline records a file whose last line had no newline.
	noFinalNewline bool
}

// Parse reads a boot.cfg. It fails only on I/O errors, oversized input and
// NUL bytes (a binary file is not a boot.cfg); like mboot it ignores lines
// that are not KEY=VALUE.
func Parse(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read boot.cfg: %w", err)
	}
	return ParseBytes(b)
}

// ParseBytes is Parse over a byte slice.
func ParseBytes(b []byte) (*Config, error) {
	if len(b) > MaxSize {
		return nil, ErrTooLarge
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, fmt.Errorf("boot.cfg: NUL byte at offset %d, want a text file", i)
	}
	c := &Config{}
	if len(b) == 0 {
		return c, nil
	}
	s := string(b)
	c.crlf = strings.Contains(s, "\r\n")
	if !strings.HasSuffix(s, "\n") {
		c.noFinalNewline = true
	} else {
		s = s[:len(s)-1]
	}
	for _, raw := range strings.Split(s, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		l := line{raw: raw}
		l.key, l.value = splitLine(raw)
		c.lines = append(c.lines, l)
	}
	return c, nil
}

func splitLine(raw string) (key, value string) {
	t := strings.TrimSpace(raw)
	if t == "" || strings.HasPrefix(t, "#") {
		return "", ""
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return "", ""
	}
	k = strings.TrimSpace(k)
	if k == "" || strings.ContainsAny(k, " \t") {
		return "", ""
	}
	return k, strings.Join(strings.Fields(v), " ")
}

func (c *Config) find(key string) int {
	for i := len(c.lines) - 1; i >= 0; i-- {
		if c.lines[i].key != "" && strings.EqualFold(c.lines[i].key, key) {
			return i
		}
	}
	return -1
}

// Get returns the value of key (case-insensitive; the last occurrence wins).
func (c *Config) Get(key string) (string, bool) {
	if i := c.find(key); i >= 0 {
		return c.lines[i].value, true
	}
	return "", false
}

// Value is Get without the presence flag.
func (c *Config) Value(key string) string {
	v, _ := c.Get(key)
	return v
}

// Set replaces the value of the effective occurrence of key, or appends a
// new line. Earlier duplicates are removed so the file says one thing.
func (c *Config) Set(key, value string) {
	value = strings.Join(strings.Fields(value), " ")
	i := c.find(key)
	if i < 0 {
		c.lines = append(c.lines, line{key: key, value: value, dirty: true})
		return
	}
	c.lines[i].value = value
	c.lines[i].dirty = true
	c.removeBefore(key, i)
}

func (c *Config) removeBefore(key string, last int) {
	out := c.lines[:0]
	for j, l := range c.lines {
		if j < last && l.key != "" && strings.EqualFold(l.key, key) {
			continue
		}
		out = append(out, l)
	}
	c.lines = out
}

// Delete removes every occurrence of key.
func (c *Config) Delete(key string) {
	out := c.lines[:0]
	for _, l := range c.lines {
		if l.key != "" && strings.EqualFold(l.key, key) {
			continue
		}
		out = append(out, l)
	}
	c.lines = out
}

// Keys lists the effective keys in file order (spelled as in the file,
// one entry per key, at the position of its winning occurrence).
func (c *Config) Keys() []string {
	var keys []string
	for i, l := range c.lines {
		if l.key != "" && c.find(l.key) == i {
			keys = append(keys, l.key)
		}
	}
	return keys
}

// Bytes renders the file. Untouched lines come back byte for byte; a
// bootstate line that would end beyond BootStateLimit is moved to the top
// because safeboot only finds it in the first 512 bytes.
func (c *Config) Bytes() []byte {
	lines := c.lines
	if i := c.find(KeyBootState); i >= 0 && c.endOffset(lines, i) > BootStateLimit {
		moved := make([]line, 0, len(lines))
		moved = append(moved, lines[i])
		moved = append(moved, lines[:i]...)
		moved = append(moved, lines[i+1:]...)
		lines = moved
	}
	return c.render(lines)
}

func (c *Config) eol() string {
	if c.crlf {
		return "\r\n"
	}
	return "\n"
}

func (l line) text() string {
	if l.dirty || (l.raw == "" && l.key != "") {
		return l.key + "=" + l.value
	}
	return l.raw
}

func (c *Config) endOffset(lines []line, idx int) int {
	n := 0
	for i := 0; i <= idx; i++ {
		n += len(lines[i].text()) + len(c.eol())
	}
	return n
}

func (c *Config) render(lines []line) []byte {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l.text())
		if i < len(lines)-1 || !c.noFinalNewline {
			b.WriteString(c.eol())
		}
	}
	return []byte(b.String())
}

// String renders the file as text.
func (c *Config) String() string { return string(c.Bytes()) }

// Kernel is the kernel path as written (kernel=).
func (c *Config) Kernel() string { return c.Value(KeyKernel) }

// Title is the title= text.
func (c *Config) Title() string { return c.Value(KeyTitle) }

// Build is the build= string, e.g. "8.0.3-0.0.24022510".
func (c *Config) Build() string { return c.Value(KeyBuild) }

// Prefix returns prefix= and whether the key is present. mboot treats a
// missing prefix as boot.cfg's own directory and an empty one as "paths as
// written"; ResolvePath applies both rules.
func (c *Config) Prefix() (string, bool) { return c.Get(KeyPrefix) }

// Updated is the updated= generation counter; empty or missing is 0, as in
// safeboot. A value that is not a number is an error.
func (c *Config) Updated() (uint64, error) {
	v := c.Value(KeyUpdated)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("boot.cfg updated=%q: want a decimal number", v)
	}
	return n, nil
}

// SetUpdated writes updated=n.
func (c *Config) SetUpdated(n uint64) { c.Set(KeyUpdated, strconv.FormatUint(n, 10)) }

// Validate checks what mboot requires: a kernel line.
func (c *Config) Validate() error {
	if c.Kernel() == "" {
		return ErrNoKernel
	}
	if _, err := c.Updated(); err != nil {
		return err
	}
	return nil
}

// ResolvePath turns a module or kernel path into a path relative to the
// volume root, given the directory boot.cfg was read from ("/" for the root,
// "/EFI/BOOT" for the EFI copy on the ISO). mboot: no prefix key ⇒ relative
// paths are relative to boot.cfg's directory; a non-empty prefix is
// prepended to paths not starting with '/' or a URL scheme; an empty prefix
// means paths as written, relative to the root.
func (c *Config) ResolvePath(cfgDir, p string) string {
	if strings.HasPrefix(p, "/") || strings.Contains(p, "://") {
		return p
	}
	prefix, ok := c.Prefix()
	switch {
	case !ok:
		prefix = cfgDir
	case prefix == "":
		prefix = "/"
	}
	if strings.Contains(prefix, "://") {
		return strings.TrimSuffix(prefix, "/") + "/" + p
	}
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return strings.TrimSuffix(prefix, "/") + "/" + p
}
