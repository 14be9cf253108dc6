#!/usr/bin/env bash
# scripts/bench-bringup.sh: link up to BGP Established, ndbgpd against FRR.
#
#   scripts/bench-bringup.sh [--rounds N] [--no-optimistic-dad] [--forwarding] [--no-dad]
#                            [--same-ifindex]
#
# --rounds (or --runs): rounds, at least 3 for a median (default 10).
# --no-optimistic-dad: run the ndbgpd ends with it (the old DAD-bound times).
# --forwarding: net.ipv6.conf.all.forwarding=1 in both namespaces, as on a
#   router (the kernel then makes no link-local optimistic).
# --no-dad: run the ndbgpd ends with it (accept_dad 0: no DAD at all).
# --same-ifindex: both veth ends are ifindex 2 in their namespaces. By
#   default B gets a veth pair of its own first (pad0, pad1; this kernel
#   has no dummy links), so its eth0 is ifindex 4. A veth end whose
#   ifindex equals its peer's (iflink == ifindex) is one the kernel's
#   link watch deems non-urgent (linkwatch_urgent_event): it
#   handles its carrier change at its next run, up to 1 s after the last
#   link event anywhere on the host (here the previous round's teardown),
#   before any link-local exists and whatever the daemons do. Either way
#   all three pairs run on the same setup.
#
# Each round runs, on a fresh veth between two fresh namespaces, three pairs
# one after the other: two ndbgpd (optimistic DAD on by default, so their
# link-locals are usable at once), an ndbgpd (A) with FRR (B, whose
# link-local still goes through DAD), and two FRR (zebra + bgpd, `neighbor
# eth0 interface remote-as external`, datacenter defaults). Both daemons
# start with the veth down; at T0 both ends are set up. From T0 one process
# polls (about every 5 ms) the A end's session state (ndbgpctl --json, or
# vtysh's json for FRR) until Established, and the script polls
# /proc/net/if_inet6 for when both link-locals appeared ("ll": optimistic
# or tentative) and when both left DAD ("floor": the DAD floor, which
# nothing could beat before optimistic DAD).
# It prints `uptime` (the load), every round, the medians, the ratio
# ndbgp/FRR and the targets: ndbgpd pair <= 0.5 s, ratio <= 0.25.
# Run it under flock /tmp/ndbgp-bench.lock (one benchmark at a time).
#
# Polling costs: ndbgpctl and ip take ~3 ms a call, vtysh ~30 ms, so the
# FRR times carry up to ~30 ms more of polling delay (about 1 % of them).
# Link-locals and state are polled side by side, so the times relative to
# them are exact to about one poll (5-10 ms).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Names of this run only: teardown never touches another run's namespaces.
NS_A=ndbench-$$-a
NS_B=ndbench-$$-b
ROUNDS=10
TIMEOUT=30
NDBGP_ARGS=()
FORWARDING=0
SAME_IFINDEX=0

while [ $# -gt 0 ]; do
  case $1 in
    --rounds | --runs) ROUNDS=${2:?}; shift 2 ;;
    --no-optimistic-dad) NDBGP_ARGS+=(--no-optimistic-dad); shift ;;
    --no-dad) NDBGP_ARGS+=(--no-dad); shift ;;
    --forwarding) FORWARDING=1; shift ;;
    --same-ifindex) SAME_IFINDEX=1; shift ;;
    *) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 3 ] || die "--rounds $ROUNDS: at least 3 (medians)"
need_root
need_pkg frr "$FRR/bgpd"
build_release --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench.XXXXXX)
chmod 0755 "$DIR"
trap 'teardown 2; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM

# A fresh pair of namespaces joined by a veth, both ends down (forwarding
# on in both with --forwarding, before the link-locals are made; B's eth0
# ifindex 4 unless --same-ifindex).
fresh_link() {
  netns_add "$NS_A" "$NS_B"
  [ "$SAME_IFINDEX" = 1 ] || ip -n "$NS_B" link add pad0 type veth peer name pad1
  if [ "$FORWARDING" = 1 ]; then
    local ns
    for ns in "$NS_A" "$NS_B"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1; done
  fi
  ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
}

ndbgp_start() {
  local side=$1 ns=$2 asn=$3
  start_ndbgpd "$ns" "$DIR/$side-ndbgp.log" --iface eth0 --asn "$asn" --router-id "10.0.0.$((asn - 65000))" \
    --control-socket "$DIR/$side.sock" "${NDBGP_ARGS[@]}"
  poll_until --every 0.005 10 ndbgpd_answers "$DIR/$side.sock" || die "ndbgpd $side did not start"
}
ndbgp_watch() { watch_established "$DIR/est" ndbgp 1 "$TIMEOUT" "$DIR/a.sock"; }

frr_start() {
  local side=$1 ns=$2 asn=$3 d=$DIR/$1
  mkdir -p "$d"
  printf 'frr defaults datacenter\nhostname %s\n!\nrouter bgp %s\n bgp router-id 10.0.0.%s\n no bgp ebgp-requires-policy\n neighbor eth0 interface remote-as external\n!\n' \
    "$ns" "$asn" "$((asn - 65000))" >"$d/frr.conf"
  start_frr "$ns" "$d"
  poll_until --every 0.005 10 frr_vty_ready "$side" || die "bgpd $side does not answer vtysh"
}
frr_vty_ready() { vtysh --vty_socket "$DIR/$1" -c 'show bgp neighbors eth0 json' >/dev/null; }
frr_watch() { watch_established "$DIR/est" frr 1 "$TIMEOUT" "$DIR/a" eth0; }

