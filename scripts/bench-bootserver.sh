#!/bin/sh
# Builds and runs the boot server benchmarks against their peers:
#   tftp_bench  midwife TftpServer vs tftpd-hpa (in.tftpd -L, run as a child)
#   http_bench  midwife HttpServer vs nginx (run as a child) with wrk
# Peers are Debian packages: tftpd-hpa nginx-light (or nginx) wrk; atftp and
# tftp-hpa are optional interop clients, linux-perf for profiling.
# Needs root (tftpd-hpa chroots and drops to nobody; nginx workers run as nobody).
#
#   scripts/bench-bootserver.sh [tftp|http|all] [-- extra flags for the bench]
set -eu
cd "$(dirname "$0")/.."
what="${1:-all}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

missing=""
for tool in /usr/sbin/in.tftpd /usr/sbin/nginx /usr/bin/wrk; do
  [ -x "$tool" ] || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "missing:$missing" >&2
  echo "install: apt-get install -y --no-install-recommends tftpd-hpa nginx-light wrk" >&2
  exit 1
fi

cmake -S . -B build >/dev/null
cmake --build build -j2 --target tftp_bench http_bench

status=0
if [ "$what" = tftp ] || [ "$what" = all ]; then
  build/bin/tftp_bench "$@" || status=1
  echo
fi
if [ "$what" = http ] || [ "$what" = all ]; then
  build/bin/http_bench "$@" || status=1
fi
exit $status
