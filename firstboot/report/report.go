// Package report tells the world how a run went: Equinix-style user-state
// events (running, then succeeded or failed), one phone-home POST after
// success, and a local result.json. Reporting is best effort with a short
// bound: a dead events endpoint must not fail a configured host, but the
// failure is recorded in the result.
package report

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// User-state codes (Equinix reserves 1000-1099 for user states).
const (
	CodeRunning   = 1000
	CodeSucceeded = 1001
	CodeFailed    = 1002
)

// Result is result.json.
type Result struct {
	InstanceID string    `json:"instance_id,omitempty"`
	Source     string    `json:"source,omitempty"`
	Status     string    `json:"status"` // succeeded, verified, failed, no-metadata
	ExitCode   int       `json:"exit_code"`
	Error      string    `json:"error,omitempty"`
	Applied    []string  `json:"applied,omitempty"`
	Drift      []string  `json:"drift,omitempty"`
	RolledBack bool      `json:"rolled_back"`
	Warnings   []string  `json:"warnings,omitempty"`
	Reports    []string  `json:"reports,omitempty"` // what was sent where
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
}

// Write stores r at path atomically.
func Write(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return nopoll.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// Reporter posts events.
type Reporter struct {
	Client *httpc.Client
	Log    *slog.Logger
	// Budget bounds each report including retries (default 20 s).
	Budget time.Duration
}

func (r *Reporter) post(url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	budget := r.Budget
	if budget <= 0 {
		budget = 20 * time.Second
	}
	deadline := time.Now().Add(budget)
	c := r.Client
	if c == nil {
		c = &httpc.Client{Timeout: 5 * time.Second}
	}
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, err := c.Do("POST", url, http.Header{"Content-Type": {"application/json"}}, b, deadline)
		if err == nil && resp.StatusCode < 300 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %d", resp.StatusCode)
			if resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
				return fmt.Errorf("POST %s: %w", url, err)
			}
		}
		if time.Until(deadline) < wait {
			return fmt.Errorf("POST %s: %d attempts: %w", url, attempt, err)
		}
		nopoll.Sleep(wait)
		wait *= 2
	}
}

// UserState posts {"state","code","message"} to url; no-op without url.
func (r *Reporter) UserState(url, state string, code int, message string) error {
	if url == "" {
		return nil
	}
	err := r.post(url, map[string]any{"state": state, "code": code, "message": message})
	r.logResult("user-state", url, err, "state", state)
	return err
}

// PhoneHome posts {"instance_id"} to url; no-op without url.
func (r *Reporter) PhoneHome(url, instanceID string) error {
	if url == "" {
		return nil
	}
	err := r.post(url, map[string]string{"instance_id": instanceID})
	r.logResult("phone-home", url, err)
	return err
}

func (r *Reporter) logResult(what, url string, err error, kv ...any) {
	if r.Log == nil {
		return
	}
	if err != nil {
		r.Log.Warn(what+" failed", append([]any{"url", url, "err", err.Error()}, kv...)...)
		return
	}
	r.Log.Info(what+" sent", append([]any{"url", url}, kv...)...)
}
