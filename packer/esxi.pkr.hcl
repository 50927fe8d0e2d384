# Builds a never-booted ESXi golden disk image: the installer runs once
# under QEMU with a kickstart baked into a remastered ISO, halts at the end
# of %post, and the raw disk is the artifact. Run with `make image`, or:
#   packer build -var-file=packer/esxi-8.0u3.pkrvars.hcl -var root_password=... packer/
packer {
  required_version = ">= 1.11.0"
  required_plugins {
    esxi = {
      source  = "github.com/esxi-golden/esxi"
      version = ">= 0.1.0"
    }
  }
}

locals {
  # systemMediaSize=min keeps OSDATA small on 7.0 U1c+ / 8.0 installs.
  system_media_size = "min"
}

source "esxi-iso" "golden" {
  iso_url      = var.iso_url
  iso_checksum = var.iso_checksum

  output_directory = var.output_dir
  disk_name        = var.image_name
  disk_size        = var.disk_size
  memory           = var.memory
  cpus             = var.cpus
  install_timeout  = var.install_timeout

  system_media_size = local.system_media_size
  boot_options      = var.boot_options

  esxi_version     = var.esxi_version
  root_password    = var.root_password
  post_commands    = var.post_commands
  firstboot_script = var.firstboot_script
}

build {
  sources = ["source.esxi-iso.golden"]

  post-processor "manifest" {
    output     = "${var.output_dir}/manifest.json"
    strip_path = true
    custom_data = {
      esxi_version = "${build.ESXiVersion}"
      esxi_build   = "${build.ESXiBuild}"
    }
  }
}
