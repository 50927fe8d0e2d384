package iso

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// consoleFailure is a console line that means the install failed.
type consoleFailure struct {
	Kind string // "a PSOD", "a kickstart error", "an installer error"
	Line string // the line, ANSI-stripped
	No   int    // 1-based line number in the console log
}

func (f consoleFailure) Error() string {
	return fmt.Sprintf("serial console line %d shows %s: %q", f.No, f.Kind, f.Line)
}

type failurePattern struct {
	kind string
	re   *regexp.Regexp
}

// failurePatterns recognise what VMware's installer and vmkernel print when
// an install cannot finish: a purple screen is logged as "@BlueScreen: #PF
// Exception 14 in world ...", weasel reports "An error has occurred ..." and
// Python tracebacks, kickstart errors name the script and line. The wording
// is not a contract, so success never depends on it (the completion marker
// does); these only make failures fast and quoted instead of a timeout.
// Kickstart patterns come first: their text also matches the generic one.
var failurePatterns = []failurePattern{
	{"a PSOD", regexp.MustCompile(`@BlueScreen:|#(PF|GP|DE|UD|NP|SS|MC|DF|TS|AC) Exception \d+|(?i)\bpurple (diagnostic )?screen\b`)},
	{"a kickstart error", regexp.MustCompile(`(?i)error .*(installation script|kickstart)|^error:\S*ks[^:]*:\s*line \d+`)},
	{"an installer error", regexp.MustCompile(`(?i)an error has occurred|installation (has )?failed|Traceback \(most recent call last\)`)},
}

// ansiRE matches terminal escape sequences (CSI, OSC, charset selection).
var ansiRE = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78cDEHMNOZ])`)

// stripANSI removes escape sequences and control characters but tabs.
func stripANSI(s string) string {
	s = ansiRE.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// consoleWatcher receives the raw serial console. Each line, ANSI-stripped,
// goes to the Packer UI, to the console log and to the failure matcher;
// the first failure is sent on Failed.
type consoleWatcher struct {
	ui  packersdk.Ui
	log io.Writer

	mu      sync.Mutex
	partial []byte
	lineNo  int
	last    []string // the last few non-empty lines, for error messages
	failure *consoleFailure
	failed  chan consoleFailure
}

func newConsoleWatcher(ui packersdk.Ui, log io.Writer) *consoleWatcher {
	return &consoleWatcher{ui: ui, log: log, failed: make(chan consoleFailure, 1)}
}

// Failed delivers the first failure line, once.
func (w *consoleWatcher) Failed() <-chan consoleFailure { return w.failed }

// Failure returns the first failure seen, if any.
func (w *consoleWatcher) Failure() *consoleFailure {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failure
}

// LastLines returns up to the last n non-empty console lines.
func (w *consoleWatcher) LastLines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.last...)
}

func (w *consoleWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		// A bare CR (a progress line redrawn in place) ends a line too.
		i := bytes.IndexAny(w.partial, "\n\r")
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.line(line)
	}
	return len(p), nil
}

// Close flushes a last unterminated line.
func (w *consoleWatcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
	return nil
}

func (w *consoleWatcher) line(raw string) {
	text := strings.TrimRight(stripANSI(raw), " \t")
	if text == "" {
		return // CRLF pairs and redraws produce empty lines: skip them
	}
	w.lineNo++
	if w.log != nil {
		fmt.Fprintln(w.log, text)
	}
	if w.ui != nil {
		w.ui.Message("console: " + text)
	}
	w.last = append(w.last, text)
	if len(w.last) > 5 {
		w.last = w.last[1:]
	}
	if w.failure != nil {
		return
	}
	for _, p := range failurePatterns {
		if p.re.MatchString(text) {
			f := consoleFailure{Kind: p.kind, Line: text, No: w.lineNo}
			w.failure = &f
			w.failed <- f
			return
		}
	}
}
