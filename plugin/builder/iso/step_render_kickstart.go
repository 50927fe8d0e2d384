package iso

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// renderedKickstart is the kickstart of one build.
type renderedKickstart struct {
	Text     secret.Secret // what goes on the ISO (holds the root password)
	Redacted string        // the same with secrets replaced, kept with the artifact
	Token    string        // completion-marker token
	CopyPath string        // where the redacted copy was written
}

// stepRenderKickstart renders the kickstart from the config with a fresh
// marker token and lints it (Prepare already linted it with a placeholder
// token, so `packer validate` fails on lint errors).
//
// Uses: keyConfig, keyUI. Produces: keyKickstart.
type stepRenderKickstart struct{}

func (s *stepRenderKickstart) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	ui := state.Get(keyUI).(packersdk.Ui)
	token, err := newMarkerToken()
	if err != nil {
		return haltf(state, "render kickstart: %w", err)
	}
	ks, err := c.kickstart(token)
	if err != nil {
		return haltf(state, "render kickstart: %w", err)
	}
	ui.Say(fmt.Sprintf("Rendered kickstart (%d bytes, lint clean)", len(ks.Text.Reveal())))
	state.Put(keyKickstart, ks)
	return multistep.ActionContinue
}

func (s *stepRenderKickstart) Cleanup(multistep.StateBag) {}
