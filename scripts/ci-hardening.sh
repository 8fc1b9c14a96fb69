#!/usr/bin/env bash
# The hardening stages of CI (.ci/run runs them after ./midwife test), each in
# its own build folder so the default build is untouched:
#   asan  GCC, ASan + UBSan (no recovery): every unit and integration test of
#         core, statestore, imagebuilder and bootserver (build-asan/)
#   tsan  GCC, TSan: the tests that run servers on several threads: the state
#         store and host registry servers, TLS, the boot server's TFTP/HTTP/
#         ProxyDHCP shells end to end (build-tsan/)
#   fuzz  clang/libFuzzer: scripts/fuzz.sh, MIDWIFE_FUZZ_SECONDS (20) a target
#
#   scripts/ci-hardening.sh            all three, in that order
#   scripts/ci-hardening.sh tsan fuzz  some
# Only the test executables a stage runs are built (and the daemons and CLIs
# those tests start). A sanitizer report fails the test that caused it; the
# suppressions in scripts/sanitizers/ say why each is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
jobs=${MIDWIFE_JOBS:-$(nproc)}
supp="$PWD/scripts/sanitizers"
stages=("${@:-asan tsan fuzz}")
# shellcheck disable=SC2206
stages=(${stages[*]})

# -O1 -g1: about a third less compile time than -O2 -g, still line numbers in
# every report; the sanitizers' own docs recommend -O1.
configure() {  # configure <build-dir> <sanitizers>
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DMIDWIFE_SANITIZE="$2" >/dev/null
}

# Sanitizer reports go to files (log_path), not stderr: the daemons the
# integration tests start write stderr to log files that a passing test never
# shows. Any report file fails the stage and is printed.
reports_clean() { rm -rf "$1" && mkdir -p "$1"; }
reports_check() {  # reports_check <dir> <stage>
  if compgen -G "$1/*" >/dev/null; then
    echo "ci-hardening: $2: sanitizer reports:" >&2
    for f in "$1"/*; do echo "== $f" >&2; cat "$f" >&2; done
    return 1
  fi
}

timed() {  # timed <label> <command...>
  local t0=$SECONDS rc=0
  "${@:2}" || rc=$?
  echo "ci-hardening: $1 took $((SECONDS - t0)) s$([ $rc -eq 0 ] || echo ", FAILED ($rc)")"
  return $rc
}

asan() {
  # (Called from an `||` list, where set -e does not apply: every step checks.)
  configure build-asan address,undefined || return 1
  timed "asan build" cmake --build build-asan -j "$jobs" \
    --target core_test statestore_test imagebuilder_test bootserver_test || return 1
  # Child processes (the daemons and CLIs the integration tests start)
  # inherit these, so a finding in them fails the test too.
  local reports="$PWD/build-asan/sanitizer-reports"
  reports_clean "$reports"
  export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:log_path=$reports/asan"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp:log_path=$reports/ubsan"
  local rc=0
  (cd build-asan && timed "asan tests" ctest --output-on-failure -j "$jobs" --timeout 900 \
    -L '^(core|statestore|imagebuilder|bootserver)$') || rc=$?
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
  reports_check "$reports" asan || rc=1
  return $rc
}

# The concurrent tests: servers with thread pools and callback reactors, and
# the boot batcher's leader and waiters.
tsan_tests='^(StateStoreServerTest|StateStoreCallLimitTest|StateStoreCrashTest|HostRegistryServerTest|BootBatcherTest|TlsTest|BootServerTest)\.'

tsan() {
  configure build-tsan thread || return 1
  timed "tsan build" cmake --build build-tsan -j "$jobs" --target statestore_test bootserver_test \
    || return 1
  local reports="$PWD/build-tsan/sanitizer-reports"
  reports_clean "$reports"
  export MIDWIFE_TEST_TIME_SCALE=4
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:log_path=$reports/tsan"
  local rc=0
  (cd build-tsan && timed "tsan tests" ctest --output-on-failure -j "$jobs" --timeout 900 \
    -R "$tsan_tests") || rc=$?
  unset TSAN_OPTIONS MIDWIFE_TEST_TIME_SCALE
  reports_check "$reports" tsan || rc=1
  return $rc
}

fuzz() {
  timed "fuzz" scripts/fuzz.sh -j "$jobs" -t "${MIDWIFE_FUZZ_SECONDS:-20}"
}

# CI's whole run has a hard limit (90 min on this project's machines), and a
# run past it lands nothing. With MIDWIFE_CI_DEADLINE (epoch seconds) set,
# a stage that would likely not finish before it is skipped, loudly, rather
# than sink the whole run: the estimates are a cold build (no ccache) of the
# stage plus its tests on 2 cores.
declare -A needs=([asan]=2400 [tsan]=1500 [fuzz]=600)
failed=()
skipped=()
for stage in "${stages[@]}"; do
  case $stage in
    asan | tsan | fuzz) ;;
    *) echo "usage: $0 [asan] [tsan] [fuzz]" >&2; exit 2 ;;
  esac
  if [ -n "${MIDWIFE_CI_DEADLINE:-}" ]; then
    left=$((MIDWIFE_CI_DEADLINE - $(date +%s)))
    if [ "$left" -lt "${needs[$stage]}" ]; then
      echo "ci-hardening: $stage SKIPPED: ${left} s left before CI's limit, it may need ${needs[$stage]} s" >&2
      skipped+=("$stage")
      continue
    fi
  fi
  "$stage" || failed+=("$stage")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci-hardening: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "ci-hardening: ${stages[*]}: clean${skipped[*]:+ (skipped for time: ${skipped[*]})}"
