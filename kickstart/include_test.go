package kickstart

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

func TestIncludePath(t *testing.T) {
	for _, tc := range []struct{ from, p, want string }{
		{"/ks.cfg", "/tmp/part.cfg", "/tmp/part.cfg"},
		{"/cdrom/KS.CFG", "tmp/part.cfg", "/tmp/part.cfg"},
		{"/cdrom/KS.CFG", "./more.cfg", "/cdrom/more.cfg"},
		{"http://10.0.0.1/ks/ks.cfg", "./more.cfg", "http://10.0.0.1/ks/more.cfg"},
		{"/ks.cfg", "http://10.0.0.1/x.cfg", "http://10.0.0.1/x.cfg"},
	} {
		if got := IncludePath(tc.from, tc.p); got != tc.want {
			t.Errorf("IncludePath(%q, %q) = %q, want %q", tc.from, tc.p, got, tc.want)
		}
	}
}

type memFS map[string]string

func (m memFS) open(p string) (io.ReadCloser, error) {
	s, ok := m[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

// The common pattern: %pre writes the disk line, %include reads it. Lint
// alone cannot see it (warning); LintResolved with the file is clean.
func TestIncludeWrittenByPre(t *testing.T) {
	root := "vmaccepteula\nrootpw VMware1!x\n%include /tmp/disk.cfg\n%pre --interpreter=busybox\necho 'install --firstdisk=local --overwritevmfs' > /tmp/disk.cfg\n"
	f, err := Parse(strings.NewReader(root), "/ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	fs := Lint(f, esxi80)
	if rules(fs) != "install-verb" || fs[0].Severity != Warning || !strings.Contains(fs[0].Message, "/tmp/disk.cfg") {
		t.Fatalf("unresolved include: %s", joinFindings(fs))
	}
	files, err := ResolveIncludes(f, memFS{"/tmp/disk.cfg": "install --firstdisk=local --overwritevmfs\n"}.open)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[1].Install() == nil || files[1].Name != "/tmp/disk.cfg" {
		t.Fatalf("files %+v", files)
	}
	if fs := LintResolved(files, esxi80); len(fs) != 0 {
		t.Fatalf("resolved: %s", joinFindings(fs))
	}
	// A second verb in the included file is an error naming both files.
	files, _ = ResolveIncludes(f, memFS{"/tmp/disk.cfg": "install --firstdisk\nupgrade --firstdisk\n"}.open)
	if fs := LintResolved(files, esxi80); rules(fs) != "install-verb" || fs[0].File != "/tmp/disk.cfg" || fs[0].Line != 2 {
		t.Fatalf("two verbs: %s", joinFindings(fs))
	}
}

func TestResolveIncludesErrors(t *testing.T) {
	f, _ := Parse(strings.NewReader("%include /a.cfg\n"), "/ks.cfg")
	for name, m := range map[string]memFS{
		"missing": {},
		"cycle":   {"/a.cfg": "%include /b.cfg\n", "/b.cfg": "%include ./a.cfg\n"},
	} {
		if _, err := ResolveIncludes(f, m.open); !errors.Is(err, ErrInclude) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// The 256-command limit counts every file, like the installer's counter.
func TestLintResolvedCountsAcrossFiles(t *testing.T) {
	root := "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk\n%include /more.cfg\n" + strings.Repeat("clearpart --alldrives\n", 200)
	f, _ := Parse(strings.NewReader(root), "/ks.cfg")
	files, err := ResolveIncludes(f, memFS{"/more.cfg": strings.Repeat("clearpart --alldrives\n", 60)}.open)
	if err != nil {
		t.Fatal(err)
	}
	fs := LintResolved(files, esxi80)
	if rules(fs) != "too-many-commands" || fs[0].Severity != Error || !strings.Contains(fs[0].Message, "264 commands across 2 files") {
		t.Fatalf("%s", joinFindings(fs))
	}
}
