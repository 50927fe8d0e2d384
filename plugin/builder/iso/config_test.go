package iso

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	_, err := c.Prepare(map[string]interface{}{
		"iso_url": "x.iso", "iso_checksum": "none", "root_password": "Golden-Test-42x",
		"packer_build_name": "golden",
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]any{
		"output_directory": c.OutputDir == "output-golden", "disk_name": c.DiskName == "golden.raw",
		"disk_size": c.DiskSize == "40G", "disk_interface": c.DiskInterface == "ahci", "net_device": c.NetDevice == "vmxnet3",
		"memory": c.Memory == 8192, "cpus": c.CPUs == 4, "accelerator": c.Accelerator == "auto",
		"machine_type": c.MachineType == "q35", "firmware": c.Firmware == "bios", "install_timeout": c.InstallTimeout == time.Hour,
		"esxi_version": c.ESXiVersion == "8.0", "ignore_prereqs": c.IgnorePrereqs != nil && *c.IgnorePrereqs,
	} {
		if got != true {
			t.Errorf("default of %s is wrong: %+v", name, c)
		}
	}
}

// Every problem is reported, each naming its field.
func TestConfigErrorsNameTheField(t *testing.T) {
	var c Config
	_, err := c.Prepare(map[string]interface{}{
		"iso_url": "x.iso", "iso_checksum": "none",
		"disk_size": "40 gigs", "disk_interface": "virtio", "net_device": "virtio-net", "accelerator": "hvf",
		"machine_type": "microvm", "firmware": "coreboot", "memory": 16, "cpus": -1,
		"system_media_size": "huge", "boot_options": []string{"ok=1", "two words"}, "disk_name": "a/b.raw",
		"install_timeout": "-5m",
	})
	if err == nil {
		t.Fatal("Prepare accepted a bad config")
	}
	for _, want := range []string{
		`disk_size: "40 gigs" is not a number`, `disk_interface: "virtio" is not one of ahci, ide`,
		`net_device: "virtio-net" is not one of vmxnet3, e1000e, none`, `accelerator: "hvf"`,
		`machine_type: "microvm"`, `firmware: "coreboot"`, "memory: 16 MiB is too small", "cpus: -1",
		`system_media_size: "huge"`, `boot_options[1]: "two words"`, `disk_name: "a/b.raw" must be a file name`,
		"install_timeout: -5m0s must be positive", "root_password: required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestConfigIDEOnQ35(t *testing.T) {
	var c Config
	_, err := c.Prepare(map[string]interface{}{"iso_url": "x.iso", "iso_checksum": "none", "root_password": "Golden-Test-42x", "disk_interface": "ide"})
	if err == nil || !strings.Contains(err.Error(), `disk_interface: "ide" needs machine_type = "pc"`) {
		t.Errorf("err = %v", err)
	}
}

// A kickstart lint error fails Prepare, so `packer validate` fails on it,
// and the message never shows the password.
func TestConfigKickstartLintFailsPrepare(t *testing.T) {
	for _, tc := range []struct {
		over map[string]interface{}
		want string
	}{
		{map[string]interface{}{"root_password": "password"}, "rootpw"},
		{map[string]interface{}{"root_password": "Golden-Test-42x", "esxi_version": "eight"}, "kickstart"},
		{map[string]interface{}{"root_password": "Golden-Test-42x", "post_commands": []string{"%firstboot"}}, "kickstart"},
		{map[string]interface{}{"root_password": "Golden-Test-42x", "root_password_crypted": "$6$abc$def"}, "give only one"},
	} {
		var c Config
		raw := map[string]interface{}{"iso_url": "x.iso", "iso_checksum": "none"}
		for k, v := range tc.over {
			raw[k] = v
		}
		_, err := c.Prepare(raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.over, err, tc.want)
			continue
		}
		if pw, _ := tc.over["root_password"].(string); pw != "" && strings.Contains(err.Error(), pw) && pw != "password" {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"40G": 40 << 30, "512M": 512 << 20, "1T": 1 << 40, "64k": 64 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "40", "G", "-1G", "1.5G", "99999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestBootOptions(t *testing.T) {
	c := testConfig(t, map[string]interface{}{"system_media_size": "min", "allow_legacy_cpu": true,
		"boot_options": []string{"cpuUniformityHardCheckPanic=FALSE", "ks=usb"}})
	got := bootOptions(c, nil).String()
	// A user's ks= replaces ours: boot_options are the last word.
	want := "runweasel ks=usb com1_Port=0x3f8 tty2Port=com1 systemMediaSize=min allowLegacyCPU=true cpuUniformityHardCheckPanic=FALSE"
	if got != want {
		t.Errorf("bootOptions = %q\nwant          %q", got, want)
	}
	c = testConfig(t, nil)
	if got := bootOptions(c, nil).String(); !strings.HasPrefix(got, "runweasel ks=cdrom:/KS.CFG com1_Port=0x3f8 tty2Port=com1") {
		t.Errorf("bootOptions = %q", got)
	}
}
