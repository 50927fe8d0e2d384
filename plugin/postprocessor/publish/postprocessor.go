// Package publish is the esxi-publish post-processor: it turns the raw
// image of the previous step into a publish directory (images/publish)
// and returns an artifact listing the published files, so Packer's
// checksum and manifest post-processors work after it.
package publish

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/ocipush"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
)

// BuilderID identifies artifacts of this post-processor.
const BuilderID = "esxi-golden.publish"

// PostProcessor is the esxi-publish post-processor.
type PostProcessor struct {
	config Config
}

var _ packersdk.PostProcessor = (*PostProcessor)(nil)

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

// PostProcess publishes the input's raw image. It returns keep=false so
// Packer removes the raw image afterwards unless keep_input_artifact is set.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	c := &p.config
	src, err := pickSource(c.Source, in.Files())
	if err != nil {
		return nil, false, false, err
	}
	var signer *sign.Signer
	if !c.Unsigned {
		if signer, err = sign.Load(c.keys); err != nil {
			return nil, false, false, err
		}
		ui.Sayf("Signing with minisign key %s", signer.KeyID())
	}
	ui.Sayf("Publishing %s as %q into %s (chunks of %d bytes)", src, c.Name, c.OutputDirectory, c.chunkSize)
	start := time.Now()
	lastPct := -1
	res, err := publish.Publish(ctx, src, c.OutputDirectory, publish.Options{
		Name: c.Name, ChunkSize: c.chunkSize, Level: c.level, Workers: c.Workers,
		Signer: signer, Unsigned: c.Unsigned,
		Writer: c.WriterBinary, NoWriter: c.NoWriter,
		Overwrite: c.PackerForce,
		ESXi:      format.ESXi{Version: c.ESXiVersion, Build: c.ESXiBuild},
		Agent:     format.Agent{Version: c.AgentVersion},
		Tool:      "packer-plugin-esxi esxi-publish",
		Labels: map[string]string{
			"packer_build_name":   c.PackerBuildName,
			"packer_builder_type": c.PackerBuilderType,
			"packer_version":      c.PackerCoreVersion,
		},
		// Packer's UI is line based: report every 10%.
		Progress: func(pr publish.Progress) {
			if pct := int(pr.Raw * 100 / pr.RawSize); pct/10 != lastPct/10 {
				lastPct = pct
				ui.Sayf("  %3d%%  %d/%d chunks, %d with data, %s archive", pct, pr.Chunk, pr.Chunks, pr.DataChunks, mib(pr.Compressed))
			}
		},
	})
	if err != nil {
		return nil, false, false, fmt.Errorf("esxi-publish: %w", err)
	}
	m := res.Manifest
	ui.Sayf("Published %s: %s raw, %d/%d data chunks, %s archive, in %s", c.Name, mib(m.Image.Size),
		m.Image.DataChunks, len(m.Chunks), mib(m.Archive.Size), time.Since(start).Round(time.Millisecond))
	ui.Sayf("  image sha256 %s", m.Image.SHA256)
	if c.Push != "" {
		d, err := ocipush.Push(ctx, res, c.Push, ocipush.OptionsFromEnv(c.PushPlainHTTP))
		if err != nil {
			return nil, false, false, fmt.Errorf("esxi-publish: %w", err)
		}
		ui.Sayf("Pushed %s@%s", c.Push, d.Digest)
	}
	return &Artifact{Result: res}, false, false, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// pickSource chooses the raw image among the input artifact's files.
func pickSource(want string, files []string) (string, error) {
	if want != "" {
		return want, nil
	}
	if len(files) == 1 {
		return files[0], nil
	}
	var raw []string
	for _, f := range files {
		switch strings.ToLower(filepath.Ext(f)) {
		case ".img", ".raw", ".dd":
			raw = append(raw, f)
		}
	}
	if len(raw) == 1 {
		return raw[0], nil
	}
	return "", fmt.Errorf("esxi-publish: cannot tell which input file is the raw image among %q; set source", files)
}
