# The ESXi installer simulator (`make simulator`): same build, a ~13 MB ISO
# whose "installer" is a Linux kernel + Go init, for CI and machines
# without KVM or a VMware ISO. `make image` passes iso_url/iso_checksum.
esxi_version     = "8.0"
disk_size        = "40G"
memory           = 512
cpus             = 1
install_timeout  = "5m"
image_name       = "esxi-golden.raw"
output_dir       = "dist/esxi"
firstboot_script = <<-EOT
  # Golden-image first boot: give clones their own identity.
  sed -i '/\/system\/uuid\s*=/d' /etc/vmware/esx.conf
  esxcli system settings advanced set -o /Net/FollowHardwareMac -i 1
EOT
