#!/bin/sh
# /init of midwife's stand-in diskless host (scripts/build-linux-guest.sh).
# Runs once per boot, then powers off. By then the kernel has unpacked the
# initrds iPXE loaded, in order: the image's base.cpio.gz, then the host's
# state overlay (state.cpio.gz, etc/...), so /etc already holds what the host
# uploaded last time.
#
# Kernel command line (besides the boot server's PBHOST=, MIDWIFE_MAC=, MIDWIFE_TOKEN=):
#   midwife.agent=off      never run the agent: an image that does not come up
#   midwife.value=/etc/F   file that keeps a random value (default
#                          /etc/midwife/value): printed as "kept" when the
#                          state brought it back, else made and printed as "new"
#   midwife.hold=N         stay up N seconds before powering off (default 0)
# Console lines the tests read start with "midwife-guest:".
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp

# Each line ends with the seconds since the kernel started: where a boot's time goes.
say() { echo "midwife-guest: $* [$(cut -d' ' -f1 /proc/uptime)]" > /dev/console; }
arg() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "$1="*) echo "${word#*=}"; return 0 ;; esac
  done
  return 1
}
off() {
  say "power off"
  sync
  poweroff -f
  sleep 5
  exit 0  # init exiting panics the kernel; panic=-1 and -no-reboot end QEMU
}

say "up, mac $(arg MIDWIFE_MAC || echo none)"

value_file=$(arg midwife.value || echo /etc/midwife/value)
if [ -s "$value_file" ]; then
  say "value kept $(cat "$value_file")"
else
  mkdir -p "$(dirname "$value_file")"
  # The boot's random id: /dev/urandom would wait a second for the CRNG under TCG.
  # No newline after it, as the tests compare the file with what the console shows.
  printf '%s' "$(tr -d '-' < /proc/sys/kernel/random/boot_id | cut -c1-16)" > "$value_file"
  say "value new $(cat "$value_file")"
fi

# Named in load order; a second pass catches one that came before its dependency.
for pass in 1 2; do
  for m in /lib/modules/*.ko; do
    name=${m##*/}; name=${name#*-}; name=${name%.ko}
    grep -q "^$name " /proc/modules && continue
    insmod "$m" 2>/tmp/insmod.err || [ $pass = 1 ] || say "insmod $name: $(cat /tmp/insmod.err)"
  done
done
ip link set lo up
iface=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for n in /sys/class/net/*; do
    [ "${n##*/}" = lo ] || { iface=${n##*/}; break; }
  done
  [ -n "$iface" ] && break
  sleep 1
done
[ -n "$iface" ] || { say "no network interface"; off; }
ip link set "$iface" up
if ! udhcpc -i "$iface" -n -q -t 10 -T 2 -s /usr/share/udhcpc/default.script > /dev/console 2>&1; then
  say "no DHCP lease on $iface"
  off
fi

if [ "$(arg midwife.agent)" = off ]; then
  say "agent off"
else
  # Birth report, then one state upload; a few tries, not the agent's minutes.
  MIDWIFE_ATTEMPTS=3 /bin/sh /sbin/midwife-agent.sh once > /dev/console 2>&1
  say "agent exit $?"
fi

hold=$(arg midwife.hold || echo 0)
[ "$hold" -gt 0 ] 2>/dev/null && sleep "$hold"
off
