#!/bin/sh
# What `make bench` needs beyond the build: QEMU (the comparison peer) and
# gnuplot (the plots). Installs the missing ones with apt-get when run as root;
# otherwise says how and carries on (the QEMU columns become n/a, plots are
# skipped).
PKGS="qemu-system-x86 gnuplot-nox"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "bench: missing:$missing; install with: sudo apt-get install -y$missing" >&2
	exit 0
fi
echo "bench: installing:$missing"
DEBIAN_FRONTEND=noninteractive apt-get update -q &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing ||
	echo "bench: could not install$missing; going on without" >&2
exit 0
