package iso

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

func TestQemuArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		over  map[string]interface{}
		accel string
		want  []string // each must appear as an adjacent flag/value pair
		never []string
	}{
		{"q35 ahci vmxnet3 kvm", nil, "kvm",
			[]string{"-machine q35,accel=kvm", "-cpu host", "-device ide-hd,drive=disk0,bus=ide.0,bootindex=2", "-device ide-cd,drive=cd0,bus=ide.1,bootindex=1", "-device vmxnet3,netdev=net0", "-serial stdio", "-smp 1", "-m 512"},
			[]string{"virtio", "if=pflash"}},
		{"tcg uses max", nil, "tcg", []string{"-machine q35,accel=tcg", "-cpu max"}, []string{"-cpu host"}},
		{"pc ide e1000e", map[string]interface{}{"machine_type": "pc", "disk_interface": "ide", "net_device": "e1000e"}, "kvm",
			[]string{"-machine pc,accel=kvm", "-device ide-hd,drive=disk0,bus=ide.0,unit=0,bootindex=2", "-device e1000e,netdev=net0"}, []string{"ahci"}},
		{"pc ahci adds a controller", map[string]interface{}{"machine_type": "pc"}, "kvm",
			[]string{"-device ahci,id=ahci0", "-device ide-hd,drive=disk0,bus=ahci0.0,bootindex=2"}, nil},
		{"uefi", map[string]interface{}{"firmware": "uefi", "ovmf_code": "/x/CODE.fd"}, "kvm",
			[]string{"-drive if=pflash,format=raw,unit=0,readonly=on,file=/x/CODE.fd", "-drive if=pflash,format=raw,unit=1,file=/t/vars.fd"}, nil},
		{"no nic", map[string]interface{}{"net_device": "none"}, "kvm", []string{"-nic none"}, []string{"-netdev"}},
		{"cpu model", map[string]interface{}{"cpu_model": "Cascadelake-Server"}, "kvm", []string{"-cpu Cascadelake-Server"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, tc.over)
			args, err := qemuArgs(c, qemuInputs{Accel: tc.accel, ISO: "/t/boot.iso", Disk: "/o/disk,1.raw", QMPSocket: "/t/qmp.sock", OVMFVars: "/t/vars.fd"})
			if err != nil {
				t.Fatal(err)
			}
			joined := " " + strings.Join(args, " ") + " "
			for _, w := range append(tc.want, "-no-reboot", "-qmp unix:/t/qmp.sock,server=on,wait=off", "file=/o/disk,,1.raw") {
				if !strings.Contains(joined, " "+w) {
					t.Errorf("args lack %q:\n%s", w, joined)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(joined, n) {
					t.Errorf("args contain %q:\n%s", n, joined)
				}
			}
		})
	}
}

func TestChooseAccel(t *testing.T) {
	probeErr := errors.New("failed to set MSR 0x10a")
	for _, tc := range []struct {
		name    string
		accel   string
		kvmOpen bool
		probe   error
		want    string
		wantErr error
		probed  bool
	}{
		{"auto with kvm", "auto", true, nil, "kvm", nil, true},
		{"auto, kvm does not open", "auto", false, nil, "tcg", nil, false},
		{"auto, kvm opens but fails", "auto", true, probeErr, "tcg", nil, true},
		{"kvm forced, fails", "kvm", true, probeErr, "", ErrKVMUnusable, true},
		{"kvm forced, no device", "kvm", false, nil, "", ErrNoKVM, false},
		{"tcg never probes", "tcg", true, nil, "tcg", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, map[string]interface{}{"accelerator": tc.accel})
			d := &DriverMock{ProbeErr: tc.probe}
			s := &stepRunQemu{kvm: func() bool { return tc.kvmOpen }}
			got, err := s.chooseAccel(context.Background(), c, d)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("chooseAccel = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			if probed := len(d.CallsTo("qemu-probe-kvm")) > 0; probed != tc.probed {
				t.Errorf("probed = %v, want %v (calls %q)", probed, tc.probed, d.Calls)
			}
		})
	}
}

func TestStepRunQemuStartsAndCleanupStops(t *testing.T) {
	c := testConfig(t, map[string]interface{}{"accelerator": "tcg"})
	d := &DriverMock{Hang: true}
	state, out := testState(t, c, d)
	state.Put(keyBootISO, "/t/boot.iso")
	state.Put(keyDiskPath, c.OutputDir+"/disk.raw")
	s := &stepRunQemu{}
	if got := s.Run(context.Background(), state); got != multistep.ActionContinue {
		t.Fatalf("Run = %v: %v", got, stateErr(state))
	}
	if !strings.Contains(out.String(), "TCG software emulation") {
		t.Errorf("no TCG speed warning in UI output:\n%s", out)
	}
	calls := d.CallsTo("qemu")
	if len(calls) != 1 || !strings.Contains(strings.Join(calls[0], " "), "-machine q35,accel=tcg") {
		t.Fatalf("qemu calls = %q", calls)
	}
	s.Cleanup(state)
	if !d.Machines[0].Stopped {
		t.Error("Cleanup did not stop QEMU")
	}
}

func TestStepRunQemuStartFails(t *testing.T) {
	c := testConfig(t, map[string]interface{}{"accelerator": "tcg"})
	d := &DriverMock{StartErr: errors.New("exec: qemu-system-x86_64: not found")}
	state, _ := testState(t, c, d)
	state.Put(keyBootISO, "/t/boot.iso")
	state.Put(keyDiskPath, "/o/disk.raw")
	s := &stepRunQemu{}
	if got := s.Run(context.Background(), state); got != multistep.ActionHalt {
		t.Fatalf("Run = %v, want halt", got)
	}
	if err := stateErr(state); err == nil || !strings.Contains(err.Error(), "run qemu: exec: qemu-system-x86_64: not found") {
		t.Errorf("error = %v", err)
	}
	s.Cleanup(state)
}
