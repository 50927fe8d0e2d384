package disk

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotESXi means the partition table is not an ESXi layout.
var ErrNotESXi = errors.New("not an ESXi disk layout")

// TablePartition is one used GPT entry as read from a disk.
type TablePartition struct {
	Number   int
	Name     string
	Type     string // upper-case GUID
	FirstLBA uint64
	LastLBA  uint64
}

// Identify classifies a partition table as an ESXi layout and assigns
// roles. The error is one line naming what was expected and what was found.
func Identify(parts []TablePartition, diskBytes int64) (Layout, error) {
	byNum := map[int]TablePartition{}
	for _, p := range parts {
		byNum[p.Number] = p
	}
	has := func(n int, typ string) bool {
		p, ok := byNum[n]
		return ok && strings.EqualFold(p.Type, typ)
	}
	l := Layout{DiskBytes: diskBytes}
	switch {
	case has(1, TypeESP) && has(5, TypeBasicData) && has(6, TypeBasicData) && has(7, TypeVMFSL):
		l.Family = Family7
	case has(1, TypeESP) && has(5, TypeBasicData) && has(6, TypeBasicData) && has(7, TypeVMKDiag):
		l.Family = Family6
	default:
		return Layout{}, fmt.Errorf("%w: want GPT partitions 1 (EFI system), 5 and 6 (bootbanks, basic data) and 7 (VMFS-L OSDATA, or 6.x diagnostic); found %s", ErrNotESXi, describe(parts))
	}
	for _, p := range parts {
		if p.LastLBA < p.FirstLBA || int64(p.LastLBA) >= diskBytes/sector {
			return Layout{}, fmt.Errorf("%w: partition %d spans LBA %d-%d, beyond the %d-byte disk", ErrNotESXi, p.Number, p.FirstLBA, p.LastLBA, diskBytes)
		}
		role := roleOf(l.Family, p)
		l.Partitions = append(l.Partitions, Partition{Number: p.Number, Name: p.Name, Type: strings.ToUpper(p.Type), Role: role, FirstLBA: p.FirstLBA, LastLBA: p.LastLBA})
	}
	sort.Slice(l.Partitions, func(i, j int) bool { return l.Partitions[i].FirstLBA < l.Partitions[j].FirstLBA })
	return l, nil
}

func roleOf(fam Family, p TablePartition) Role {
	t := strings.ToUpper(p.Type)
	switch {
	case p.Number == 1 && t == TypeESP:
		return RoleBoot
	case p.Number == 5:
		return RoleBootbank1
	case p.Number == 6:
		return RoleBootbank2
	case t == TypeVMFSL:
		return RoleOSData
	case t == TypeVMFS:
		return RoleDatastore
	case t == TypeVMKDiag:
		return RoleDiagnostic
	case fam == Family6 && p.Number == 8:
		return RoleStore
	case fam == Family6 && p.Number == 2:
		return RoleScratch
	}
	return Role("other")
}

func describe(parts []TablePartition) string {
	if len(parts) == 0 {
		return "no partitions"
	}
	var s []string
	for _, p := range parts {
		s = append(s, fmt.Sprintf("%d (%s)", p.Number, typeName(p.Type)))
	}
	return strings.Join(s, ", ")
}

func typeName(t string) string {
	switch strings.ToUpper(t) {
	case TypeESP:
		return "EFI system"
	case TypeBasicData:
		return "basic data"
	case TypeVMFSL:
		return "VMFS-L"
	case TypeVMFS:
		return "VMFS"
	case TypeVMKDiag:
		return "vmkDiagnostic"
	case "0FC63DAF-8483-4772-8E79-3D69D8477DE4":
		return "Linux filesystem"
	}
	return t
}
