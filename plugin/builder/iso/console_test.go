package iso

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/console/*.log are serial logs; each has a .want file holding
// the expected failure ("<kind>\t<line number>\t<line>") or "ok".
func TestConsoleLogs(t *testing.T) {
	logs, _ := filepath.Glob("testdata/console/*.log")
	if len(logs) == 0 {
		t.Fatal("no testdata/console/*.log")
	}
	for _, p := range logs {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(p, ".log") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			w := newConsoleWatcher(nil, &log)
			// Feed in odd-sized chunks: lines arrive split over reads.
			for i := 0; i < len(data); i += 7 {
				_, _ = w.Write(data[i:min(i+7, len(data))])
			}
			_ = w.Close()
			got := "ok"
			if f := w.Failure(); f != nil {
				got = strings.Join([]string{f.Kind, itoa(f.No), f.Line}, "\t")
			}
			if got != strings.TrimSpace(string(want)) {
				t.Errorf("failure = %q, want %q", got, strings.TrimSpace(string(want)))
			}
			if bytes.Contains(log.Bytes(), []byte("\x1b")) || bytes.Contains(log.Bytes(), []byte("\r")) {
				t.Errorf("console log keeps escape or CR characters:\n%q", log.String())
			}
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestStripANSI(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[1;31mred\x1b[0m":     "red",
		"\x1b]0;title\x07text":     "text",
		"\x1b(Bplain\x1b[2J\x1b[H": "plain",
		"tab\tkept\x00\x7f":        "tab\tkept",
	} {
		if got := stripANSI(in); got != want {
			t.Errorf("stripANSI(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzConsoleWatcher(f *testing.F) {
	logs, _ := filepath.Glob("testdata/console/*.log")
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var log bytes.Buffer
		w := newConsoleWatcher(nil, &log)
		if n, err := w.Write(data); n != len(data) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		_ = w.Close()
		sc := bufio.NewScanner(&log)
		sc.Buffer(nil, len(data)+64)
		lines := 0
		for sc.Scan() {
			lines++
			if l := sc.Text(); l == "" || strings.ContainsAny(l, "\x1b\r") {
				t.Fatalf("logged line %q", l)
			}
		}
		if f := w.Failure(); f != nil && (f.No < 1 || f.No > lines) {
			t.Fatalf("failure line number %d outside 1..%d", f.No, lines)
		}
	})
}
