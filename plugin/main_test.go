package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

// pluginBinary returns the binary `make plugin` built (ESXI_TEST_PLUGIN), or
// builds one, so the describe contract is checked on a real binary.
func pluginBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ESXI_TEST_PLUGIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "packer-plugin-esxi")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestDescribe(t *testing.T) {
	out, err := exec.Command(pluginBinary(t), "describe").Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var d struct {
		Version    string `json:"version"`
		SDKVersion string `json:"sdk_version"`
		APIVersion string `json:"api_version"`
		Protocol   string `json:"protocol_version"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("describe output %q: %v", out, err)
	}
	if d.SDKVersion != "0.6.6" {
		t.Errorf("sdk_version %q, want 0.6.6 (the pinned SDK)", d.SDKVersion)
	}
	if d.APIVersion != "x5.0" {
		t.Errorf("api_version %q, want x5.0", d.APIVersion)
	}
	if d.Version != version.String() {
		t.Errorf("version %q, want %q", d.Version, version.String())
	}
	// Packer refuses any prerelease but -dev and any +metadata.
	if v := d.Version; strings.Contains(v, "+") || (strings.Contains(v, "-") && !strings.HasSuffix(v, "-dev")) {
		t.Errorf("version %q cannot be installed by Packer", v)
	}
}

func TestPackerVersionPinned(t *testing.T) {
	p := os.Getenv("ESXI_TEST_PACKER")
	if p == "" {
		t.Skip("ESXI_TEST_PACKER not set: run through `make test`, which builds bin/packer")
	}
	out, err := exec.Command(p, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", p, err)
	}
	if !strings.HasPrefix(string(out), "Packer v1.15.0") {
		t.Fatalf("packer version printed %q, want Packer v1.15.0", out)
	}
}
