//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package publish

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
)

// Config is the esxi-publish post-processor's configuration. Signing key
// text and its password are never configuration: they come from the
// environment (ESXI_MINISIGN_KEY, ESXI_MINISIGN_PASSWORD) so they cannot
// end up in a template, a plan or a log.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Directory to write the publish directory into. Defaults to
	// `publish/<name>`. A directory holds one image; use -force to replace it.
	OutputDirectory string `mapstructure:"output_directory"`
	// Base name of the published files. Defaults to the build name.
	Name string `mapstructure:"name"`
	// The raw image among the input artifact's files. Defaults to the
	// only file, or the only one ending in .img, .raw or .dd.
	Source string `mapstructure:"source"`
	// Raw bytes per zstd frame, e.g. `4MiB` (default); a multiple of 4 KiB.
	ChunkSize string `mapstructure:"chunk_size"`
	// zstd level: fastest, default (≈ zstd -3), better or best.
	CompressionLevel string `mapstructure:"compression_level"`
	// Compression goroutines; defaults to the number of CPUs.
	Workers int `mapstructure:"workers"`
	// minisign secret key file that signs the manifest and SHA256SUMS.
	// Defaults to ESXI_MINISIGN_KEY_FILE; or set ESXI_MINISIGN_KEY to the
	// key's text. An encrypted key's password comes from ESXI_MINISIGN_PASSWORD.
	MinisignKeyFile string `mapstructure:"minisign_key_file"`
	// Publish without a signature. Writers that require one will refuse it.
	Unsigned bool `mapstructure:"unsigned"`
	// The esxi-writer binary to ship (static linux/amd64, same version as
	// the plugin). Defaults to ESXI_WRITER_BINARY.
	WriterBinary string `mapstructure:"writer_binary"`
	// Publish without an esxi-writer binary.
	NoWriter bool `mapstructure:"no_writer"`
	// ESXi version recorded in the manifest, e.g. 8.0.3.
	ESXiVersion string `mapstructure:"esxi_version"`
	// ESXi build number recorded in the manifest, e.g. 24022510.
	ESXiBuild string `mapstructure:"esxi_build"`
	// Version of the first-boot agent injected into the image, if any.
	AgentVersion string `mapstructure:"agent_version"`
	// Also push the publish directory to this OCI reference
	// (host/repository:tag). Credentials come from ESXI_REGISTRY_USERNAME
	// and ESXI_REGISTRY_PASSWORD.
	Push string `mapstructure:"push"`
	// Push over plain HTTP instead of HTTPS.
	PushPlainHTTP bool `mapstructure:"push_plain_http"`

	chunkSize int64
	level     format.Level
	keys      sign.KeySource
	ctx       interpolate.Context
}

// EnvWriterBinary is the default for writer_binary.
const EnvWriterBinary = "ESXI_WRITER_BINARY"

// Prepare decodes raws into c and checks everything it can without
// touching the image.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         "esxi-publish",
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...)
	if err != nil {
		return err
	}
	var errs *packersdk.MultiError
	if c.Name == "" {
		c.Name = c.PackerBuildName
	}
	if !format.ValidName(c.Name) {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("name %q: want letters, digits, '.', '_', '+' or '-' (set name explicitly)", c.Name))
	}
	if c.OutputDirectory == "" {
		c.OutputDirectory = filepath.Join("publish", c.Name)
	}
	if c.ChunkSize == "" {
		c.chunkSize = format.DefaultChunkSize
	} else if c.chunkSize, err = publish.ParseSize(c.ChunkSize); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("chunk_size: %w", err))
	}
	if c.CompressionLevel == "" {
		c.CompressionLevel = "default"
	}
	if c.level, err = format.ParseLevel(c.CompressionLevel); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("compression_level: %w", err))
	}
	if c.Workers < 0 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("workers %d: want 0 (all CPUs) or more", c.Workers))
	}
	c.keys = sign.KeySourceFromEnv()
	if c.MinisignKeyFile != "" {
		c.keys.File = c.MinisignKeyFile
	}
	if c.keys.IsZero() && !c.Unsigned {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("no signing key: set minisign_key_file, %s or %s, or unsigned = true", sign.EnvKeyFile, sign.EnvKey))
	}
	if !c.keys.IsZero() && c.Unsigned {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("unsigned = true but a signing key is configured: choose one"))
	}
	if c.WriterBinary == "" {
		c.WriterBinary = os.Getenv(EnvWriterBinary)
	}
	if c.WriterBinary == "" && !c.NoWriter {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("writer_binary: set it (or %s) to the esxi-writer to ship, or no_writer = true", EnvWriterBinary))
	}
	if c.WriterBinary != "" && c.NoWriter {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("writer_binary is set and no_writer = true: choose one"))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}
