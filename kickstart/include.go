package kickstart

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrInclude is wrapped when an %include cannot be read; the installer
// fails the install in that case.
var ErrInclude = errors.New("kickstart include")

// MaxIncludeDepth bounds nested %include chains (the installer has no
// limit; a cycle would make it loop, so a cycle is an error here).
const MaxIncludeDepth = 16

// IncludePath returns the path the installer opens for "%include p" in
// the file named from: URLs and absolute paths as given, "./x" relative
// to the including file's directory, and any other relative path from
// the root ("x" means "/x", kept from ESX 3.5).
func IncludePath(from, p string) string {
	switch {
	case isURL(p), strings.HasPrefix(p, "/"):
		return p
	case strings.HasPrefix(p, "."):
		if isURL(from) {
			i := strings.LastIndex(from, "/")
			return from[:i+1] + strings.TrimPrefix(p, "./")
		}
		return path.Join(path.Dir(from), p)
	}
	return "/" + p
}

func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "ftp://", "nfs://", "file://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Opener opens the file the installer would read for an include path
// (IncludePath already applied). The simulator maps it onto its disk.
type Opener func(path string) (io.ReadCloser, error)

// ResolveIncludes parses every file f includes, recursively, in the order
// the installer reads them, and returns f followed by them. Each file's
// Name is its resolved path. A missing file, a cycle or a chain deeper
// than MaxIncludeDepth is an error wrapping ErrInclude, naming the line.
// Lint the result with LintResolved.
func ResolveIncludes(f *File, open Opener) ([]*File, error) {
	out := []*File{f}
	var walk func(cur *File, chain []string) error
	walk = func(cur *File, chain []string) error {
		for _, inc := range cur.Includes() {
			p := IncludePath(cur.Name, inc.Path)
			for _, c := range chain {
				if c == p {
					return fmt.Errorf("%s line %d: %%include %s: include cycle through %s: %w", cur.Name, inc.Line, inc.Path, strings.Join(chain, " -> "), ErrInclude)
				}
			}
			if len(chain) >= MaxIncludeDepth {
				return fmt.Errorf("%s line %d: %%include %s: more than %d nested includes: %w", cur.Name, inc.Line, inc.Path, MaxIncludeDepth, ErrInclude)
			}
			rc, err := open(p)
			if err != nil {
				return fmt.Errorf("%s line %d: %%include %s (%s): %w: %w", cur.Name, inc.Line, inc.Path, p, ErrInclude, err)
			}
			child, err := Parse(rc, p)
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s line %d: %%include %s: %w: %w", cur.Name, inc.Line, inc.Path, ErrInclude, err)
			}
			out = append(out, child)
			if err := walk(child, append(chain, p)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(f, []string{f.Name}); err != nil {
		return nil, err
	}
	return out, nil
}
