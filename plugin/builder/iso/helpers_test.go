package iso

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// testConfig is a prepared config for the simulator-sized defaults.
func testConfig(t *testing.T, over map[string]interface{}) *Config {
	t.Helper()
	raw := map[string]interface{}{
		"iso_url":          "testdata/none.iso",
		"iso_checksum":     "none",
		"root_password":    "Golden-Test-42x",
		"output_directory": t.TempDir() + "/out",
		"memory":           512,
		"cpus":             1,
		"disk_size":        "10G",
	}
	for k, v := range over {
		raw[k] = v
	}
	var c Config
	if _, err := c.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return &c
}

// testState is a state bag with a mock driver, a UI writing to a buffer
// and the temp dir a build would have.
func testState(t *testing.T, c *Config, d *DriverMock) (multistep.StateBag, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	state := new(multistep.BasicStateBag)
	state.Put(keyConfig, c)
	state.Put(keyDriver, d)
	state.Put(keyUI, &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out})
	state.Put(keyTempDir, t.TempDir())
	if err := os.MkdirAll(c.OutputDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return state, &out
}

func stateErr(state multistep.StateBag) error {
	if e, ok := state.GetOk(keyError); ok {
		return e.(error)
	}
	return nil
}
