#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing, and
# says nothing when all are present. Run as root (CI and dev machines are).
# Each package is here because a test or build step uses it as a real tool
# or as an independent checker of what we write.
set -euo pipefail

packages=(
  xorriso genisoimage          # ISO remaster checks (xorriso -report_el_torito, isoinfo -l)
  mtools dosfstools            # FAT16 bootbank checks (mdir/mtype, fsck.fat) and mkfs.fat
  gdisk fdisk                  # GPT checks (sgdisk -v)
  qemu-system-x86 qemu-utils   # the builder's QEMU and qemu-img
  ovmf                         # UEFI firmware for EFI boots under QEMU
  isolinux syslinux-common     # BIOS boot of the installer simulator ISO
  kmod cpio                    # depmod for the simulator kernel's modules
  zstd xz-utils bzip2          # peers and independent decoders for published images
  bmap-tools minisign          # bmaptool copy / minisign -V as independent checkers
  curl                         # make bench-writer times the curl | zstd -dc | dd peer
  openssl                      # kickstart tests cross-check our SHA-512 crypt with openssl passwd -6
  busybox-static               # ESXi's shell is busybox ash: firstboot/launcher tests run the %firstboot script with it
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to apt-get install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
