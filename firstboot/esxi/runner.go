// Package esxi talks to the ESXi host the agent runs on: a Runner executes
// esxcli/localcli/vim-cmd and friends, and ReadState turns their output
// into a typed snapshot the planner diffs against.
package esxi

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Runner executes one host command. argv[0] is a tool name from Tools
// ("esxcli", "vim-cmd", "vmkping", "auto-backup.sh", "vmware-rpctool",
// "bootOption"); implementations map it to a path. A non-zero exit is
// returned as *ExitError with the tool's message.
type Runner interface {
	Run(argv ...string) ([]byte, error)
}

// ExitError is a command that ran and failed.
type ExitError struct {
	Argv   []string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 400 {
		msg = msg[:400] + "…"
	}
	return fmt.Sprintf("%s: exit %d: %s", strings.Join(e.Argv, " "), e.Code, msg)
}

// Tools maps tool names to paths on the host.
type Tools map[string]string

// DefaultTools are the ESXi 7/8 locations.
func DefaultTools() Tools {
	return Tools{
		"esxcli":         "/bin/esxcli",
		"localcli":       "/bin/localcli",
		"vim-cmd":        "/bin/vim-cmd",
		"vmkping":        "/bin/vmkping",
		"auto-backup.sh": "/sbin/auto-backup.sh",
		"vmware-rpctool": "/bin/vmware-rpctool",
		"bootOption":     "/sbin/bootOption",
		"sh":             "/bin/sh",
	}
}

// ToolsIn maps every tool to dir/<name>: for tests and odd layouts.
func ToolsIn(dir string) Tools {
	t := Tools{}
	for k := range DefaultTools() {
		t[k] = filepath.Join(dir, k)
	}
	return t
}

// ExecRunner runs commands as child processes through nopoll, never via
// pipes (which would start Go's poller).
type ExecRunner struct {
	Tools   Tools
	TmpDir  string
	Timeout time.Duration // per command; zero means 2 minutes
	Env     []string
}

func (r *ExecRunner) Run(argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("run: empty command")
	}
	path, ok := r.Tools[argv[0]]
	if !ok {
		path = argv[0]
		if !filepath.IsAbs(path) {
			return nil, fmt.Errorf("run %s: unknown tool", argv[0])
		}
	}
	to := r.Timeout
	if to == 0 {
		to = 2 * time.Minute
	}
	full := append([]string{path}, argv[1:]...)
	res, err := nopoll.Run(full, r.Env, r.TmpDir, time.Now().Add(to))
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		msg := string(res.Stderr)
		if strings.TrimSpace(msg) == "" {
			msg = string(res.Stdout) // esxcli reports errors on stdout
		}
		return res.Stdout, &ExitError{Argv: argv, Code: res.ExitCode, Stderr: msg}
	}
	return res.Stdout, nil
}
