package publish

import (
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
)

func TestPrepare(t *testing.T) {
	t.Setenv(sign.EnvKey, "")
	t.Setenv(sign.EnvKeyFile, "")
	t.Setenv(EnvWriterBinary, "")
	ok := map[string]interface{}{"minisign_key_file": "k.key", "writer_binary": "w", "packer_build_name": "golden"}
	with := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		err  string
	}{
		{"defaults", ok, ""},
		{"bad chunk size", with("chunk_size", "4MB"), "chunk_size"},
		{"bad level", with("compression_level", "ultra"), "compression_level"},
		{"no key", with("minisign_key_file", nil), "no signing key"},
		{"unsigned", with("minisign_key_file", nil, "unsigned", true), ""},
		{"key and unsigned", with("unsigned", true), "choose one"},
		{"no writer", with("writer_binary", nil), "writer_binary"},
		{"no_writer", with("writer_binary", nil, "no_writer", true), ""},
		{"bad name", with("name", "a/b"), "name"},
		{"unknown key", with("chunksize", "4MiB"), "chunksize"},
		{"negative workers", with("workers", -1), "workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Prepare: %v, want an error about %q", err, tc.err)
			}
		})
	}
	var c Config
	if err := c.Prepare(ok); err != nil {
		t.Fatal(err)
	}
	if c.Name != "golden" || c.OutputDirectory != "publish/golden" || c.chunkSize != 4<<20 {
		t.Fatalf("defaults: name %q dir %q chunk %d", c.Name, c.OutputDirectory, c.chunkSize)
	}
}

func TestPickSource(t *testing.T) {
	for _, tc := range []struct {
		want  string
		files []string
		got   string
	}{
		{"", []string{"a"}, "a"},
		{"", []string{"disk.raw", "notes.txt"}, "disk.raw"},
		{"x.bin", []string{"a.img", "b.img"}, "x.bin"},
		{"", []string{"a.img", "b.img"}, ""},
		{"", nil, ""},
	} {
		got, err := pickSource(tc.want, tc.files)
		if got != tc.got || (tc.got == "") != (err != nil) {
			t.Errorf("pickSource(%q, %v) = %q, %v; want %q", tc.want, tc.files, got, err, tc.got)
		}
	}
}
