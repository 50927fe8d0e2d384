package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds match %s; run go test -run . -update", pattern)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// A manifest that parses must be valid and survive marshal/parse
// unchanged; nothing may panic.
func FuzzParseManifest(f *testing.F) {
	addSeeds(f, "testdata/*.manifest.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseManifest returned an invalid manifest: %v", err)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		out2, _ := m2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatal("marshal is not stable")
		}
		_ = m.Spans()
	})
}

// A seek table that reads must re-encode to the exact bytes it came from
// and account for the whole archive.
func FuzzReadSeekTable(f *testing.F) {
	addSeeds(f, "testdata/*.zst")
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, off, err := ReadSeekTable(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		enc, err := tab.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, b[off:]) {
			t.Fatalf("re-encoded table differs from the input tail")
		}
		if tab.CompressedSize() != off {
			t.Fatalf("frames add up to %d, table at %d", tab.CompressedSize(), off)
		}
		fr := tab.Frames()
		if len(fr) > 0 && fr[len(fr)-1].Offset+fr[len(fr)-1].Size != off {
			t.Fatal("Frames do not end at the table")
		}
	})
}

// The seeds for FuzzReadSeekTable: small real archives and a few damaged
// ones, rewritten by -update; without it the test checks that each seed
// still reads (or fails) as its name says.
func TestSeekTableSeeds(t *testing.T) {
	zst, _ := buildArchive(t, synthImage(3*MinChunkSize+1000, 9), MinChunkSize)
	zeros, _ := buildArchive(t, make([]byte, 2*MinChunkSize), MinChunkSize)
	noCk := SeekTable{Entries: []SeekEntry{{5, 10, 0}}}
	tab, _ := noCk.AppendBinary([]byte{1, 2, 3, 4, 5})
	seeds := map[string]struct {
		b  []byte
		ok bool
	}{
		"small.zst":         {zst, true},
		"zeros.zst":         {zeros, true},
		"no-checksums.zst":  {tab, true},
		"truncated.zst":     {zst[:len(zst)-3], false},
		"only-table.zst":    {zst[len(zst)-int(SeekTableSize(4)):], false},
		"reserved-bits.zst": {append(bytes.Clone(zst[:len(zst)-5]), 0x84, 0xB1, 0xEA, 0x92, 0x8F), false},
	}
	for name, s := range seeds {
		p := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(p, s.b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test -run Seeds -update)", err)
		}
		_, _, err = ReadSeekTable(bytes.NewReader(b), int64(len(b)))
		if (err == nil) != s.ok {
			t.Errorf("%s: ReadSeekTable error %v, want ok=%v", name, err, s.ok)
		}
	}
}
