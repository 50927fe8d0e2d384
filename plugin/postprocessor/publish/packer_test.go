package publish

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// packerEnv installs the plugin into a private plugin directory with the
// real Packer (ESXI_TEST_PACKER, else bin/packer) and returns that Packer
// and its environment.
func packerEnv(t *testing.T) (string, []string) {
	t.Helper()
	root, _ := filepath.Abs("../../..")
	packer := os.Getenv("ESXI_TEST_PACKER")
	if packer == "" {
		packer = filepath.Join(root, "bin/packer")
	}
	if _, err := os.Stat(packer); err != nil {
		t.Fatalf("packer not found at %s: run make plugin", packer)
	}
	plugin := os.Getenv("ESXI_TEST_PLUGIN")
	if plugin == "" {
		plugin = filepath.Join(t.TempDir(), "packer-plugin-esxi")
		cmd := exec.Command("go", "build", "-o", plugin, "./plugin")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build plugin: %v\n%s", err, out)
		}
	}
	env := append(os.Environ(), "PACKER_PLUGIN_PATH="+t.TempDir(), "CHECKPOINT_DISABLE=1",
		"ESXI_MINISIGN_KEY_FILE="+filepath.Join(root, "images/sign/testdata/test.key"))
	cmd := exec.Command(packer, "plugins", "install", "--path", plugin, "github.com/esxi-golden/esxi")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packer plugins install: %v\n%s", err, out)
	}
	return packer, env
}

const template = `
packer {
  required_plugins {
    esxi = { source = "github.com/esxi-golden/esxi", version = ">= 0.1.0" }
  }
}
source "null" "golden" { communicator = "none" }
build {
  sources = ["source.null.golden"]
  post-processors {
    post-processor "artifice" { files = ["raw.img"] }
    post-processor "esxi-publish" {
      output_directory    = "out"
      no_writer           = true
      chunk_size          = "256KiB"
      esxi_version        = "8.0.3"
      esxi_build          = "24022510"
      keep_input_artifact = true
      push                = "REGISTRY/esxi/golden:golden.zs"
      push_plain_http     = true
    }
    post-processor "checksum" {
      checksum_types = ["sha256"]
      output         = "packer.sha256"
    }
    post-processor "manifest" { output = "packer-manifest.json" }
  }
}
`

// A real Packer build feeds a raw image through artifice into
// esxi-publish; checksum and manifest still work on our artifact.
func TestPackerBuild(t *testing.T) {
	sha256sum := tooltest.Path(t, "sha256sum")
	packer, env := packerEnv(t)
	dir := t.TempDir()
	raw := make([]byte, 3<<20+4096)
	copy(raw[1<<20:], bytes.Repeat([]byte("ESXi bootbank "), 20000))
	if err := os.WriteFile(filepath.Join(dir, "raw.img"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(strings.Replace(template, "REGISTRY", host, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(packer, "build", "-color=false", "t.pkr.hcl")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Published golden: 3.0 MiB raw, 2/13 data chunks") {
		t.Fatalf("packer output lacks the publish summary:\n%s", out)
	}
	if !strings.Contains(string(out), "Pushed "+host+"/esxi/golden:golden.zs@sha256:") {
		t.Fatalf("packer output lacks the push:\n%s", out)
	}
	for _, f := range []string{"golden.img.zst", "golden.manifest.json", "golden.manifest.json.minisig", "golden.bmap", "SHA256SUMS", "SHA256SUMS.minisig"} {
		if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
			t.Fatalf("missing %s:\n%s", f, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "raw.img")); err != nil {
		t.Fatal("keep_input_artifact did not keep the raw image")
	}
	// Packer's checksum file lists our files and sha256sum agrees.
	sums, _ := os.ReadFile(filepath.Join(dir, "packer.sha256"))
	if !strings.Contains(string(sums), "golden.img.zst") || !strings.Contains(string(sums), "SHA256SUMS") {
		t.Fatalf("packer.sha256:\n%s", sums)
	}
	// The checksum post-processor writes base names; check in out/.
	check := exec.Command(sha256sum, "-c", "--strict", "../packer.sha256")
	check.Dir = filepath.Join(dir, "out")
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c packer.sha256: %v\n%s", err, b)
	}
	var pm struct {
		Builds []struct {
			Files []struct {
				Name string `json:"name"`
				Size int64  `json:"size"`
			} `json:"files"`
		} `json:"builds"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "packer-manifest.json"))
	if err := json.Unmarshal(b, &pm); err != nil || len(pm.Builds) != 1 {
		t.Fatalf("packer-manifest.json: %v\n%s", err, b)
	}
	found := false
	for _, f := range pm.Builds[0].Files {
		if f.Name == "out/golden.img.zst" && f.Size > 0 {
			found = true
		}
	}
	// (artifact_id is the checksum post-processor's, which has none.)
	if !found {
		t.Fatalf("packer-manifest.json does not describe our artifact:\n%s", b)
	}

	// A second run without -force refuses to replace the directory.
	cmd = exec.Command(packer, "build", "-color=false", "t.pkr.hcl")
	cmd.Dir, cmd.Env = dir, env
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "output exists") {
		t.Fatalf("second build without -force: %v\n%s", err, out)
	}
}
