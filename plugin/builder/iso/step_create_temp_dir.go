package iso

import (
	"context"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stepCreateTempDir makes the build's private temp directory (remastered
// ISO, QMP socket, OVMF variables); Cleanup removes it, also on failure and
// Ctrl-C, so a build leaves no temp files.
//
// Uses: nothing. Produces: keyTempDir.
type stepCreateTempDir struct{ dir string }

func (s *stepCreateTempDir) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	dir, err := os.MkdirTemp("", "packer-esxi-")
	if err != nil {
		return haltf(state, "create temp dir: %w", err)
	}
	s.dir = dir
	state.Put(keyTempDir, dir)
	return multistep.ActionContinue
}

func (s *stepCreateTempDir) Cleanup(multistep.StateBag) {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
