package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

func newTestRoot(run func(cmd *cobra.Command, args []string) error) (*cobra.Command, *string) {
	var got string
	root := NewRoot("tool", "a tool", "")
	sub := &cobra.Command{Use: "sub ARG", Args: cobra.ExactArgs(1), RunE: run}
	sub.Flags().StringVar(&got, "name", Env("TOOL_TEST_NAME", "default"), EnvUsage("a name", "TOOL_TEST_NAME"))
	root.AddCommand(sub)
	return root, &got
}

func TestVersionMatchesPlugin(t *testing.T) {
	root, _ := newTestRoot(nil)
	var out bytes.Buffer
	root.SetOut(&out)
	if code := Run(root, []string{"--version"}, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "tool version " + version.PluginVersion.String() + "\n"
	if out.String() != want {
		t.Fatalf("--version printed %q, want %q", out.String(), want)
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	var seenArg string
	root, name := newTestRoot(func(cmd *cobra.Command, args []string) error {
		seenArg = args[0]
		return nil
	})
	var errOut bytes.Buffer
	if code := Run(root, []string{"sub", "x.iso", "--name", "n1"}, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if seenArg != "x.iso" || *name != "n1" {
		t.Fatalf("arg %q name %q", seenArg, *name)
	}
}

func TestEnvDefaultShownInHelp(t *testing.T) {
	t.Setenv("TOOL_TEST_NAME", "from-env")
	root, name := newTestRoot(func(*cobra.Command, []string) error { return nil })
	var out bytes.Buffer
	root.SetOut(&out)
	if code := Run(root, []string{"sub", "--help"}, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "env TOOL_TEST_NAME") || !strings.Contains(out.String(), `"from-env"`) {
		t.Fatalf("help lacks env default:\n%s", out.String())
	}
	_ = name
}

func TestErrorsAreOneLineWithExitCode(t *testing.T) {
	root, _ := newTestRoot(func(*cobra.Command, []string) error {
		return &ExitError{Code: 3, Err: errors.New("lint found 2 problems")}
	})
	var errOut bytes.Buffer
	code := Run(root, []string{"sub", "a"}, &errOut)
	if code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if errOut.String() != "tool: lint found 2 problems\n" {
		t.Fatalf("stderr %q", errOut.String())
	}
	root2, _ := newTestRoot(func(*cobra.Command, []string) error { return nil })
	errOut.Reset()
	if code := Run(root2, []string{"sub"}, &errOut); code != 1 {
		t.Fatalf("missing arg: exit %d, want 1", code)
	}
	if strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("want one error line, got %q", errOut.String())
	}
}
