#!/usr/bin/env bash
# Runs midwife on one machine on its embedded default: the state store on
# RocksDB in ./data/statestore (gRPC on 127.0.0.1:7411) and the boot server
# (HTTP on 127.0.0.1:8080, TFTP on 127.0.0.1:6969) over the image repository
# in ./data/repo. Ctrl-C stops both.
#
# It also publishes a demo image, a diskless Linux stand-in host
# (scripts/build-linux-guest.sh: Debian's kernel, busybox, the host agent),
# and assigns it to QEMU's default MAC 52:54:00:12:34:56, so a QEMU guest
# on user networking boots from it (README, "Boot a diskless QEMU host").
# MIDWIFE_DEMO=0 skips that.
set -euo pipefail
build_dir=${1:-build}
shift || true
data=${MIDWIFE_DATA:-data}
http=${MIDWIFE_HTTP:-127.0.0.1:8080}
tftp=${MIDWIFE_TFTP:-127.0.0.1:6969}
# On loopback only QEMU guests on user networking can boot from here, and
# they reach the host's loopback as 10.0.2.2: the URLs hosts are handed say so.
case "$http" in 127.*) default_advertise=10.0.2.2 ;; *) default_advertise=127.0.0.1 ;; esac
advertise=${MIDWIFE_ADVERTISE:-$default_advertise}
demo_mac=52:54:00:12:34:56
mkdir -p "$data"
rm -f "$data/statestore.ready"

"$build_dir/bin/statestore" serve --data "$data/statestore" --listen 127.0.0.1:7411 \
  --ready-file "$data/statestore.ready" &
store_pid=$!
trap 'kill $store_pid ${boot_pid:-} 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
  [ -s "$data/statestore.ready" ] && break
  kill -0 $store_pid 2>/dev/null || { echo "midwife: the state store did not start" >&2; exit 1; }
  sleep 0.1
done

# The demo image, named by a digest of what goes into it, so a changed agent
# or /init publishes a new version (to the host's inactive bank, as a trial).
publish_demo() {
  local ib="$build_dir/bin/imagebuilder --repo $data/repo"
  local store=(--statestore 127.0.0.1:7411 --statestore-token-file "$data/statestore/admin.token")
  local version ref
  version=$(cat scripts/build-linux-guest.sh scripts/linux-guest-init.sh bootserver/agent/midwife-agent.sh |
            sha256sum | cut -c1-12)
  ref=demo-linux@$version
  if ! $ib show "$ref" >/dev/null 2>&1; then
    scripts/build-linux-guest.sh "$data/demo-guest" "$build_dir/guest-cache" >/dev/null &&
      $ib import "$data/demo-guest" --kind linux --name demo-linux --version "$version" >/dev/null ||
      return 1
  fi
  if ! "$build_dir/bin/bootserver" host --mac "$demo_mac" --json "${store[@]}" 2>/dev/null |
       grep -q "\"assigned_image\": \"$ref\""; then
    "$build_dir/bin/bootserver" assign --mac "$demo_mac" --image "$ref" "${store[@]}" >/dev/null || return 1
  fi
  echo "midwife: demo image $ref assigned to $demo_mac (QEMU's default MAC)" >&2
}
if [ "${MIDWIFE_DEMO:-1}" != 0 ]; then
  publish_demo || echo "midwife: no demo image (see above); midwife runs without it" >&2
fi

echo "midwife: state store on 127.0.0.1:7411, data in $data/statestore" >&2
echo "midwife: admin token in $data/statestore/admin.token" >&2
echo "midwife: boot server HTTP on $http, TFTP on $tftp, images in $data/repo; hosts are told $advertise" >&2
"$build_dir/bin/bootserver" serve --repo "$data/repo" --statestore 127.0.0.1:7411 \
  --statestore-token-file "$data/statestore/admin.token" \
  --http "$http" --tftp "$tftp" --advertise "$advertise" "$@" &
boot_pid=$!
wait $boot_pid
