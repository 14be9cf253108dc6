#!/usr/bin/env bash
# scripts/bench-bfd.sh: what BFD costs an idle ndbgpd with many sessions.
#
#   scripts/bench-bfd.sh [--links N] [--seconds S] [--interval MS] [--multiplier M]
#                        (defaults: 64 links, 60 s, 300 ms x 3)
#
# Two namespaces joined by N veth pairs (eth0..eth{N-1}), an ndbgpd on each
# side with every link. Once all N sessions are Established (and, with
# --bfd, all N BFD sessions Up on both sides), the CPU time (utime + stime
# from /proc/PID/stat) each ndbgpd uses in S seconds is read, first without
# BFD, then with --bfd --bfd-interval MS --bfd-multiplier M, each on fresh
# namespaces and daemons. It prints CPU seconds per minute of each daemon
# and what BFD adds per session.
#
# With hundreds of interfaces the kernel's IPv6 neighbour table (one entry
# per link-local, gc_thresh3 = 1024 by default) can overflow; the run raises
# net.ipv6.neigh.default.gc_thresh1/2/3 and puts them back at exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NS_A=ndbfd-$$-a
NS_B=ndbfd-$$-b
LINKS=64
SECONDS_IDLE=60
INTERVAL=300
MULT=3

while [ $# -gt 0 ]; do
  case $1 in
    --links) LINKS=${2:?}; shift 2 ;;
    --seconds) SECONDS_IDLE=${2:?}; shift 2 ;;
    --interval) INTERVAL=${2:?}; shift 2 ;;
    --multiplier) MULT=${2:?}; shift 2 ;;
    *) sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
for v in "$LINKS" "$SECONDS_IDLE" "$INTERVAL" "$MULT"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "$v: a positive number"
done
need_root
build_release --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench-bfd.XXXXXX)
GC=(net.ipv6.neigh.default.gc_thresh1 net.ipv6.neigh.default.gc_thresh2 net.ipv6.neigh.default.gc_thresh3)
declare -A GC_WAS=()
for k in "${GC[@]}"; do GC_WAS[$k]=$(sysctl -n "$k"); done
restore_gc() { for k in "${GC[@]}"; do sysctl -qw "$k=${GC_WAS[$k]}"; done; }
trap 'teardown 5; restore_gc; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM
sysctl -qw net.ipv6.neigh.default.gc_thresh1=$((LINKS * 8))
sysctl -qw net.ipv6.neigh.default.gc_thresh2=$((LINKS * 16))
sysctl -qw net.ipv6.neigh.default.gc_thresh3=$((LINKS * 32))

# The N links, both ends up.
links() {
  local i
  netns_add "$NS_A" "$NS_B"
  for i in $(seq 0 $((LINKS - 1))); do
    ip -n "$NS_A" link add "eth$i" type veth peer name "eth$i" netns "$NS_B"
    ip -n "$NS_A" link set "eth$i" up
    ip -n "$NS_B" link set "eth$i" up
  done
}

# start SIDE NS ASN EXTRA...: ndbgpd with every link; its pid is PID_<SIDE>.
start() {
  local side=$1 ns=$2 asn=$3 i
  shift 3
  local ifaces=()
  for i in $(seq 0 $((LINKS - 1))); do ifaces+=(--iface "eth$i"); done
  start_ndbgpd "$ns" "$DIR/$side.log" "${ifaces[@]}" --asn "$asn" --router-id "10.0.0.$((asn - 65000))" \
    --control-socket "$DIR/$side.sock" "$@"
  printf -v "PID_$side" %s "$STARTED_PID"
  poll_until 10 ndbgpd_answers "$DIR/$side.sock" || die "ndbgpd $side did not start (see $DIR/$side.log)"
}

# bfd_up SOCKET: sessions whose BFD is up.
bfd_up() {
  "$NDBGPCTL" --socket "$1" neighbors --json 2>/dev/null |
    "$PYTHON" -c 'import json, sys; print(sum(1 for n in json.load(sys.stdin) if n.get("bfd") == "up"))' 2>/dev/null ||
    echo 0
}
all_established() { [ "$(established_count ndbgp "$1")" -eq "$LINKS" ]; }
all_bfd_up() { [ "$(bfd_up "$1")" -eq "$LINKS" ]; }

# cpu_ticks PID: utime + stime, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure LABEL EXTRA...: sets CPU_A and CPU_B, CPU seconds per minute.
measure() {
  local label=$1 a0 b0 a1 b1 hz
  shift
  links
  start a "$NS_A" 65001 "$@"
  start b "$NS_B" 65002 "$@"
  poll_until 180 all_established "$DIR/a.sock" ||
    die "$label: $(established_count ndbgp "$DIR/a.sock") of $LINKS sessions Established (logs in $DIR)"
  if [ $# -gt 0 ]; then
    poll_until 60 all_bfd_up "$DIR/a.sock" || die "$label: $(bfd_up "$DIR/a.sock") of $LINKS BFD sessions up"
    poll_until 60 all_bfd_up "$DIR/b.sock" || die "$label: $(bfd_up "$DIR/b.sock") of $LINKS BFD sessions up on b"
  fi
  # Past the bring-up's work (initial UPDATEs, the first probes).
  sleep 5
  hz=$(getconf CLK_TCK)
  a0=$(cpu_ticks "$PID_a") b0=$(cpu_ticks "$PID_b")
  sleep "$SECONDS_IDLE"
  a1=$(cpu_ticks "$PID_a") b1=$(cpu_ticks "$PID_b")
  all_established "$DIR/a.sock" || die "$label: sessions went down during the measurement (logs in $DIR)"
  if [ $# -gt 0 ]; then
    all_bfd_up "$DIR/a.sock" || die "$label: BFD sessions went down during the measurement"
  fi
  CPU_A=$(awk -v d=$((a1 - a0)) -v hz="$hz" -v s="$SECONDS_IDLE" 'BEGIN { printf "%.2f", d / hz * 60 / s }')
  CPU_B=$(awk -v d=$((b1 - b0)) -v hz="$hz" -v s="$SECONDS_IDLE" 'BEGIN { printf "%.2f", d / hz * 60 / s }')
  printf '%-28s %8s %8s\n' "$label" "$CPU_A" "$CPU_B"
  teardown 5
}

echo "$LINKS links, $SECONDS_IDLE s idle each; CPU seconds per minute (a, b):"
printf '%-28s %8s %8s\n' "" a b
measure "without BFD"
off_a=$CPU_A off_b=$CPU_B
measure "BFD ${INTERVAL} ms x ${MULT}" --bfd --bfd-interval "$INTERVAL" --bfd-multiplier "$MULT"
on_a=$CPU_A on_b=$CPU_B
awk -v a0="$off_a" -v b0="$off_b" -v a1="$on_a" -v b1="$on_b" -v n="$LINKS" 'BEGIN {
  d = ((a1 - a0) + (b1 - b0)) / 2
  printf "BFD adds %.2f CPU s/min per daemon (%.1f %% of a core), %.2f ms/min per session\n", d, d / 60 * 100, d / n * 1000
}'
