// Package iso is the esxi-iso Packer builder: it installs VMware ESXi from
// its installer ISO into a raw disk under QEMU, unattended, with a kickstart
// it renders and bakes into a remastered ISO, and returns the never-booted
// disk as the artifact.
//
// The build is a list of small multistep steps sharing a state bag
// (packer-plugin-qemu's shape); every external program sits behind Driver.
// Success needs all three of: no failure line on the serial console, the
// guest powering the machine off itself, and the completion marker that the
// kickstart's %post writes, read back from the disk offline.
package iso

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// BuilderID identifies the builder's artifacts.
const BuilderID = "esxi-golden.esxi-iso"

// Builder is the esxi-iso builder.
type Builder struct {
	config Config
	// driver replaces the QEMU driver in tests.
	driver Driver
}

var _ packersdk.Builder = (*Builder)(nil)

func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warnings, err := b.config.Prepare(raws...)
	if err != nil {
		return nil, warnings, err
	}
	return []string{"ESXiVersion", "ESXiBuild"}, warnings, nil
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	c := &b.config
	driver := b.driver
	if driver == nil {
		driver = &QemuDriver{QemuPath: c.QemuBinary, QemuImgPath: c.QemuImgBinary}
	}
	state := new(multistep.BasicStateBag)
	state.Put(keyConfig, c)
	state.Put(keyDriver, driver)
	state.Put(keyUI, ui)
	state.Put(keyHook, hook)

	steps := []multistep.Step{
		&stepCreateTempDir{},
		&commonsteps.StepDownload{
			Checksum:    c.ISOChecksum,
			Description: "ISO",
			Extension:   c.TargetExtension,
			ResultKey:   keyISOPath,
			TargetPath:  c.TargetPath,
			Url:         c.ISOUrls,
		},
		&stepRenderKickstart{},
		&stepRemasterISO{},
		&commonsteps.StepOutputDir{Force: c.PackerForce, Path: c.OutputDir},
		&stepCreateDisk{},
		&stepWriteKickstartCopy{},
		&stepRunQemu{},
		&stepWaitInstall{},
		&stepVerifyMarker{},
	}
	runner := commonsteps.NewRunnerWithPauseFn(steps, c.PackerConfig, ui, state)
	runner.Run(ctx, state)

	if err, ok := state.GetOk(keyError); ok {
		return nil, err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return nil, errors.New("build was cancelled")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return nil, errors.New("build was halted")
	}
	info := state.Get(keyISOInfo).(isoInfo)
	ks := state.Get(keyKickstart).(*renderedKickstart)
	a := &Artifact{
		DiskPath:      state.Get(keyDiskPath).(string),
		ConsoleLog:    state.Get(keyConsoleLog).(string),
		KickstartPath: ks.CopyPath,
		Version:       info.Version,
		Build:         info.Build,
		OutputDir:     c.OutputDir,
		StateData: map[string]interface{}{
			"generated_data": map[string]interface{}{
				"ESXiVersion": info.Version,
				"ESXiBuild":   info.Build,
			},
		},
	}
	ui.Say(fmt.Sprintf("Golden image: %s (ESXi %s build %s)", a.DiskPath, a.Version, a.Build))
	return a, nil
}
