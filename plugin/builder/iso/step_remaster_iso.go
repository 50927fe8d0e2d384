package iso

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// stepRemasterISO writes the boot ISO into the temp dir: the installer ISO
// with /KS.CFG and both BOOT.CFGs set to start the scripted install with
// the serial console on COM1. No keys are typed at a boot prompt (VNC
// typing is slow and drops keys with ESXi). The temp dir step removes it.
//
// Uses: keyConfig, keyUI, keyISOPath, keyKickstart, keyTempDir.
// Produces: keyBootISO, keyISOInfo.
type stepRemasterISO struct{}

func (s *stepRemasterISO) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	ui := state.Get(keyUI).(packersdk.Ui)
	src := state.Get(keyISOPath).(string)
	ks := state.Get(keyKickstart).(*renderedKickstart)
	dst := filepath.Join(state.Get(keyTempDir).(string), "boot.iso")

	start := time.Now()
	var opts bootcfg.Options
	info, err := remasterISO(src, dst, []byte(ks.Text.Reveal()), func(cfg *bootcfg.Config) {
		opts = bootOptions(c, cfg.KernelOpt())
		cfg.SetKernelOpt(opts)
	})
	if err != nil {
		return haltf(state, "remaster iso: %w", err)
	}
	ui.Say(fmt.Sprintf("Remastered %s (ESXi %s build %s) in %s with kernelopt %q",
		filepath.Base(src), info.Version, info.Build, time.Since(start).Round(time.Millisecond), opts))
	state.Put(keyBootISO, dst)
	state.Put(keyISOInfo, info)
	return multistep.ActionContinue
}

func (s *stepRemasterISO) Cleanup(multistep.StateBag) {}
