//go:build linux

package main

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// bankPaths maps the paths a %post script sees for the new bootbanks to
// their partition numbers.
var bankPaths = map[string]int{
	"/vmfs/volumes/BOOTBANK1/": 5,
	"/vmfs/volumes/BOOTBANK2/": 6,
}

// runPost acts out the %post sections (busybox ones; python is only
// reported). It understands the two things a golden-image %post does that
// matter to the result: `echo TEXT > /vmfs/volumes/BOOTBANKn/FILE` (the
// completion marker) and `halt`. Everything else is reported and skipped:
// this is a simulator, not a busybox. Writes go through the format
// library's offline bank access on the installed disk. It reports whether
// halt ran.
func runPost(ks *kickstart.File, d *disk.Disk) (bool, error) {
	for _, s := range ks.Sections(kickstart.SectionPost) {
		if s.Interpreter == "python" {
			say("simulator: %%post --interpreter=python at line %d not simulated", s.LineNo())
			continue
		}
		say("Running %%post script (line %d)", s.LineNo())
		f, err := syntax.NewParser().Parse(strings.NewReader(s.Body), "%post")
		if err != nil {
			if s.IgnoreFailure != nil && *s.IgnoreFailure {
				say("simulator: %%post: %v (ignored)", err)
				continue
			}
			return false, fmt.Errorf("%%post at line %d: %w", s.LineNo(), err)
		}
		for _, st := range f.Stmts {
			halt, err := runStmt(st, d)
			if err != nil {
				return false, fmt.Errorf("%%post at line %d: %w", s.LineNo(), err)
			}
			if halt {
				return true, nil
			}
		}
	}
	return false, nil
}

func runStmt(st *syntax.Stmt, d *disk.Disk) (halt bool, err error) {
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		say("simulator: %%post: skipping %s", printNode(st))
		return false, nil
	}
	var words []string
	for _, w := range call.Args {
		s, err := expand.Literal(nil, w)
		if err != nil {
			return false, err
		}
		words = append(words, s)
	}
	switch words[0] {
	case "halt", "poweroff":
		return true, nil
	case "echo":
		for _, r := range st.Redirs {
			if r.Op != syntax.RdrOut && r.Op != syntax.AppOut {
				continue
			}
			target, err := expand.Literal(nil, r.Word)
			if err != nil {
				return false, err
			}
			for prefix, part := range bankPaths {
				if name, ok := strings.CutPrefix(target, prefix); ok {
					data := []byte(strings.Join(words[1:], " ") + "\n")
					bank, err := d.Volume(part)
					if err != nil {
						return false, err
					}
					if err := bank.WriteFile(name, data); err != nil {
						return false, err
					}
					say("simulator: %%post wrote %s", target)
					return false, nil
				}
			}
			say("simulator: %%post: %s is not on the new disk; skipped", target)
			return false, nil
		}
	}
	say("simulator: %%post: skipping %s", printNode(st))
	return false, nil
}

func printNode(n syntax.Node) string {
	var b strings.Builder
	_ = syntax.NewPrinter().Print(&b, n)
	return strings.TrimSpace(b.String())
}
