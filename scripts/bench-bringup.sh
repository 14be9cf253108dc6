#!/usr/bin/env bash
# scripts/bench-bringup.sh: link up to BGP Established, ndbgpd against FRR.
#
#   scripts/bench-bringup.sh [--rounds N]     (default 10)
#
# Each round runs, on a fresh veth between two fresh namespaces, an ndbgpd
# pair and then an FRR pair (zebra + bgpd, `neighbor eth0 interface
# remote-as external`, datacenter defaults). Both daemons start with the
# veth down; at T0 both ends are set up. From T0 the script polls (about
# every 5 ms) the A end's session state (ndbgpctl, or vtysh for FRR) until
# Established, and `ip -6 addr` until both link-locals have left DAD
# (tentative): that moment is the floor, as nothing can connect before it.
# It prints every round and the medians, the ratio ndbgp/FRR and the
# targets: ndbgp at most half of FRR's time, and within 0.1 s of the floor.
#
# Polling costs: ndbgpctl and ip take ~3 ms a call, vtysh ~30 ms, so the
# FRR times carry up to ~30 ms more of polling delay (about 1 % of them).
# Floor and state are read in turn, so "after the floor" is exact to about
# one poll (5-10 ms) and can come out slightly negative.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NDBGPD=$ROOT/target/release/ndbgpd
NDBGPCTL=$ROOT/target/release/ndbgpctl
FRR=/usr/lib/frr
NS_A=ndbench-a
NS_B=ndbench-b
ROUNDS=10
TIMEOUT=30

die() { echo "bench-bringup.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    *) sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds $ROUNDS: a positive number"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
if [ ! -x "$FRR/bgpd" ]; then
  echo "bench-bringup.sh: installing frr" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends frr >/dev/null
fi
for ns in "$NS_A" "$NS_B"; do
  ! ip netns list | grep -qw "$ns" || die "namespace $ns exists: another run? (ip netns del $ns)"
done
echo "bench-bringup.sh: building ndbgpd (cargo build --release)" >&2
cargo build --release --quiet --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench.XXXXXX)
chmod 0755 "$DIR"
PIDS=()

# Stop what this round started (by pid) and remove its namespaces.
teardown() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  PIDS=()
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
}
trap 'teardown; rm -rf "$DIR"' EXIT

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }

# A fresh pair of namespaces joined by a veth, both ends down.
fresh_link() {
  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip -n "$NS_A" link set lo up
  ip -n "$NS_B" link set lo up
  ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
}

# poll_until SECS CMD...: run CMD every ~5 ms until it succeeds.
poll_until() {
  local deadline=$(($(now) + $1 * 1000000000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.005
  done
}

ll_ready() {
  local out
  out=$(ip -n "$1" -6 addr show dev eth0 scope link) || return 1
  grep -q "inet6 fe80" <<<"$out" && ! grep -q tentative <<<"$out"
}

ndbgp_up() {
  "$NDBGPCTL" --socket "$DIR/$1.sock" neighbors --json 2>/dev/null | grep -q '"state": "Established"'
}

frr_up() {
  vtysh --vty_socket "$DIR/$1" -c 'show bgp neighbors eth0 json' 2>/dev/null |
    grep -Eq '"bgpState": ?"Established"'
}

start_ndbgp() {
  local side=$1 ns=$2 asn=$3
  setsid ip netns exec "$ns" "$NDBGPD" --iface eth0 --asn "$asn" --router-id "10.0.0.$((asn - 65000))" \
    --control-socket "$DIR/$side.sock" >"$DIR/$side-ndbgp.log" 2>&1 </dev/null &
  PIDS+=($!)
  poll_until 10 "$NDBGPCTL" --socket "$DIR/$side.sock" interfaces || die "ndbgpd $side did not start"
}

start_frr() {
  local side=$1 ns=$2 asn=$3 d=$DIR/$1
  mkdir -p "$d"
  printf 'frr defaults datacenter\nhostname %s\n!\nrouter bgp %s\n bgp router-id 10.0.0.%s\n no bgp ebgp-requires-policy\n neighbor eth0 interface remote-as external\n!\n' \
    "$ns" "$asn" "$((asn - 65000))" >"$d/frr.conf"
  chown -R frr:frr "$d"
  for daemon in zebra bgpd; do
    ip netns exec "$ns" "$FRR/$daemon" -d -N "$ns" -f "$d/frr.conf" -i "$d/$daemon.pid" \
      -z "$d/zserv.api" --vty_socket "$d" -u frr -g frr >>"$d/start.log" 2>&1 || die "$daemon $side: see $d/start.log"
    poll_until 10 test -s "$d/$daemon.pid" || die "$daemon $side wrote no pid file"
    PIDS+=("$(cat "$d/$daemon.pid")")
  done
  poll_until 10 frr_vty_ready "$side" || die "bgpd $side does not answer vtysh"
}

frr_vty_ready() { vtysh --vty_socket "$DIR/$1" -c 'show bgp neighbors eth0 json' | grep -q bgpState; }

# One measurement: prints "floor_ns established_ns" (since T0).
measure() {
  local kind=$1 t0 floor="" est=""
  fresh_link
  "start_$kind" a "$NS_A" 65001
  "start_$kind" b "$NS_B" 65002
  t0=$(now)
  ip -n "$NS_A" link set eth0 up
  ip -n "$NS_B" link set eth0 up
  local deadline=$((t0 + TIMEOUT * 1000000000)) t
  while :; do
    t=$(now)
    if [ -z "$floor" ] && ll_ready "$NS_A" && ll_ready "$NS_B"; then floor=$((t - t0)); fi
    if [ -z "$est" ] && "${kind}_up" a; then est=$(($(now) - t0)); fi
    [ -n "$floor" ] && [ -n "$est" ] && break
    [ "$t" -lt "$deadline" ] || die "$kind round: no Established within ${TIMEOUT}s (logs in $DIR)"
    sleep 0.005
  done
  teardown
  echo "$floor $est"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$DIR/results"
printf '%-6s %12s %12s %12s %12s\n' round "ndbgp floor" ndbgp "frr floor" frr
for r in $(seq 1 "$ROUNDS"); do
  read -r nf ne < <(measure ndbgp)
  read -r ff fe < <(measure frr)
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
