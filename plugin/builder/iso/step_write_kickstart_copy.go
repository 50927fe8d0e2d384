package iso

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// KickstartCopyName is the redacted kickstart's file name in the output dir.
const KickstartCopyName = "ks-redacted.cfg"

// stepWriteKickstartCopy keeps the kickstart used, secrets redacted, next
// to the disk so the artifact says how it was made.
//
// Uses: keyConfig, keyKickstart. Produces: renderedKickstart.CopyPath.
type stepWriteKickstartCopy struct{}

func (s *stepWriteKickstartCopy) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	ks := state.Get(keyKickstart).(*renderedKickstart)
	p := filepath.Join(c.OutputDir, KickstartCopyName)
	if err := os.WriteFile(p, []byte(ks.Redacted), 0o644); err != nil {
		return haltf(state, "write kickstart copy: %w", err)
	}
	ks.CopyPath = p
	return multistep.ActionContinue
}

func (s *stepWriteKickstartCopy) Cleanup(multistep.StateBag) {}
