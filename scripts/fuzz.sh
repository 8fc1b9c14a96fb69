#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs each
# for a bounded time, after replaying its checked-in crash regressions
# (fuzz/regressions/<target>/). Fails if any target crashes, leaks, times out
# or trips a sanitizer; the input that did is left in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh                      every target, 30 s each
#   scripts/fuzz.sh -t 300 dhcp_codec    one target, 5 minutes
#   MIDWIFE_FUZZ_SECONDS=20 scripts/fuzz.sh
#
# New inputs the fuzzer finds go to build-fuzz/corpus/<target>/ (kept between
# runs, never committed); fuzz/corpus/<target>/ holds the checked-in seeds
# (regenerate with fuzz/make-seeds.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${MIDWIFE_FUZZ_SECONDS:-30}
jobs=${MIDWIFE_JOBS:-2}
build_dir=${MIDWIFE_FUZZ_BUILD_DIR:-build-fuzz}
while getopts "t:j:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) echo "usage: $0 [-t seconds] [-j jobs] [target...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
all_targets=(tftp_codec dhcp_codec http_request boot_cfg mac_address state_archive)
targets=("${@:-${all_targets[@]}}")

export CCACHE_BASEDIR="$PWD"
start=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMIDWIFE_FUZZ=ON >/dev/null
cmake --build "$build_dir" -j "$jobs" --target fuzz_targets
echo "fuzz: build took $((SECONDS - start)) s"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build_dir/bin/${t}_fuzz"
  [ -x "$bin" ] || { echo "fuzz: no target $t (have: ${all_targets[*]})" >&2; exit 2; }
  seeds="fuzz/corpus/${t}_fuzz"
  regressions="fuzz/regressions/${t}_fuzz"
  work="$build_dir/corpus/${t}_fuzz"
  artifacts="$build_dir/artifacts/${t}_fuzz"
  log="$build_dir/logs/${t}_fuzz.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"

  if compgen -G "$regressions/*" >/dev/null; then
    if ! "$bin" "$regressions"/* >"$log.replay" 2>&1; then
      echo "fuzz: $t: a regression input fails again:" >&2
      tail -n 40 "$log.replay" >&2
      failed+=("$t (regression)")
      continue
    fi
    echo "fuzz: $t: $(find "$regressions" -type f | wc -l) regression inputs pass"
  fi

  # -timeout: one input running this long is a hang; -rss_limit_mb: a
  # runaway allocation. -max_len stays libFuzzer's default (the largest seed,
  # at least 4096 bytes).
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    echo "fuzz: $t failed; the last of $log:" >&2
    tail -n 60 "$log" >&2
    ls -l "$artifacts" >&2
  fi
  # The last status line: "#123456 REDUCE cov: 612 ft: 1893 corp: 210/9Kb lim: 4096 exec/s: 4115 rss: ..."
  last=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  summary+=("$(printf '%-14s %-6s %10s %9s %6s %6s %6s' "$t" "$status" "${runs:--}" "${eps:--}" \
    "${cov:--}" "${ft:--}" "${corp:--}")")
done

printf '%-14s %-6s %10s %9s %6s %6s %6s\n' target status execs execs/s cov ft corpus
printf '%s\n' "${summary[@]}"
echo "fuzz: ${seconds} s per target, $((SECONDS - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
