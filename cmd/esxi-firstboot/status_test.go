package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/runonce"
)

func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	status := func() (string, error) {
		var out bytes.Buffer
		c := newStatusCmd()
		c.SetArgs([]string{"--state-dir", dir})
		c.SetOut(&out)
		err := c.Execute()
		return out.String(), err
	}
	if out, err := status(); err != nil || !strings.Contains(out, "never configured") {
		t.Fatalf("%q %v", out, err)
	}
	run, err := runonce.Store{Dir: dir}.Begin("iid-9", "equinix http://127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	run.Mark("hostname")
	run.Finish("failed")
	report.Write(filepath.Join(dir, "result.json"), &report.Result{Status: "failed", ExitCode: 13, Error: "gateway unreachable", Finished: time.Now()})
	out, err := status()
	if err == nil || !strings.Contains(out, "instance iid-9 from equinix http://127.0.0.1: failed") || !strings.Contains(out, "exit 13") {
		t.Fatalf("%q %v", out, err)
	}
}
