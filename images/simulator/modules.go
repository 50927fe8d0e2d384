package simulator

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// BootModules are the kernel modules the simulator needs in QEMU: the q35
// AHCI and pc IDE controllers, CD and disk drivers, and ISO9660. Their
// dependencies come from the modules.dep that `depmod -b` writes.
var BootModules = []string{"ahci", "ata_piix", "sr_mod", "sd_mod", "isofs"}

// softDeps are modules that modules.dep does not list but that must be
// loaded first (modules.softdep "pre:" entries the simulator needs: the
// CRC helpers sd_mod's T10-PI code looks up by name at load time).
var softDeps = map[string][]string{
	"crc-t10dif":     {"crct10dif_common"},
	"crc64-rocksoft": {"crc64"},
}

// ModuleLoadOrder reads a modules.dep and returns the relative paths of
// want and everything they depend on, each after its dependencies, so a
// loader can finit_module them in order. Names match with '-' and '_' equal.
func ModuleLoadOrder(modulesDep io.Reader, want []string) ([]string, error) {
	deps := map[string][]string{} // module path -> dependency paths
	byName := map[string]string{} // normalised name -> module path
	sc := bufio.NewScanner(modulesDep)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no ':' in %q", line, text)
		}
		deps[mod] = strings.Fields(rest)
		byName[modName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	var order []string
	done := map[string]bool{}
	var visit func(p string, stack []string) error
	visit = func(p string, stack []string) error {
		if done[p] {
			return nil
		}
		for _, s := range stack {
			if s == p {
				return fmt.Errorf("modules.dep: dependency cycle through %s", p)
			}
		}
		stack = append(stack, p)
		for _, sd := range softDeps[modName(p)] {
			if sp, ok := byName[modName(sd)]; ok {
				if err := visit(sp, stack); err != nil {
					return err
				}
			}
		}
		// modprobe loads a module's dependency list from the end.
		d := deps[p]
		for i := len(d) - 1; i >= 0; i-- {
			if err := visit(d[i], stack); err != nil {
				return err
			}
		}
		done[p] = true
		order = append(order, p)
		return nil
	}
	for _, w := range want {
		p, ok := byName[modName(w)]
		if !ok {
			return nil, fmt.Errorf("modules.dep: no module %q", w)
		}
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func modName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}
