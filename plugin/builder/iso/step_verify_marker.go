package iso

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// ErrNoMarker is returned when the disk lacks this build's completion marker.
var ErrNoMarker = errors.New("completion marker missing")

// stepVerifyMarker reads bootbank 1 of the installed disk offline and
// checks the completion marker holds this build's token: the proof that
// the installer wrote this disk and ran %post to its end.
//
// Uses: keyDiskPath, keyKickstart, keyUI. Produces: nothing.
type stepVerifyMarker struct{}

func (s *stepVerifyMarker) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get(keyUI).(packersdk.Ui)
	disk := state.Get(keyDiskPath).(string)
	ks := state.Get(keyKickstart).(*renderedKickstart)
	got, err := readDiskFile(disk, MarkerPartition, MarkerFile)
	if err != nil {
		return halt(state, fmt.Errorf("verify install: %w: partition %d file %s of %s: %w", ErrNoMarker, MarkerPartition, MarkerFile, disk, err))
	}
	if want := markerContent(ks.Token); string(got) != want {
		return halt(state, fmt.Errorf("verify install: %w: partition %d file %s holds %q, want %q (a disk from another build?)",
			ErrNoMarker, MarkerPartition, MarkerFile, got, want))
	}
	ui.Say(fmt.Sprintf("Completion marker found on bootbank 1 (partition %d)", MarkerPartition))
	return multistep.ActionContinue
}

func (s *stepVerifyMarker) Cleanup(multistep.StateBag) {}
