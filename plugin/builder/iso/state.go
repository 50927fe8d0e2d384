package iso

import (
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// State-bag keys. Typed constants so a misspelt key fails to compile; each
// step's comment says which it uses and produces.
const (
	keyConfig     = "config"      // *Config
	keyDriver     = "driver"      // Driver
	keyUI         = "ui"          // packersdk.Ui
	keyHook       = "hook"        // packersdk.Hook
	keyISOPath    = "iso_path"    // string: downloaded, checksum-verified installer ISO
	keyKickstart  = "kickstart"   // *renderedKickstart
	keyBootISO    = "boot_iso"    // string: remastered ISO (temp file)
	keyISOInfo    = "iso_info"    // isoInfo: ESXi version and build of the ISO
	keyDiskPath   = "disk_path"   // string: raw disk in the output directory
	keyMachine    = "machine"     // Machine: the running QEMU
	keyConsoleLog = "console_log" // string: serial console log in the output directory
	keyTempDir    = "temp_dir"    // string: per-build temp directory (ISO, QMP socket, OVMF vars)
	keyError      = "error"       // error: set by halt, read by the runner
)

// halt records err for the runner, shows it and stops the build.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put(keyError, err)
	if ui, ok := state.Get(keyUI).(packersdk.Ui); ok {
		ui.Error(err.Error())
	}
	return multistep.ActionHalt
}

// haltf is halt with fmt.Errorf.
func haltf(state multistep.StateBag, format string, args ...any) multistep.StepAction {
	return halt(state, fmt.Errorf(format, args...))
}
