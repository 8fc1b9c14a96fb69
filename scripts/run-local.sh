#!/usr/bin/env bash
# Runs midwife on one machine on its embedded default: the state store on
# RocksDB in ./data/statestore, listening on loopback. Ctrl-C stops it.
set -euo pipefail
build_dir=${1:-build}
shift || true
data=${MIDWIFE_DATA:-data}
mkdir -p "$data"
echo "midwife: state store on 127.0.0.1:7411, data in $data/statestore" >&2
echo "midwife: admin token in $data/statestore/admin.token (created on first start)" >&2
exec "$build_dir/bin/statestore" serve --data "$data/statestore" --listen 127.0.0.1:7411 "$@"
