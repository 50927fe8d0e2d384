package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func init() { root.AddCommand(newVerifyCmd()) }

func newVerifyCmd() *cobra.Command {
	var (
		name, pub   string
		noSignature bool
		workers     int
	)
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Verify a publish directory: signature, manifest, every chunk, both digests",
		Long: `Verify checks a publish directory the way a writer would before touching a
disk: the manifest's minisign signature, the manifest itself, the archive's
seek table, every frame (zero frames too), and the archive's and raw image's
sha256. The first problem is reported with the field or chunk it concerns.`,
		Example: `  esxi-image verify dist/esxi-8.0u3 --pub esxi.pub`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if pub == "" && !noSignature {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("pass --pub KEY.pub (or ESXI_MINISIGN_PUB), or --no-signature to skip the signature check")}
			}
			mpath, err := manifestPath(dir, name)
			if err != nil {
				return err
			}
			mb, err := os.ReadFile(mpath)
			if err != nil {
				return err
			}
			if !noSignature {
				key, err := sign.LoadPublicKey(pub)
				if err != nil {
					return err
				}
				sig, err := os.ReadFile(mpath + format.SignatureSuffix)
				if err != nil {
					return fmt.Errorf("signature: %w", err)
				}
				comment, err := sign.Verify(key, mb, sig)
				if err != nil {
					return fmt.Errorf("%s: %w", filepath.Base(mpath), err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signature ok (key %s): %s\n", strings.ToUpper(fmt.Sprintf("%x", key.ID())), comment)
			}
			m, err := format.ParseManifest(mb)
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(mpath), err)
			}
			f, err := os.Open(filepath.Join(dir, m.Archive.File))
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if err := format.Verify(cmd.Context(), f, st.Size(), m, workers); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s ok: %d chunks (%d with data), image sha256 %s\n", m.Archive.File, len(m.Chunks), m.Image.DataChunks, m.Image.SHA256)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "image name (default: the only *.manifest.json in DIR)")
	f.StringVar(&pub, "pub", cli.Env("ESXI_MINISIGN_PUB", ""), cli.EnvUsage("minisign public key file", "ESXI_MINISIGN_PUB"))
	f.BoolVar(&noSignature, "no-signature", false, "do not check the manifest's signature")
	f.IntVar(&workers, "workers", 0, "decoding goroutines (default: all CPUs)")
	return cmd
}

func manifestPath(dir, name string) (string, error) {
	if name != "" {
		return filepath.Join(dir, name+format.ManifestSuffix), nil
	}
	found, err := filepath.Glob(filepath.Join(dir, "*"+format.ManifestSuffix))
	if err != nil {
		return "", err
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%s: %d manifests (*%s); pass --name", dir, len(found), format.ManifestSuffix)
	}
	return found[0], nil
}
