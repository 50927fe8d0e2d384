package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/ocipush"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func init() { root.AddCommand(newPublishCmd()) }

func newPublishCmd() *cobra.Command {
	var (
		o                  publish.Options
		keyFile, chunkSize string
		level, writer      string
		labels             []string
		noProgress         bool
		push               string
		plainHTTP          bool
	)
	cmd := &cobra.Command{
		Use:   "publish RAW OUTDIR",
		Short: "Publish a raw disk image: seekable .img.zst, signed manifest, bmap, esxi-writer, SHA256SUMS",
		Long: `Publish compresses RAW into OUTDIR as <name>.img.zst (independent zstd frames
plus a seek table: an ordinary .zst that zstd -d and bmaptool also read), writes
<name>.manifest.json with per-chunk sha256 and signs it with minisign, writes
<name>.bmap for bmaptool, copies the esxi-writer of the same version, and writes
SHA256SUMS (signed too). Holes and all-zero chunks are never compressed.
Nothing appears in OUTDIR unless everything succeeded.

The signing key comes from --key, ` + sign.EnvKeyFile + ` or ` + sign.EnvKey + ` (the key text);
an encrypted key's password from ` + sign.EnvPassword + `.`,
		Example: `  # sign with a key file, ship ./esxi-writer, 4 MiB chunks
  esxi-image publish output/esxi.raw dist/esxi-8.0u3 --name esxi-8.0u3 --key ~/.minisign/esxi.key --writer bin/esxi-writer

  # check the result with stock tools
  cd dist/esxi-8.0u3 && sha256sum -c SHA256SUMS && minisign -Vm esxi-8.0u3.manifest.json -p esxi.pub
  bmaptool copy --bmap esxi-8.0u3.bmap esxi-8.0u3.img.zst /dev/sdX`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, out := args[0], args[1]
			if o.Name == "" {
				o.Name = strings.TrimSuffix(filepath.Base(raw), filepath.Ext(raw))
			}
			var err error
			if o.ChunkSize, err = publish.ParseSize(chunkSize); err != nil {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("--chunk-size: %w", err)}
			}
			if o.Level, err = format.ParseLevel(level); err != nil {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("--level: %w", err)}
			}
			o.Labels = map[string]string{}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("--label %q: want key=value", l)}
				}
				o.Labels[k] = v
			}
			if !o.Unsigned {
				src := sign.KeySourceFromEnv()
				if keyFile != "" {
					src.File = keyFile
				}
				if src.IsZero() {
					return &cli.ExitError{Code: 2, Err: fmt.Errorf("no signing key: pass --key, set %s or %s, or publish with --unsigned", sign.EnvKeyFile, sign.EnvKey)}
				}
				if o.Signer, err = sign.Load(src); err != nil {
					return err
				}
			}
			o.Writer = writer
			if o.Writer == "" && !o.NoWriter {
				o.Writer = writerBesideUs()
			}
			stderr := cmd.ErrOrStderr()
			if !noProgress {
				o.Progress = progressFunc(stderr)
			}
			res, err := publish.Publish(cmd.Context(), raw, out, o)
			if err != nil {
				return err
			}
			m := res.Manifest
			fmt.Fprintf(cmd.OutOrStdout(), "published %s: %d bytes raw, %d of %d chunks hold data, archive %d bytes\nimage sha256 %s\n",
				m.Name, m.Image.Size, m.Image.DataChunks, len(m.Chunks), m.Archive.Size, m.Image.SHA256)
			for _, f := range res.Files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			if push != "" {
				d, err := ocipush.Push(cmd.Context(), res, push, ocipush.OptionsFromEnv(plainHTTP))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", push, d.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "base name of the published files (default: RAW's name without extension)")
	f.StringVar(&keyFile, "key", "", cli.EnvUsage("minisign secret key file", sign.EnvKeyFile))
	f.BoolVar(&o.Unsigned, "unsigned", false, "publish without signatures")
	f.StringVar(&chunkSize, "chunk-size", "4MiB", "raw bytes per zstd frame (multiple of 4KiB)")
	f.StringVar(&level, "level", "default", "zstd level: fastest, default (≈ zstd -3), better, best")
	f.IntVar(&o.Workers, "workers", 0, "compression goroutines (default: all CPUs)")
	f.StringVar(&writer, "writer", cli.Env("ESXI_WRITER_BINARY", ""), cli.EnvUsage("esxi-writer binary to ship (default: esxi-writer next to this program)", "ESXI_WRITER_BINARY"))
	f.BoolVar(&o.NoWriter, "no-writer", false, "publish without an esxi-writer binary")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace a previous publish of the same name in OUTDIR")
	f.StringVar(&o.ESXi.Version, "esxi-version", "", "ESXi version recorded in the manifest (e.g. 8.0.3)")
	f.StringVar(&o.ESXi.Build, "esxi-build", "", "ESXi build recorded in the manifest (e.g. 24022510)")
	f.StringVar(&o.Agent.Version, "agent-version", "", "first-boot agent version recorded in the manifest")
	f.StringArrayVar(&labels, "label", nil, "provenance label key=value for the manifest (repeatable)")
	f.BoolVar(&noProgress, "no-progress", false, "do not show progress")
	f.StringVar(&push, "push", "", "also push the directory to this OCI reference (host/repo:tag; credentials from "+ocipush.EnvUsername+"/"+ocipush.EnvPassword+")")
	f.BoolVar(&plainHTTP, "plain-http", false, "push over plain HTTP (a registry on loopback or a provisioning network)")
	return cmd
}

// writerBesideUs finds esxi-writer next to the running esxi-image, the
// layout `make build` produces; empty if there is none.
func writerBesideUs() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), publish.WriterName)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// progressFunc draws a bar on a terminal and prints nothing otherwise
// (logs and CI get the one summary at the end).
func progressFunc(w io.Writer) func(publish.Progress) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(p publish.Progress) {
		if bar == nil {
			bar = progressbar.NewOptions64(p.RawSize,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("publishing"),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100_000_000),
				progressbar.OptionClearOnFinish())
		}
		_ = bar.Set64(p.Raw)
		if p.Chunk == p.Chunks {
			_ = bar.Finish()
		}
	}
}
