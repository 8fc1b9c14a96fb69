#!/bin/sh
# midwife host agent: runs on the diskless host (ESXi's busybox shell, or the
# Linux stand-in's), posts the birth report once, then uploads the host's
# state whenever it changes. POSIX sh + busybox wget, sha256sum, tar, gzip,
# base64, find, touch, dd.
#
# Reads from the kernel command line (the boot server renders it):
#   PBHOST=host:port        the boot server, as early ESXi PXE prototypes named it
#   MIDWIFE_MAC=aa:bb:...   this host's MAC (the key of its state)
#   MIDWIFE_TOKEN=mwh1-...  this host's own token
#
# Usage: midwife-agent.sh [once|run]     (default run: report, then watch)
# Environment (for tests and odd hosts):
#   MIDWIFE_CMDLINE   file to read instead of /proc/cmdline
#   MIDWIFE_STATE     state archive to upload; default: ESXi's
#                     /bootbank/state.tgz when present, else a tarball of /etc
#   MIDWIFE_ETC       folder packed when there is no state.tgz (default /etc)
#   MIDWIFE_INTERVAL  seconds between checks (default 60)
#   MIDWIFE_IMAGE     image name for the birth report (default: what the server served)
#   MIDWIFE_ATTEMPTS  tries per message before giving up until the next round (default 7)

set -u

cmdline_file=${MIDWIFE_CMDLINE:-/proc/cmdline}
if [ ! -r "$cmdline_file" ] && command -v vsish >/dev/null 2>&1; then
  # ESXi keeps its boot command line in the VMkernel sysinfo tree.
  cmdline=$(vsish -e get /system/bootCmdLine 2>/dev/null)
else
  cmdline=$(cat "$cmdline_file" 2>/dev/null)
fi

arg() {
  for word in $cmdline; do
    case "$word" in "$1="*) echo "${word#*=}"; return 0 ;; esac
  done
  return 1
}

server=$(arg PBHOST) || { echo "midwife-agent: no PBHOST= on the kernel command line" >&2; exit 2; }
mac=$(arg MIDWIFE_MAC) || { echo "midwife-agent: no MIDWIFE_MAC= on the kernel command line" >&2; exit 2; }
token=$(arg MIDWIFE_TOKEN) || { echo "midwife-agent: no MIDWIFE_TOKEN= on the kernel command line" >&2; exit 2; }
dashed=$(echo "$mac" | tr ':' '-')
base="http://$server/hosts/$dashed"
interval=${MIDWIFE_INTERVAL:-60}
work=${TMPDIR:-/tmp}/midwife-agent.$$
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# post URL [--post-data STR | --post-file FILE]: retried with backoff, at
# most ~2 minutes, so a boot server restart does not lose the message.
post() {
  url=$1; shift
  delay=1
  attempt=0
  while [ $attempt -lt "${MIDWIFE_ATTEMPTS:-7}" ]; do
    attempt=$((attempt + 1))
    if wget -q -O "$work/reply" --header "Authorization: Bearer $token" "$@" "$url" 2>"$work/err"; then
      return 0
    fi
    echo "midwife-agent: $url failed (attempt $attempt): $(cat "$work/err")" >&2
    sleep $delay
    delay=$((delay * 2))
  done
  return 1
}

state_archive() {
  if [ -n "${MIDWIFE_STATE:-}" ]; then
    echo "$MIDWIFE_STATE"
  elif [ -f /bootbank/state.tgz ]; then
    echo /bootbank/state.tgz
  else
    # Not ESXi: a plain tarball of /etc, relative paths, the same bytes for
    # the same files (names sorted, mtimes 0, no time in the gzip header), so
    # an unchanged /etc makes no new version on the server, even after a reboot.
    etc=${MIDWIFE_ETC:-/etc}
    name=$(basename "$etc")
    rm -rf "$work/snap" && mkdir -p "$work/snap"
    cp -a "$etc" "$work/snap/$name" 2>/dev/null
    find "$work/snap/$name" -exec touch -h -d @0 {} + 2>/dev/null
    (cd "$work/snap" && IFS='
' && set -f && tar c --no-recursion $(find "$name" | LC_ALL=C sort) | gzip -c > "$work/state.tgz") 2>/dev/null
    # gzip's header holds a modification time in bytes 4-7.
    dd if=/dev/zero of="$work/state.tgz" bs=1 seek=4 count=4 conv=notrunc 2>/dev/null
    rm -rf "$work/snap"
    echo "$work/state.tgz"
  fi
}

report() {
  post "$base/report" --post-data "status=${1:-ok}&image=${MIDWIFE_IMAGE:-}&message=${2:-}"
}

upload_if_changed() {
  archive=$(state_archive)
  [ -f "$archive" ] || return 0
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  [ "$sum" = "$(cat "$work/last" 2>/dev/null)" ] && return 0
  # busybox wget posts a file as a C string (it stops at the first NUL), so
  # the archive travels base64-encoded and the boot server decodes it.
  base64 -w 0 "$archive" > "$work/state.b64" || return 0
  if post "$base/state" --header "X-Midwife-Encoding: base64" --post-file "$work/state.b64"; then
    echo "$sum" > "$work/last"
    echo "midwife-agent: state uploaded: $(cat "$work/reply")" >&2
  fi
}

report ok || exit 1
upload_if_changed
[ "${1:-run}" = once ] && exit 0
while sleep "$interval"; do
  # On ESXi, auto-backup.sh rewrites /bootbank/state.tgz when /etc changes.
  [ -x /sbin/auto-backup.sh ] && /sbin/auto-backup.sh >/dev/null 2>&1
  upload_if_changed
done
