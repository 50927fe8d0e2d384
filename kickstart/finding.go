package kickstart

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Severity of a finding.
type Severity int

const (
	// Warning: the installer warns (or silently does something the author
	// probably did not mean) but installs.
	Warning Severity = iota + 1
	// Error: the installer refuses the file, or the install would not be
	// what the file says (an option silently dropped).
	Error
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText makes findings readable in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one problem in a kickstart. Messages never contain a
// password or hash.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"` // 0 when about the whole file (a missing command)
	Command  string   `json:"command"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// String is "file:line: command: rule: severity: message; fix: fix".
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.File)
	if f.Line > 0 {
		fmt.Fprintf(&b, ":%d", f.Line)
	}
	fmt.Fprintf(&b, ": %s: %s: %s: %s", f.Command, f.Rule, f.Severity, f.Message)
	if f.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(f.Fix)
	}
	return b.String()
}

// ErrLint is wrapped by the error Check returns, for callers that branch
// on "the kickstart is invalid" (Packer's Config.Prepare).
var ErrLint = errors.New("kickstart has errors")

// LintError carries the error findings.
type LintError struct {
	File     string
	Findings []Finding
}

func (e *LintError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kickstart %s: %d error(s)", e.File, len(e.Findings))
	for _, f := range e.Findings {
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return b.String()
}

func (e *LintError) Unwrap() error { return ErrLint }

// ErrorsOf returns a *LintError holding the error-severity findings, or
// nil when there are none.
func ErrorsOf(name string, findings []Finding) error {
	var errs []Finding
	for _, f := range findings {
		if f.Severity == Error {
			errs = append(errs, f)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &LintError{File: name, Findings: errs}
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return a.Rule < b.Rule
	})
}
