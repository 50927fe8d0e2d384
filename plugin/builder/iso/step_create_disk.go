package iso

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// stepCreateDisk creates the sparse raw disk the installer writes to. The
// output directory step removes it again if the build fails.
//
// Uses: keyConfig, keyDriver, keyUI. Produces: keyDiskPath.
type stepCreateDisk struct{}

func (s *stepCreateDisk) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	d := state.Get(keyDriver).(Driver)
	ui := state.Get(keyUI).(packersdk.Ui)
	path := filepath.Join(c.OutputDir, c.DiskName)
	ui.Say(fmt.Sprintf("Creating %s raw disk %s", c.DiskSize, path))
	size, err := ParseSize(c.DiskSize)
	if err != nil {
		return haltf(state, "create disk: disk_size: %w", err)
	}
	if err := d.QemuImg(ctx, "create", "-f", "raw", path, fmt.Sprintf("%d", size)); err != nil {
		return haltf(state, "create disk: %w", err)
	}
	state.Put(keyDiskPath, path)
	return multistep.ActionContinue
}

func (s *stepCreateDisk) Cleanup(multistep.StateBag) {}
