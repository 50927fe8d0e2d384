// Package agent is one first-boot run: find metadata, read the host,
// decide (new instance, resumed, or already configured), apply the plan,
// report. It is what `esxi-firstboot run` calls.
package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/metadata"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/model"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/plan"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/provider"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/runonce"
)

// Exit codes of `esxi-firstboot run`; the %firstboot launcher acts on them.
const (
	ExitOK             = 0  // configured, or already configured for this instance
	ExitNoMetadata     = 10 // no metadata before the deadline; host unchanged (retry next boot)
	ExitBadMetadata    = 11 // metadata invalid, malformed or for another host; host unchanged
	ExitHost           = 12 // host state unreadable or a non-network step failed (retry next boot)
	ExitRolledBack     = 13 // network change failed and was rolled back; host on its old network
	ExitRollbackFailed = 14 // network rollback failed; network state unknown
	ExitUserdata       = 15 // host configured, userdata failed
)

// Config is one run.
type Config struct {
	Selection provider.Selection
	Host      *plan.Host
	StateDir  string
	Deadline  time.Time
	Reporter  *report.Reporter
	Log       *slog.Logger
}

// Run does it and returns the exit code and what went to result.json.
func Run(c Config) (int, *report.Result) {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &report.Result{Started: time.Now().UTC()}
	finish := func(code int, status string, err error) (int, *report.Result) {
		res.ExitCode, res.Status, res.Finished = code, status, time.Now().UTC()
		if err != nil {
			res.Error = err.Error()
			log.Error("run failed", "status", status, "exit", code, "err", res.Error)
		} else {
			log.Info("run finished", "status", status)
		}
		if werr := report.Write(filepath.Join(c.StateDir, "result.json"), res); werr != nil {
			log.Error("write result.json", "err", werr.Error())
		}
		return code, res
	}
	store := runonce.Store{Dir: c.StateDir}
	unlock, err := store.Lock()
	if err != nil {
		// Not finish(): result.json belongs to the run holding the lock.
		log.Error("run refused", "err", err.Error())
		return ExitHost, &report.Result{Status: "failed", ExitCode: ExitHost, Error: err.Error(), Started: res.Started, Finished: time.Now().UTC()}
	}
	defer unlock()

	m, src, err := c.Selection.Discover(c.Deadline)
	res.Source = src
	if err != nil {
		if errors.Is(err, metadata.ErrMalformed) || errors.Is(err, model.ErrInvalid) || errors.Is(err, provider.ErrWrongInstance) ||
			errors.Is(err, provider.ErrNotFound) || errors.Is(err, provider.ErrRejected) {
			return finish(ExitBadMetadata, "failed", err)
		}
		return finish(ExitNoMetadata, "no-metadata", err)
	}
	res.InstanceID = m.InstanceID
	log.Info("metadata", "instance", m.InstanceID, "source", src, "hostname", m.FQDN())

	cur, err := c.Host.State()
	if err != nil {
		return finish(ExitHost, "failed", fmt.Errorf("read host state: %w", err))
	}
	p, err := plan.Build(m, cur, c.Host)
	if err != nil {
		if errors.Is(err, plan.ErrWrongHost) || errors.Is(err, plan.ErrUnsafe) {
			return finish(ExitBadMetadata, "failed", err)
		}
		return finish(ExitHost, "failed", err)
	}
	res.Warnings = p.Warnings

	rec, err := store.Load()
	if err != nil {
		return finish(ExitHost, "failed", err)
	}
	if rec.Completed() && rec.InstanceID == m.InstanceID {
		// Same instance: verify only. Drift is reported, never "fixed":
		// an operator may have changed the host on purpose.
		for _, s := range p.Steps {
			if s.Phase != plan.PhasePersist && !s.Unverified {
				res.Drift = append(res.Drift, s.ID)
			}
		}
		log.Info("instance already configured; verify only", "instance", m.InstanceID, "drift", res.Drift)
		return finish(ExitOK, "verified", nil)
	}
	if rec != nil && rec.InstanceID != m.InstanceID {
		log.Warn("new instance-id: configuring this host afresh", "previous", rec.InstanceID, "instance", m.InstanceID)
	}

	run, err := store.Begin(m.InstanceID, src)
	if err != nil {
		return finish(ExitHost, "failed", fmt.Errorf("state dir: %w", err))
	}
	rep := c.Reporter
	if rep == nil {
		rep = &report.Reporter{Log: log}
	}
	sent := func(what string, err error) {
		if err != nil {
			res.Reports = append(res.Reports, what+": "+err.Error())
		} else {
			res.Reports = append(res.Reports, what+": sent")
		}
	}
	if m.UserStateURL != "" {
		sent("user-state running", rep.UserState(m.UserStateURL, "running", report.CodeRunning, "esxi-firstboot: configuring "+m.FQDN()))
	}
	for _, line := range splitLines(p.String()) {
		log.Info("plan", "line", line)
	}
	out, err := c.Host.Apply(p, run)
	res.Applied, res.RolledBack = out.Applied, out.RolledBack
	res.Warnings = append(res.Warnings, out.Warnings...)
	if err != nil {
		code := ExitHost
		switch {
		case errors.Is(err, plan.ErrRollbackFailed):
			code = ExitRollbackFailed
		case out.RolledBack:
			code = ExitRolledBack
		case errors.Is(err, plan.ErrUserdata):
			code = ExitUserdata
		}
		run.Finish("failed")
		if m.UserStateURL != "" {
			sent("user-state failed", rep.UserState(m.UserStateURL, "failed", report.CodeFailed, "esxi-firstboot: "+err.Error()))
		}
		return finish(code, "failed", err)
	}
	if err := run.Finish("succeeded"); err != nil {
		return finish(ExitHost, "failed", fmt.Errorf("record success: %w", err))
	}
	if m.UserStateURL != "" {
		sent("user-state succeeded", rep.UserState(m.UserStateURL, "succeeded", report.CodeSucceeded, "esxi-firstboot: configured "+m.FQDN()))
	}
	if m.PhoneHomeURL != "" {
		sent("phone-home", rep.PhoneHome(m.PhoneHomeURL, m.InstanceID))
	}
	return finish(ExitOK, "succeeded", nil)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
