#!/bin/sh
# Installs the Debian 12 packages kvmm needs to build and test, skipping those
# already present. Needs root (or sudo) and access to Debian's archive.
set -e
PKGS="build-essential meson ninja-build pkg-config python3 clang
libcmocka-dev libjansson-dev zlib1g-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev libseccomp-dev liburing-dev
busybox-static cpio time acl seabios grub-pc-bin mtools qemu-utils"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
