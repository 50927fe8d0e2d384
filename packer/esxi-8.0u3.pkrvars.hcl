# ESXi 8.0 Update 3 (e.g. VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso).
# ESXi 8 needs a disk of at least 32G. Pass root_password with -var or
# PKR_VAR_root_password, never in this file.
iso_url      = "VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso"
iso_checksum = "file:VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso.sha256"
esxi_version = "8.0"
disk_size    = "40G"
memory       = 8192
cpus         = 4
image_name   = "esxi-8.0u3.raw"
output_dir   = "dist/esxi-8.0u3"
boot_options = ["cpuUniformityHardCheckPanic=FALSE"]
