package plan

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Sentinel errors of Apply.
var (
	// ErrGatewayUnreachable: the new network did not reach its gateway
	// and was rolled back; the host is as it was before the network step.
	ErrGatewayUnreachable = errors.New("gateway unreachable after the network change; rolled back")
	// ErrRollbackFailed: the rollback itself failed; the network is in
	// an unknown state.
	ErrRollbackFailed = errors.New("network rollback failed")
	// ErrUserdata: the userdata script ran and failed.
	ErrUserdata = errors.New("userdata failed")
)

// Markers records finished steps (package runonce implements it).
type Markers interface {
	Done(step string) bool
	Mark(step string) error
}

// Host is where a plan is applied.
type Host struct {
	Runner esxi.Runner
	CLI    string // for reads: "esxcli", or "localcli" when hostd is not up
	Root   string // prefix for host files; "/" on ESXi
	TmpDir string // for userdata scripts and command output
	Log    *slog.Logger
	// Exec runs userdata (a real process even when Runner is a fake).
	Exec func(argv []string, deadline time.Time) (*nopoll.Result, error)
	// CheckTries × CheckWait bound the gateway check (default 5 × 2 s):
	// links renegotiate after uplink changes.
	CheckTries int
	CheckWait  time.Duration
	// UserdataTimeout bounds the userdata script (default 10 min).
	UserdataTimeout time.Duration
}

// ReadFile implements Files against Root.
func (h *Host) ReadFile(path string) ([]byte, error) {
	b, err := nopoll.ReadFile(filepath.Join(h.root(), path), 16<<20)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotExist
	}
	return b, err
}

func (h *Host) root() string {
	if h.Root == "" {
		return "/"
	}
	return h.Root
}

func (h *Host) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *Host) cli() string {
	if h.CLI == "" {
		return "esxcli"
	}
	return h.CLI
}

// State reads the host.
func (h *Host) State() (*esxi.State, error) { return esxi.ReadState(h.Runner, h.cli()) }

// Outcome says what Apply did.
type Outcome struct {
	Applied        []string `json:"applied"`
	Skipped        []string `json:"skipped,omitempty"`
	RolledBack     bool     `json:"rolled_back"`
	UserdataRan    bool     `json:"userdata_ran"`
	UserdataExit   int      `json:"userdata_exit"`
	UserdataOutput int      `json:"userdata_output_bytes"`
	Warnings       []string `json:"warnings,omitempty"`
}

func (h *Host) run(a Action) error {
	if a.File != nil {
		p := filepath.Join(h.root(), a.File.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return nopoll.WriteFileAtomic(p, a.File.Data(), os.FileMode(a.File.Mode))
	}
	_, err := h.Runner.Run(a.Argv...)
	return err
}

// Apply executes p in order, marking each step after it succeeds. A
// failing network step or gateway check rolls the network back to the
// snapshot taken before it and returns ErrGatewayUnreachable or the
// command's error; nothing after it runs.
func (h *Host) Apply(p *Plan, mk Markers) (*Outcome, error) {
	out := &Outcome{}
	for _, s := range p.Steps {
		if mk != nil && mk.Done(s.ID) {
			out.Skipped = append(out.Skipped, s.ID)
			continue
		}
		h.log().Info("step", "id", s.ID, "phase", string(s.Phase), "summary", s.Summary)
		var err error
		if s.Phase == PhaseNetwork {
			err = h.applyNetwork(p, out)
		} else {
			for _, a := range s.Actions {
				h.log().Debug("run", "action", a.String())
				if err = h.run(a); err != nil {
					err = fmt.Errorf("step %s: %s: %w", s.ID, a, err)
					break
				}
			}
		}
		if err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, s.ID)
		if mk != nil {
			if err := mk.Mark(s.ID); err != nil {
				return out, err
			}
		}
	}
	if err := h.userdata(p, mk, out); err != nil {
		return out, err
	}
	return out, nil
}

