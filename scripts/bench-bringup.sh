#!/usr/bin/env bash
# scripts/bench-bringup.sh: link up to BGP Established, ndbgpd against FRR.
#
#   scripts/bench-bringup.sh [--rounds N]     (default 10)
#
# Each round runs, on a fresh veth between two fresh namespaces, an ndbgpd
# pair and then an FRR pair (zebra + bgpd, `neighbor eth0 interface
# remote-as external`, datacenter defaults). Both daemons start with the
# veth down; at T0 both ends are set up. From T0 one process polls (about
# every 5 ms) the A end's session state (ndbgpctl --json, or vtysh's json for
# FRR) until Established, and the script polls /proc/net/if_inet6 until both
# link-locals have left DAD (tentative): that moment is the floor, as nothing
# can connect before it.
# It prints every round and the medians, the ratio ndbgp/FRR and the
# targets: ndbgp at most half of FRR's time, and within 0.1 s of the floor.
#
# Polling costs: ndbgpctl and ip take ~3 ms a call, vtysh ~30 ms, so the
# FRR times carry up to ~30 ms more of polling delay (about 1 % of them).
# Floor and state are polled side by side, so "after the floor" is exact to
# about one poll (5-10 ms) and can come out slightly negative.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Names of this run only: teardown never touches another run's namespaces.
NS_A=ndbench-$$-a
NS_B=ndbench-$$-b
ROUNDS=10
TIMEOUT=30

while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    *) sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds $ROUNDS: a positive number"
need_root
need_pkg frr "$FRR/bgpd"
build_release --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench.XXXXXX)
chmod 0755 "$DIR"
trap 'teardown 2; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM

# A fresh pair of namespaces joined by a veth, both ends down.
fresh_link() {
  netns_add "$NS_A" "$NS_B"
  ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
}

ndbgp_start() {
  local side=$1 ns=$2 asn=$3
  start_ndbgpd "$ns" "$DIR/$side-ndbgp.log" --iface eth0 --asn "$asn" --router-id "10.0.0.$((asn - 65000))" \
    --control-socket "$DIR/$side.sock"
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

# One measurement: FLOOR and EST, ns since T0. The A end's state is polled
# by watch_established's own loop while this one polls the link-locals.
measure() {
  local kind=$1 t0 t est_at
  FLOOR="" EST=""
  fresh_link
  "${kind}_start" a "$NS_A" 65001
  "${kind}_start" b "$NS_B" 65002
  "${kind}_watch"
  t0=$(now)
  ip -n "$NS_A" link set eth0 up
  ip -n "$NS_B" link set eth0 up
  local deadline=$((t0 + TIMEOUT * 1000000000))
  while :; do
    t=$(now)
    if link_local_ready "$NS_A" eth0 && link_local_ready "$NS_B" eth0; then FLOOR=$((t - t0)); break; fi
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
printf '%-6s %12s %12s %12s %12s\n' round "ndbgp floor" ndbgp "frr floor" frr
for r in $(seq 1 "$ROUNDS"); do
  measure ndbgp
  nf=$FLOOR ne=$EST
  measure frr
  ff=$FLOOR fe=$EST
  echo "$nf $ne $ff $fe" >>"$DIR/results"
  printf '%-6s %11ss %11ss %11ss %11ss\n' "$r" "$(secs "$nf")" "$(secs "$ne")" "$(secs "$ff")" "$(secs "$fe")"
done

col() { awk -v c="$1" '{ print $c }' "$DIR/results" | median; }
nf=$(col 1) ne=$(col 2) ff=$(col 3) fe=$(col 4)
gap=$(awk '{ print $2 - $1 }' "$DIR/results" | median)
frr_gap=$(awk '{ print $4 - $3 }' "$DIR/results" | median)
ratio=$(awk -v a="$ne" -v b="$fe" 'BEGIN { printf "%.2f", a / b }')
echo
echo "medians over $ROUNDS rounds (link up on both ends -> Established on A):"
echo "  floor (both link-locals out of DAD): ndbgp rounds $(secs "$nf") s, FRR rounds $(secs "$ff") s"
echo "  ndbgpd pair: $(secs "$ne") s ($(secs "$gap") s after the floor)"
echo "  FRR pair:    $(secs "$fe") s ($(secs "$frr_gap") s after the floor)"
echo "  ratio ndbgp/FRR: $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r <= 0.5) }' && t1=met || t1=MISSED
awk -v g="$gap" 'BEGIN { exit !(g <= 100000000) }' && t2=met || t2=MISSED
echo "  target ndbgp <= FRR / 2: $t1; target ndbgp <= floor + 0.1 s: $t2"
