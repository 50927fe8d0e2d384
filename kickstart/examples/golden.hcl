# Spec for `esxi-image kickstart render examples/golden.hcl`: the golden-image
# preset (kickstart.Golden). Every attribute is optional except one of
# root_password / root_password_crypted. JSON with the same names works too
# (golden.json).

preset       = "golden"
esxi_version = "8.0" # gates version-specific options; "7.0.3" etc.

# Plaintext is policy-checked, then written as a SHA-512 crypt hash ($6$,
# no rounds=). env() fails when the variable is unset.
root_password = env("ESXI_ROOT_PASSWORD")
# root_password_crypted = "$6$salt$..."   # instead of root_password
# plaintext_rootpw      = false           # true writes the plaintext
# crypt_salt            = "fixedsalt"     # reproducible output

# Disk: --firstdisk with optional filters, or an explicit disk.
first_disk_filters = ["local"]
# disk             = "mpx.vmhba0:C0:T0:L0"
ignore_ssd         = false
preserve_vmfs      = false # default writes --overwritevmfs
no_vmfs_on_disk    = false

# QEMU and unsupported hardware.
ignore_prereq_warnings    = true
ignore_prereq_errors      = true
force_unsupported_install = true

nic      = "vmnic0" # DHCP on this NIC
vlan_id  = 0        # 0 = untagged
keyboard = "US Default"

# Run in %post before the preset's final `halt`.
post_commands = [
  "echo installed > /vmfs/volumes/BOOTBANK1/esxi-golden-installed",
]

# %firstboot body; omit for the default launcher (kickstart.DefaultFirstbootBody).
# firstboot_body = file("firstboot.sh")
