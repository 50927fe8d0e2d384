package kickstart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics on any input, and whatever it returns,
// if it renders, renders to text that parses back to the same model (so
// the simulator and the builder cannot disagree about a file we wrote).
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*/*.cfg")
	if err != nil {
		f.Fatal(err)
	}
	presets, _ := filepath.Glob("testdata/golden/*.ks")
	seeds = append(seeds, presets...)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("rootpw 'unterminated\n%post\nx\\\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(bytes.NewReader(data), "fuzz.cfg")
		if err != nil {
			t.Fatal(err)
		}
		_ = Lint(k, LintOptions{})
		out, err := k.Render()
		if err != nil {
			return // the model holds something the installer reads differently; Render said so
		}
		k2, err := Parse(bytes.NewReader(out), "fuzz.cfg")
		if err != nil {
			t.Fatal(err)
		}
		if a, b := zeroLines(k), zeroLines(k2); !reflect.DeepEqual(a, b) {
			t.Fatalf("model changed through render:\ninput %q\nrendered %q\nfirst %s\nsecond %s", data, out, dump(a), dump(b))
		}
	})
}
