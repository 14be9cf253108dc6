#!/usr/bin/env bash
# Fuzz the targets of fuzz/ (cargo fuzz, libFuzzer, on the nightly toolchain),
# one after the other, each for the time given:
#
#   scripts/fuzz.sh [--minutes N | --seconds N] [--quick] [--sanitizer none|address] [TARGET...]
#
# Default: every target, 1 minute each, on cargo fuzz's optimised build (one
# codegen unit per crate). --quick: fuzz/Cargo.toml's [profile.dev], which
# compiles in parallel units and ran 5-25 % fewer executions a second; what
# scripts/test.sh's smoke run uses. Prints, per target, the executions
# and whether anything was found; exits non-zero when a target crashed (a
# panic, an abort, or one input running over 10 s), naming the crash file.
# Replay one with `cargo +nightly fuzz run -s none TARGET FILE`.
#
# Each target starts from the seeds in fuzz/seeds/TARGET and keeps what it
# learns in fuzz/corpus/TARGET; crashes go to fuzz/artifacts/TARGET. Neither
# is committed. The build goes to fuzz/target (or $CARGO_TARGET_DIR).
#
# Sanitizer `none` by default: the fuzzed parsers are safe Rust, where a bug
# is a panic that libFuzzer catches on its own, and AddressSanitizer would
# only add build time and slow every run. Debug assertions are on, so an
# integer overflow panics too. scripts/test.sh installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT=fuzz.sh
die() { echo "$SCRIPT: $*" >&2; exit 1; }

seconds=60
sanitizer=none
quick=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sanitizer) sanitizer=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ "$seconds" -gt 0 ] 2>/dev/null || die "--minutes/--seconds takes a whole number above 0"

rustup run nightly rustc --version >/dev/null 2>&1 || die "no nightly toolchain (rustup toolchain list)"
cargo +nightly fuzz --version >/dev/null 2>&1 || die "no cargo-fuzz: scripts/test.sh installs it"

fuzz=(cargo +nightly fuzz)
flags=(--sanitizer "$sanitizer" --debug-assertions)
[ "$quick" -eq 0 ] || flags+=(--dev)
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${fuzz[@]}" list)

started=$(date +%s)
"${fuzz[@]}" build "${flags[@]}" >&2
echo "$SCRIPT: built in $(($(date +%s) - started)) s; ${seconds} s per target: ${targets[*]}" >&2

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
crashed=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  log="$logs/$target.log"
  status=0
  # New inputs are written to the first directory only: the seeds stay as committed.
  "${fuzz[@]}" run "${flags[@]}" "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # The final stats, or the last progress line ("#1234 ...") of a run cut short.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | paste -sd ' ')
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    crashed=1
    result="FOUND: ${found:-exit $status, no crash file (see the log below)}"
    echo "$SCRIPT: $target failed; the end of its log:" >&2
    tail -40 "$log" >&2
  else
    result="nothing found"
  fi
  summary+=("$(printf '%-16s %12s runs %8s/s %6s in corpus   %s' "$target" "${runs:-?}" "${rate:-?}" "$corpus" "$result")")
done

build=optimised
[ "$quick" -eq 0 ] || build=quick
echo "$SCRIPT: ${seconds} s per target, $build build, sanitizer $sanitizer, $(($(date +%s) - started)) s in all"
printf '%s\n' "${summary[@]}"
exit "$crashed"