# link_local_present NS IF: IF in NS has a link-local, in DAD or out of it
# (not failed). /proc/net/if_inet6 columns as in lib.sh's link_local.
link_local_present() {
  local _addr _idx _plen scope flags name
  while read -r _addr _idx _plen scope flags name; do
    [ "$name" = "$2" ] && [ "$scope" = 20 ] && (((16#$flags & 0x08) == 0)) && return 0
  done < <(ip netns exec "$1" cat /proc/net/if_inet6)
  return 1
}

# One measurement of a pair KIND (ndbgp, mixed: ndbgpd A with FRR B, frr):
# LL, FLOOR and EST, ns since T0. The A end's state is polled by
# watch_established's own loop while this one polls the link-locals.
measure() {
  local kind=$1 a_kind b_kind t0 t est_at
  case $kind in
    ndbgp) a_kind=ndbgp b_kind=ndbgp ;;
    mixed) a_kind=ndbgp b_kind=frr ;;
    frr) a_kind=frr b_kind=frr ;;
  esac
  LL="" FLOOR="" EST=""
  fresh_link
  "${a_kind}_start" a "$NS_A" 65001
  "${b_kind}_start" b "$NS_B" 65002
  "${a_kind}_watch"
  t0=$(now)
  ip -n "$NS_A" link set eth0 up
  ip -n "$NS_B" link set eth0 up
  local deadline=$((t0 + TIMEOUT * 1000000000))
  while :; do
    t=$(now)
    if [ -z "$LL" ] && link_local_present "$NS_A" eth0 && link_local_present "$NS_B" eth0; then LL=$((t - t0)); fi
    if link_local_ready "$NS_A" eth0 && link_local_ready "$NS_B" eth0; then
      FLOOR=$((t - t0))
      LL=${LL:-$FLOOR}
      break
    fi
    [ "$t" -lt "$deadline" ] || die "$kind round: link-locals not out of DAD within ${TIMEOUT}s"
    sleep 0.005
  done
  wait "$WATCH_PID" || die "$kind round: no Established within ${TIMEOUT}s (logs in $DIR)"
  est_at=$(cat "$DIR/est")
  EST=$((est_at - t0))
  teardown 2
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$DIR/results"
echo "load before: $(uptime)"
printf '%-6s | %-23s | %-23s | %-23s\n' "" "ndbgpd pair" "ndbgpd A - FRR B" "FRR pair"
printf '%-6s | %7s %7s %7s | %7s %7s %7s | %7s %7s %7s\n' round ll floor est ll floor est ll floor est
for r in $(seq 1 "$ROUNDS"); do
  row=()
  for kind in ndbgp mixed frr; do
    measure "$kind"
    row+=("$LL" "$FLOOR" "$EST")
  done
  echo "${row[*]}" >>"$DIR/results"
  printf '%-6s |' "$r"
  for i in 0 3 6; do printf ' %6ss %6ss %6ss |' "$(secs "${row[i]}")" "$(secs "${row[i + 1]}")" "$(secs "${row[i + 2]}")"; done
  echo
done
echo "load after:  $(uptime)"

# Columns of results: 1-3 ndbgpd pair, 4-6 mixed, 7-9 FRR pair (ll floor est).
col() { awk -v c="$1" '{ print $c }' "$DIR/results" | median; }
# The median of EST - column C (a time relative to the link-locals).
after() { awk -v e="$1" -v c="$2" '{ print $e - $c }' "$DIR/results" | median; }
ne=$(col 3) me=$(col 6) fe=$(col 9)
ratio=$(awk -v a="$ne" -v b="$fe" 'BEGIN { printf "%.2f", a / b }')
mixed_ratio=$(awk -v a="$me" -v b="$fe" 'BEGIN { printf "%.2f", a / b }')
echo
echo "medians over $ROUNDS rounds (link up on both ends -> Established on A)${NDBGP_ARGS[*]:+, ndbgpd ${NDBGP_ARGS[*]}}$([ "$FORWARDING" = 1 ] && echo ", all.forwarding=1")$([ "$SAME_IFINDEX" = 1 ] && echo ", both ends ifindex 2"):"
echo "  ndbgpd pair:      $(secs "$ne") s (link-locals at $(secs "$(col 1)") s; $(secs "$(after 3 1)") s after them; DAD floor $(secs "$(col 2)") s, Established $(secs "$(after 3 2)") s after it)"
echo "  ndbgpd A - FRR B: $(secs "$me") s (DAD floor $(secs "$(col 5)") s, Established $(secs "$(after 6 5)") s after it)"
echo "  FRR pair:         $(secs "$fe") s (DAD floor $(secs "$(col 8)") s, Established $(secs "$(after 9 8)") s after it)"
echo "  ratio ndbgp/FRR: $ratio; ndbgpd-FRR/FRR: $mixed_ratio"
awk -v e="$ne" 'BEGIN { exit !(e <= 500000000) }' && t1=met || t1=MISSED
awk -v r="$ratio" 'BEGIN { exit !(r <= 0.25) }' && t2=met || t2=MISSED
echo "  target ndbgpd pair <= 0.5 s: $t1; target ratio ndbgp/FRR <= 0.25: $t2"
