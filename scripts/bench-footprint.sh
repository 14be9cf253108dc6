#!/usr/bin/env bash
# scripts/bench-footprint.sh: ndbgpd's idle footprint with one session, next
# to its peer's.
#
#   scripts/bench-footprint.sh [--runs N] [--idle S] [--peers ndbgp,frr,bird]
#                              [--ndbgpd PATH] [--smaps]
#                              (default 3 runs, 5 s, all three)
#
# Each run, for each peer kind, makes two fresh namespaces joined by a veth:
# ndbgpd under test (--iface eth0) in one, the peer in the other: a second
# ndbgpd, FRR 8 (zebra + bgpd, `neighbor eth0 interface remote-as external`,
# datacenter defaults) or BIRD 2 (RAdv and a dynamic BGP over fe80::/10, as
# in tests/common). Once ndbgpd's session is Established it is left idle
# for S seconds (KEEPALIVEs, RAs: the work of an idle session), then read
# from /proc/PID/status: VmRSS, split into RssAnon (private: heap, stacks,
# allocator arenas) and RssFile (mapped pages of the binary and its shared
# libraries), and Threads; and the peer's VmRSS (FRR: bgpd + zebra) and
# threads. It prints each run with the load average, then the medians.
#
# --ndbgpd PATH measures that binary (with its ndbgpctl next to it) instead
# of building: to compare two builds in one run.
#
# --smaps also prints, after each run, where ndbgpd's RSS is
# (/proc/PID/smaps summed per mapping: file and permissions, or [heap],
# [stack], anonymous): Rss, and of it Anonymous (private pages).
#
# RssFile counts every page of the executable the process has mapped, and
# the kernel maps file pages in 64 kB windows around each page touched
# (fault-around): the size of the touched code, not only what is touched,
# shows in RSS (README "Footprint").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Names of this run only: teardown never touches another run's namespaces.
NS_A=ndfp-$$-a
NS_B=ndfp-$$-b
RUNS=3
IDLE=5
KINDS=(ndbgp frr bird)
BINARY=""
SMAPS=""
TIMEOUT=30

while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=${2:?}; shift 2 ;;
    --idle) IDLE=${2:?}; shift 2 ;;
    --peers) read -ra KINDS <<<"${2//,/ }"; shift 2 ;;
    --ndbgpd) BINARY=${2:?}; shift 2 ;;
    --smaps) SMAPS=1; shift ;;
    *) sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs $RUNS: a positive number"
[[ $IDLE =~ ^[0-9]+$ ]] || die "--idle $IDLE: whole seconds"
for k in "${KINDS[@]}"; do
  case $k in ndbgp | frr | bird) ;; *) die "--peers: ndbgp, frr or bird, not $k" ;; esac
done
need_root
for k in "${KINDS[@]}"; do
  case $k in
    frr) need_pkg frr "$FRR/bgpd" ;;
    bird) need_pkg bird2 /usr/sbin/bird ;;
  esac
done
if [ -n "$BINARY" ]; then
  NDBGPD=$(realpath "$BINARY")
  NDBGPCTL=$(dirname "$NDBGPD")/ndbgpctl
  [ -x "$NDBGPD" ] && [ -x "$NDBGPCTL" ] || die "--ndbgpd $BINARY: needs ndbgpd and ndbgpctl there"
else
  build_release --bin ndbgpd --bin ndbgpctl
fi

DIR=$(mktemp -d /tmp/ndbgp-bench-footprint.XXXXXX)
chmod 0755 "$DIR"
trap 'teardown 5; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM

fresh_link() {
  netns_add "$NS_A" "$NS_B"
  ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
}

# PEER_PIDS: the peer's processes (FRR: zebra and bgpd).
peer_ndbgp() {
  start_ndbgpd "$NS_B" "$DIR/b.log" --iface eth0 --asn 65002 --router-id 10.0.0.2 --control-socket "$DIR/b.sock"
  PEER_PIDS=("$STARTED_PID")
  poll_until 10 ndbgpd_answers "$DIR/b.sock" || die "peer ndbgpd did not start (see $DIR/b.log)"
}
peer_frr() {
  local d=$DIR/frr
  mkdir -p "$d"
  printf 'frr defaults datacenter\nhostname %s\n!\ninterface eth0\n!\nrouter bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n neighbor eth0 interface remote-as external\n!\n' \
    "$NS_B" >"$d/frr.conf"
  start_frr "$NS_B" "$d"
  PEER_PIDS=("${STARTED_PIDS[@]}")
}
peer_bird() {
  cat >"$DIR/bird.conf" <<'EOF'
router id 10.0.0.2;
log stderr all;
protocol device { }
protocol radv {
  interface "eth0" { max ra interval 4; min ra interval 3; };
}
protocol bgp dyn {
  local as 65002;
  neighbor range fe80::/10 external;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  ipv4 { extended next hop on; import all; export none; };
  ipv6 { import all; export none; };
}
EOF
  start_bird "$NS_B" "$DIR/bird.conf" "$DIR/bird.sock" "$DIR/bird.log"
  PEER_PIDS=("$STARTED_PID")
}

