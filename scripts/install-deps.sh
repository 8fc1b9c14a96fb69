#!/usr/bin/env bash
# Installs the Debian 12 packages midwife builds and tests with, only those
# missing, so a second run costs a dpkg query and nothing else.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config ccache
  # libraries
  libabsl-dev libarchive-dev libboost-dev libboost-system-dev librocksdb-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libssl-dev zlib1g-dev libdeflate-dev libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  # served to hosts: Debian's iPXE binaries
  ipxe
  # the demo image `./midwife run` publishes (scripts/build-linux-guest.sh)
  busybox-static cpio
)
if [ "${1:-}" = "--test" ]; then
  # real peers the tests talk to
  packages+=(curl openssl tftp-hpa atftp)
  # the state store's etcd engine: tests start a 3-member cluster of their
  # own (loopback ports, own data dirs); the package's etcd service, if
  # systemd starts one, is not used
  packages+=(etcd-server etcd-client)
  # end-to-end tests (tests/e2e): QEMU with its iPXE ROMs and OVMF for UEFI,
  # dnsmasq's binary (no service) as the site's plain DHCP server, ip for
  # the namespace, bridge and tap
  packages+=(qemu-system-x86 ipxe-qemu ovmf dnsmasq-base iproute2)
  # fuzzing (fuzz/, scripts/fuzz.sh): clang with libFuzzer and its sanitizers
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
