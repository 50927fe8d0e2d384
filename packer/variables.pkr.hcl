variable "iso_url" {
  type        = string
  description = "ESXi installer ISO: a path or URL (VMware-VMvisor-Installer-*.iso), or the simulator ISO."
}

variable "iso_checksum" {
  type        = string
  description = "Checksum of the ISO, e.g. \"sha256:<hex>\", or \"file:<path or URL>\"."
}

variable "esxi_version" {
  type        = string
  default     = "8.0"
  description = "ESXi major.minor the image is for: \"7.0\" or \"8.0\". Sets defaults that differ between them."
  validation {
    condition     = contains(["7.0", "8.0"], var.esxi_version)
    error_message = "The esxi_version must be \"7.0\" or \"8.0\"."
  }
}

variable "disk_size" {
  type        = string
  default     = "40G"
  description = "Installed disk size (K, M, G or T suffix). ESXi 8 needs at least 32G."
}

variable "root_password" {
  type        = string
  sensitive   = true
  description = "Root password of the installed host (7-40 printable ASCII characters; the installer's password policy applies)."
  validation {
    condition     = length(var.root_password) >= 7 && length(var.root_password) <= 40
    error_message = "The root_password must be 7 to 40 characters long (ESXi's rule)."
  }
}

variable "firstboot_script" {
  type        = string
  default     = ""
  description = "Body of the kickstart %firstboot section (busybox): the first-boot agent or its launcher, run once on the target machine. Empty: the kickstart package's default agent launcher."
}

variable "post_commands" {
  type        = list(string)
  default     = []
  description = "Extra %post commands run before the builder's completion marker and halt."
}

variable "boot_options" {
  type        = list(string)
  default     = []
  description = "Extra installer boot options (kernelopt words), e.g. [\"cpuUniformityHardCheckPanic=FALSE\"]."
}

variable "memory" {
  type        = number
  default     = 8192
  description = "Guest memory in MiB (real ESXi needs 8192)."
}

variable "cpus" {
  type        = number
  default     = 4
  description = "Guest vCPUs."
}

variable "install_timeout" {
  type        = string
  default     = "60m"
  description = "Upper bound for the whole install (Go duration)."
}

variable "output_dir" {
  type        = string
  default     = "dist/esxi"
  description = "Where the raw image, serial console log and redacted kickstart are written."
}

variable "image_name" {
  type        = string
  default     = "esxi-golden.raw"
  description = "File name of the raw image in output_dir."
}