# status_kb PID FIELD: one kB figure of /proc/PID/status.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
threads() {
  local t=0 pid
  for pid in "$@"; do t=$((t + $(status_kb "$pid" Threads))); done
  echo "$t"
}
established() { [ "$(established_count ndbgp "$DIR/a.sock")" -ge 1 ]; }

# smaps_summary PID: kB of RSS and of it anonymous per mapping (file and
# permissions, [heap], [stack], "anon" for unnamed), largest first.
smaps_summary() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { k = (NF >= 6 ? $6 : "anon") " " $2; n = split(k, p, "/"); k = p[n]; next }
       $1 == "Rss:" { rss[k] += $2 } $1 == "Anonymous:" { anon[k] += $2 }
       END { for (k in rss) if (rss[k]) printf "  %6d kB rss %6d kB anon  %s\n", rss[k], anon[k], k }' \
    "/proc/$1/smaps" | sort -rn
}

# One measurement against peer KIND: a line "KIND RSS ANON FILE THREADS
# PEER_RSS PEER_THREADS" (kB) in $DIR/results.
measure() {
  local kind=$1 dut
  fresh_link
  "peer_$kind"
  start_ndbgpd "$NS_A" "$DIR/a.log" --iface eth0 --asn 65001 --router-id 10.0.0.1 --control-socket "$DIR/a.sock"
  dut=$STARTED_PID
  poll_until 10 ndbgpd_answers "$DIR/a.sock" || die "ndbgpd did not start (see $DIR/a.log)"
  ip -n "$NS_A" link set eth0 up
  ip -n "$NS_B" link set eth0 up
  poll_until "$TIMEOUT" established || die "$kind: no session Established within ${TIMEOUT}s (logs in $DIR)"
  # Not a synchronisation: the idle time is what is measured.
  sleep "$IDLE"
  established || die "$kind: the session went down while idle (logs in $DIR)"
  echo "$kind $(status_kb "$dut" VmRSS) $(status_kb "$dut" RssAnon) $(status_kb "$dut" RssFile)" \
    "$(threads "$dut") $(rss_kb "${PEER_PIDS[@]}") $(threads "${PEER_PIDS[@]}")" >>"$DIR/results"
  [ -z "$SMAPS" ] || smaps_summary "$dut" >"$DIR/smaps"
  teardown 5
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$DIR/results"
say "ndbgpd: $NDBGPD ($(stat -c %s "$NDBGPD") bytes; .text $(size -A "$NDBGPD" | awk '$1 == ".text" { print $2 }') bytes)"
for r in $(seq 1 "$RUNS"); do
  for kind in "${KINDS[@]}"; do
    measure "$kind"
    read -r _ rss anon file thr prss pthr < <(tail -n 1 "$DIR/results")
    say "run $r, peer $kind (load $(cut -d' ' -f1-3 /proc/loadavg)): ndbgpd $(mb "$rss") MB" \
      "(anon $(mb "$anon"), file $(mb "$file")), $thr threads; $kind $(mb "$prss") MB, $pthr threads"
    [ -z "$SMAPS" ] || cat "$DIR/smaps" >&2
  done
done

col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$DIR/results" | median; }
echo
echo "medians of $RUNS runs, one session idle ${IDLE} s after Established; $(uptime)"
printf '%-6s %12s %10s %10s %8s %10s %13s %8s\n' peer "ndbgpd RSS" anon file threads "peer RSS" "peer threads" ratio
for kind in "${KINDS[@]}"; do
  rss=$(col "$kind" 2) prss=$(col "$kind" 6)
  printf '%-6s %9s MB %7s MB %7s MB %8s %7s MB %13s %8s\n' "$kind" "$(mb "$rss")" "$(mb "$(col "$kind" 3)")" \
    "$(mb "$(col "$kind" 4)")" "$(col "$kind" 5)" "$(mb "$prss")" "$(col "$kind" 7)" \
    "$(awk -v a="$rss" -v b="$prss" 'BEGIN { printf "%.2f", a / b }')"
done
echo "(ratio: ndbgpd's RSS / the peer's; FRR: bgpd + zebra)"
