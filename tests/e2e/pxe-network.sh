#!/bin/bash
# The site network of the full PXE tests, between two network namespaces the
# test holds open with `unshare -n sleep` processes (so the namespaces, and
# every link in them, vanish with the test's processes, however it ends):
#
#   boot namespace (SITE_PID)                       dhcp namespace (DHCP_PID)
#   br0 192.168.77.1/24  ── veth0 ═══════════════════ veth1 192.168.77.2/24
#     └─ tap0 (QEMU's NIC)                              dnsmasq: plain DHCP
#   bootserver: ProxyDHCP 67/4011, TFTP 69, HTTP
#
# The site's DHCP server sits in a namespace of its own, as on a real
# network: it and the boot server's ProxyDHCP both listen on port 67.
#
# Usage: pxe-network.sh SITE_PID DHCP_PID   (as root)
set -euo pipefail
site=$1
dhcp=$2
in_site() { nsenter --net="/proc/$site/ns/net" -- "$@"; }
in_dhcp() { nsenter --net="/proc/$dhcp/ns/net" -- "$@"; }

in_site ip link set lo up
in_site ip link add br0 type bridge
in_site ip link set br0 type bridge stp_state 0 forward_delay 0
in_site ip tuntap add dev tap0 mode tap
in_site ip link set tap0 master br0
in_site ip link add veth0 type veth peer name veth1 netns "$dhcp"
in_site ip link set veth0 master br0
in_site ip addr add 192.168.77.1/24 dev br0
for link in tap0 veth0 br0; do in_site ip link set "$link" up; done
# ProxyDHCP answers a DISCOVER to 255.255.255.255, which needs a route.
in_site ip route add default dev br0

in_dhcp ip link set lo up
in_dhcp ip addr add 192.168.77.2/24 dev veth1
in_dhcp ip link set veth1 up
