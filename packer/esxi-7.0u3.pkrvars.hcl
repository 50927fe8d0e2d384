# ESXi 7.0 Update 3 (e.g. VMware-VMvisor-Installer-7.0U3n-21930508.x86_64.iso).
# Point iso_url at your copy; write its checksum file with
#   sha256sum VMware-*.iso > VMware-*.iso.sha256 (or give "sha256:<hex>").
# Pass root_password with -var or PKR_VAR_root_password, never in this file.
iso_url      = "VMware-VMvisor-Installer-7.0U3n-21930508.x86_64.iso"
iso_checksum = "file:VMware-VMvisor-Installer-7.0U3n-21930508.x86_64.iso.sha256"
esxi_version = "7.0"
disk_size    = "16G"
memory       = 8192
cpus         = 4
image_name   = "esxi-7.0u3.raw"
output_dir   = "dist/esxi-7.0u3"
