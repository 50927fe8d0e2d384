package publish

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

// WriterName is the file name of the writer in a publish directory.
const WriterName = "esxi-writer"

// WriterPackage is the Go package the published writer must be built from.
const WriterPackage = "github.com/esxi-golden/packer-plugin-esxi/cmd/esxi-writer"

// ErrWriter is wrapped when the writer binary is not one we may publish.
var ErrWriter = errors.New("writer binary")

// checkWriter makes sure path is a static linux/amd64 ELF built from
// WriterPackage and reporting our version, because the directory promises
// a writer that runs in any Linux ramdisk (Tinkerbell Hook, a rescue
// system) and understands exactly this format version.
func checkWriter(ctx context.Context, path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w %s: not an ELF executable: %w", ErrWriter, path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("%w %s: machine %v, want %v (linux/amd64)", ErrWriter, path, f.Machine, elf.EM_X86_64)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w %s: dynamically linked (has an ELF interpreter); build it with CGO_ENABLED=0", ErrWriter, path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%w %s: needs shared libraries %v; build it with CGO_ENABLED=0", ErrWriter, path, libs)
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w %s: no Go build information: %w", ErrWriter, path, err)
	}
	if bi.Path != WriterPackage {
		return fmt.Errorf("%w %s: built from %q, want %q", ErrWriter, path, bi.Path, WriterPackage)
	}
	// Ask the binary itself: its version comes from the same
	// internal/version as ours, so a mismatch means another build.
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return nil // cannot run it here; identity was checked above
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w %s --version: %w: %s", ErrWriter, path, err, strings.TrimSpace(out.String()))
	}
	want := WriterName + " version " + version.String()
	if got := strings.TrimSpace(out.String()); got != want {
		return fmt.Errorf("%w %s: reports %q, want %q (publish with the writer built from the same version)", ErrWriter, path, got, want)
	}
	return nil
}
