package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

func init() { root.AddCommand(newKickstartCmd()) }

func newKickstartCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "kickstart",
		Short: "Lint and render ESXi installer kickstart (ks.cfg) files",
	}
	c.AddCommand(newKickstartLintCmd(), newKickstartRenderCmd())
	return c
}

func newKickstartLintCmd() *cobra.Command {
	var esxi, format, includeRoot string
	var strict bool
	c := &cobra.Command{
		Use:   "lint FILE",
		Short: "Report what the ESXi installer would reject or silently change in a kickstart",
		Long: `Parses FILE ("-" for stdin) the way the ESXi installer does and prints one
finding per line:

  FILE:LINE: COMMAND: RULE: SEVERITY: MESSAGE; fix: FIX

Exits 1 when there is an error finding (with --strict, any finding).
With --include-root DIR, %include files are read from DIR (installer path
/tmp/x.cfg = DIR/tmp/x.cfg) and checked together with FILE; without it a
command that an %include may provide is only a warning.`,
		Example: `  esxi-image kickstart lint ks.cfg
  esxi-image kickstart lint --esxi 7.0.3 ks.cfg
  curl -s http://10.0.0.1/ks.cfg | esxi-image kickstart lint - --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := kickstart.ParseVersion(esxi)
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			if format != "text" && format != "json" {
				return &cli.ExitError{Code: 2, Err: fmt.Errorf("--format %q: want text or json", format)}
			}
			name := args[0]
			var r io.Reader = cmd.InOrStdin()
			if name == "-" {
				name = "<stdin>"
			} else {
				f, err := os.Open(name)
				if err != nil {
					return &cli.ExitError{Code: 2, Err: err}
				}
				defer f.Close()
				r = f
			}
			ks, err := kickstart.Parse(r, name)
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			opts := kickstart.LintOptions{ESXi: v}
			findings := kickstart.Lint(ks, opts)
			if includeRoot != "" {
				files, err := kickstart.ResolveIncludes(ks, func(p string) (io.ReadCloser, error) {
					if !strings.HasPrefix(p, "/") {
						return nil, fmt.Errorf("only local paths can be read under --include-root, not %q", p)
					}
					return os.Open(filepath.Join(includeRoot, filepath.FromSlash(p)))
				})
				if err != nil {
					return &cli.ExitError{Code: 1, Err: err}
				}
				findings = kickstart.LintResolved(files, opts)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if findings == nil {
					findings = []kickstart.Finding{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(findings); err != nil {
					return err
				}
			} else {
				for _, f := range findings {
					fmt.Fprintln(out, f)
				}
			}
			var nErr, nWarn int
			for _, f := range findings {
				if f.Severity == kickstart.Error {
					nErr++
				} else {
					nWarn++
				}
			}
			if nErr > 0 || (strict && nWarn > 0) {
				return &cli.ExitError{Code: 1, Err: fmt.Errorf("%s: %d error(s), %d warning(s) for ESXi %s", name, nErr, nWarn, v)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&esxi, "esxi", cli.Env("ESXI_VERSION", "8.0"), cli.EnvUsage("target ESXi release for version-gated options (8.0, 7.0.3)", "ESXI_VERSION"))
	c.Flags().StringVar(&format, "format", "text", "output format: text or json")
	c.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too")
	c.Flags().StringVar(&includeRoot, "include-root", "", "read %include files under this directory and lint them with FILE")
	return c
}

func newKickstartRenderCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "render SPEC",
		Short: "Render the golden-image kickstart from an HCL or JSON spec",
		Long: `Reads SPEC (.hcl or .json; schema and example in kickstart/examples/golden.hcl),
builds the golden-image preset, lints it for the spec's ESXi release and writes
the kickstart to stdout or --output. Nothing is written when the spec or the
result has an error. A plaintext root_password is written as a SHA-512 crypt hash.`,
		Example: `  ESXI_ROOT_PASSWORD='VMware1!golden' esxi-image kickstart render kickstart/examples/golden.hcl
  esxi-image kickstart render spec.json -o http/ks.cfg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := kickstart.LoadSpec(args[0])
			if err != nil {
				return &cli.ExitError{Code: 2, Err: err}
			}
			ks, err := kickstart.Golden(spec.GoldenOptions())
			if err != nil {
				return &cli.ExitError{Code: 1, Err: err}
			}
			out, err := ks.Render()
			if err != nil {
				return &cli.ExitError{Code: 1, Err: err}
			}
			if output == "" || output == "-" {
				_, err := cmd.OutOrStdout().Write(out)
				return err
			}
			return writeFileAtomic(output, out)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write the kickstart here instead of stdout (replaced atomically)")
	return c
}

// writeFileAtomic writes beside the target and renames, so a reader (an
// HTTP server handing ks.cfg to an installer) never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
