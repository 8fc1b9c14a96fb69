#!/usr/bin/env bash
# Runs midwife on one machine on its embedded default: the state store on
# RocksDB in ./data/statestore (gRPC on 127.0.0.1:7411) and the boot server
# (HTTP on 127.0.0.1:8080, TFTP on 127.0.0.1:6969) over the image repository
# in ./data/repo. Ctrl-C stops both.
set -euo pipefail
build_dir=${1:-build}
shift || true
data=${MIDWIFE_DATA:-data}
http=${MIDWIFE_HTTP:-127.0.0.1:8080}
tftp=${MIDWIFE_TFTP:-127.0.0.1:6969}
advertise=${MIDWIFE_ADVERTISE:-127.0.0.1}
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

echo "midwife: state store on 127.0.0.1:7411, data in $data/statestore" >&2
echo "midwife: admin token in $data/statestore/admin.token" >&2
echo "midwife: boot server HTTP on $http, TFTP on $tftp, images in $data/repo" >&2
"$build_dir/bin/bootserver" serve --repo "$data/repo" --statestore 127.0.0.1:7411 \
  --statestore-token-file "$data/statestore/admin.token" \
  --http "$http" --tftp "$tftp" --advertise "$advertise" "$@" &
boot_pid=$!
wait $boot_pid