func (h *Host) applyNetwork(p *Plan, out *Outcome) error {
	snap, err := h.State()
	if err != nil {
		return fmt.Errorf("network: read state before the change: %w", err)
	}
	if err := h.converge(p.Want, "network"); err != nil {
		h.log().Error("network change failed, rolling back", "err", err.Error())
		return h.rollback(snap, out, err)
	}
	for _, c := range p.Checks {
		if c.Optional {
			if err := h.check(c); err != nil {
				w := fmt.Sprintf("IPv6 gateway %s does not answer on %s yet: %v", c.Gateway, c.Iface, err)
				h.log().Warn(w)
				out.Warnings = append(out.Warnings, w)
			}
			continue
		}
		if err := h.check(c); err != nil {
			h.log().Error("gateway check failed, rolling back", "gateway", c.Gateway, "err", err.Error())
			return h.rollback(snap, out, fmt.Errorf("%w: %s via %s: %w", ErrGatewayUnreachable, c.Gateway, c.Iface, err))
		}
		h.log().Info("gateway answers", "gateway", c.Gateway, "interface", c.Iface)
	}
	return nil
}

// converge runs Diff's first stage, re-reads, and repeats until the host
// matches want: each command is issued only if the host still needs it.
func (h *Host) converge(want *esxi.State, what string) error {
	for round := 0; round < 16; round++ {
		cur, err := h.State()
		if err != nil {
			return fmt.Errorf("%s: read state: %w", what, err)
		}
		stages := Diff(cur, want)
		if len(stages) == 0 {
			return nil
		}
		for _, a := range stages[0] {
			h.log().Info("run", "action", a.String())
			if err := h.run(a); err != nil {
				return fmt.Errorf("%s: %s: %w", what, a, err)
			}
		}
	}
	return fmt.Errorf("%s: host did not converge after 16 rounds", what)
}

func (h *Host) check(c Check) error {
	tries, wait := h.CheckTries, h.CheckWait
	if tries <= 0 {
		tries = 5
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	var err error
	for i := 0; i < tries; i++ {
		args := []string{"vmkping", "-I", c.Iface, "-c", "3", "-W", "2", c.Gateway}
		if strings.Contains(c.Gateway, ":") {
			args = []string{"vmkping", "-6", "-I", c.Iface, "-c", "3", "-W", "2", c.Gateway}
		}
		if _, err = h.Runner.Run(args...); err == nil {
			return nil
		}
		if i < tries-1 {
			nopoll.Sleep(wait)
		}
	}
	return err
}

func (h *Host) rollback(snap *esxi.State, out *Outcome, cause error) error {
	out.RolledBack = true
	if err := h.converge(snap, "rollback"); err != nil {
		return fmt.Errorf("%w: %w (after: %w)", ErrRollbackFailed, err, cause)
	}
	h.log().Warn("network rolled back to its state before the change")
	return cause
}

func (h *Host) userdata(p *Plan, mk Markers, out *Outcome) error {
	ud := p.UserData.Reveal()
	if ud == "" || strings.HasPrefix(ud, "#cloud-config") {
		return nil
	}
	if mk != nil && mk.Done("userdata") {
		out.Skipped = append(out.Skipped, "userdata")
		return nil
	}
	dir := h.TmpDir
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf(".userdata-%d", os.Getpid()))
	if err := nopoll.WriteFileAtomic(path, []byte(ud), 0o700); err != nil {
		return fmt.Errorf("userdata: %w", err)
	}
	defer os.Remove(path)
	argv := []string{path}
	if !strings.HasPrefix(ud, "#!") {
		argv = []string{"/bin/sh", path}
	}
	to := h.UserdataTimeout
	if to <= 0 {
		to = 10 * time.Minute
	}
	exec := h.Exec
	if exec == nil {
		exec = func(argv []string, d time.Time) (*nopoll.Result, error) { return nopoll.Run(argv, nil, dir, d) }
	}
	h.log().Info("running userdata", "bytes", len(ud))
	res, err := exec(argv, time.Now().Add(to))
	out.UserdataRan = true
	// Marked even when it fails: a half-run script must not run twice
	// (cloud-init semantics), the failure is reported instead.
	if mk != nil {
		if merr := mk.Mark("userdata"); merr != nil {
			return merr
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUserdata, err)
	}
	out.UserdataExit = res.ExitCode
	out.UserdataOutput = len(res.Stdout) + len(res.Stderr)
	// The output is not logged: scripts echo what they are given.
	h.log().Info("userdata finished", "exit", res.ExitCode, "output_bytes", out.UserdataOutput)
	if res.ExitCode != 0 {
		return fmt.Errorf("%w: exit status %d", ErrUserdata, res.ExitCode)
	}
	if _, err := h.Runner.Run("auto-backup.sh"); err != nil {
		return fmt.Errorf("persist after userdata: %w", err)
	}
	return nil
}
