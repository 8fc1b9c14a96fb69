#!/usr/bin/env bash
# Builds the files of midwife's stand-in diskless host, a `linux` image for
# `imagebuilder import --kind linux`:
#   OUT/vmlinuz        Debian's kernel, taken out of its .deb (never installed)
#   OUT/base.cpio.gz   busybox-static, the e1000 and virtio-net drivers, /init
#                      (scripts/linux-guest-init.sh) and the host agent
#   OUT/linux.cfg      kernel=, modules=, kernelopt=
#
# Usage: scripts/build-linux-guest.sh OUT [CACHE]
#   CACHE (default build/guest-cache) keeps the kernel .deb and what dpkg -x
#   took out of it, so only the first run downloads (one Debian package).
# Needs: apt-get, dpkg, cpio, gzip, busybox-static (scripts/install-deps.sh --test).
set -euo pipefail
out=${1:?usage: build-linux-guest.sh OUT [CACHE]}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${2:-$root/build/guest-cache}
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

# 1. The kernel and the NIC drivers the guest loads, taken out of the package
# linux-image-amd64 points at, once; concurrent callers wait on the lock.
modules=(drivers/net/ethernet/intel/e1000/e1000.ko
         drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
         drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko
         drivers/virtio/virtio_pci.ko net/core/failover.ko drivers/net/net_failover.ko
         drivers/net/virtio_net.ko)  # in load order
exec 9> "$cache/.lock"
flock -w 600 9
if [ ! -f "$cache/kernel/done" ]; then
  kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
  pkg=$(kernel_package)
  if [ -z "$pkg" ]; then
    # A fresh machine may have no package lists yet.
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    timeout 300 $SUDO apt-get update -q >&2 || true
    pkg=$(kernel_package)
  fi
  [ -n "$pkg" ] || { echo "build-linux-guest: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
  rm -rf "$cache/kernel" "$cache/x"
  if ! ls "$cache/$pkg"_*.deb >/dev/null 2>&1; then
    rm -f "$cache"/*.deb
    # _apt cannot write into root-owned folders; download to a world-writable one.
    dl=$(mktemp -d)
    chmod 0777 "$dl"
    (cd "$dl" && timeout 300 apt-get download -q "$pkg" >&2)
    mv "$dl"/*.deb "$cache/"
    rmdir "$dl"
  fi
  dpkg -x "$cache/$pkg"_*.deb "$cache/x"
  vmlinuz=$(ls "$cache"/x/boot/vmlinuz-* | head -n1)
  kver=${vmlinuz##*/vmlinuz-}
  mkdir -p "$cache/kernel/modules"
  cp "$vmlinuz" "$cache/kernel/vmlinuz"
  echo "$kver" > "$cache/kernel/version"
  for m in "${modules[@]}"; do
    cp "$cache/x/lib/modules/$kver/kernel/$m" "$cache/kernel/modules/"
  done
  rm -rf "$cache/x"  # the rest of the package: hundreds of MB the guest never loads
  touch "$cache/kernel/done"
fi
flock -u 9
kver=$(cat "$cache/kernel/version")

# 2. The initramfs, rebuilt each time (it takes well under a second).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,lib/modules,usr/share/udhcpc,var/run}
cp /bin/busybox "$stage/bin/busybox"
for applet in $("$stage/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done
# /init loads them in this order (a dependency before its user).
i=10
for m in "${modules[@]}"; do
  cp "$cache/kernel/modules/${m##*/}" "$stage/lib/modules/$i-${m##*/}"
  i=$((i + 1))
done
install -m 0755 "$root/scripts/linux-guest-init.sh" "$stage/init"
install -m 0755 "$root/bootserver/agent/midwife-agent.sh" "$stage/sbin/midwife-agent.sh"
cat > "$stage/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# busybox udhcpc: configure the lease, nothing else.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    echo "midwife-guest: $interface $ip/${mask:-24} router ${router:-none}" ;;
esac
exit 0
EOF
chmod 0755 "$stage/usr/share/udhcpc/default.script"
# /etc holds only plain files: the agent uploads all of it as the host's state.
echo "root:x:0:0:root:/root:/bin/sh" > "$stage/etc/passwd"
echo "root:x:0:" > "$stage/etc/group"
echo "midwife-guest" > "$stage/etc/hostname"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -4 > "$out/base.cpio.gz.tmp"
mv "$out/base.cpio.gz.tmp" "$out/base.cpio.gz"
cp "$cache/kernel/vmlinuz" "$out/vmlinuz"
cat > "$out/linux.cfg" <<EOF
title=midwife stand-in host (Debian $kver, busybox)
kernel=vmlinuz
modules=base.cpio.gz
kernelopt=console=ttyS0 panic=-1 quiet loglevel=3
EOF
echo "$out"
