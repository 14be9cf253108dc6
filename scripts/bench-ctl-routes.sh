#!/usr/bin/env bash
# scripts/bench-ctl-routes.sh: what `ndbgpctl routes` costs on a full table.
#
#   scripts/bench-ctl-routes.sh [--prefixes N]      (default 1000000; root)
#
# Two fresh namespaces joined by a veth: examples/bgp_feeder announces N
# IPv4 /24s (11.0.0.0/24 upwards) to ndbgpd. Once all are in the kernel, it
# times `ndbgpctl routes 11.0.7.0/24` (one prefix) and `ndbgpctl routes
# --json` (the whole table), and reports ndbgpd's RSS before and after and
# ndbgpctl's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000
while [ $# -gt 0 ]; do
  case $1 in
    --prefixes) N=${2:?}; shift 2 ;;
    *) sed -n '4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] && [ "$N" -le 4000000 ] || { echo "--prefixes $N: 1 to 4000000" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench-ctl-routes.sh: needs root (network namespaces)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-ctl-routes.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin ndbgpd --bin ndbgpctl --example bgp_feeder
R=$PWD/target/release
F=ndbc-feed
D=ndbc-dut
DIR=$(mktemp -d /tmp/ndbgp-bench-ctl.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$F" 2>/dev/null || true
  ip netns del "$D" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

ip netns add "$F"
ip netns add "$D"
ip -n "$F" link set lo up
ip -n "$D" link set lo up
ip -n "$F" link add eth0 type veth peer name eth0 netns "$D"
ip -n "$F" link set eth0 up
ip -n "$D" link set eth0 up
ip netns exec "$D" "$R/ndbgpd" --iface eth0 --asn 65001 --router-id 10.0.0.1 --hold-time 90 \
  --control-socket "$DIR/ndbgpd.sock" >"$DIR/ndbgpd.log" 2>&1 </dev/null &
DUT=$!
PIDS+=("$DUT")
ctl() { "$R/ndbgpctl" --socket "$DIR/ndbgpd.sock" "$@"; }
ll=""
deadline=$(($(now) + 20000000000))
until [ -n "$ll" ]; do
  ll=$(ip -n "$D" -6 addr show dev eth0 scope link | awk '/inet6 fe80/ && !/tentative/ { sub("/.*", "", $2); print $2; exit }')
  [ "$(now)" -lt "$deadline" ] || { echo "no link-local on $D eth0" >&2; exit 1; }
  sleep 0.1
done
ip netns exec "$F" "$R/examples/bgp_feeder" --connect "$ll%eth0" --local-as 65004 --peer-as 65001 \
  --router-id 10.0.0.4 --prefixes "$N" --first 11.0.0.0 --len 24 --hold-time 90 --connect-timeout 30 \
  >"$DIR/feeder.log" 2>&1 </dev/null &
PIDS+=($!)
received() {
  ctl neighbors --json 2>/dev/null | python3 -c 'import json, sys; print(sum(r.get("prefixes_received", 0) for r in json.load(sys.stdin)))' 2>/dev/null || echo 0
}
deadline=$(($(now) + 120000000000))
until [ "$(received)" -ge "$N" ]; do
  [ "$(now)" -lt "$deadline" ] || { echo "not all $N received in 120 s" >&2; tail -5 "$DIR/ndbgpd.log" >&2; exit 1; }
  sleep 0.2
done
# And all in the kernel: until then a query waits behind the FIB's work.
kernel_count() {
  ip netns exec "$D" cat /proc/net/fib_triestat | awk '/^Main:/ { m = 1 } m && /Prefixes:/ { print $2; exit }'
}
deadline=$(($(now) + 120000000000))
until [ "$(kernel_count)" -ge "$N" ]; do
  [ "$(now)" -lt "$deadline" ] || { echo "not all $N in the kernel 120 s after the RIB" >&2; exit 1; }
  sleep 0.2
done
rss0=$(rss_kb "$DUT")
t=$(now)
one=$(ctl routes 11.0.7.0/24) || { echo "ndbgpctl routes 11.0.7.0/24 failed" >&2; exit 1; }
t_one=$(($(now) - t))
[ "$(grep -c '11.0.7.0/24' <<<"$one")" -eq 1 ] || { echo "routes 11.0.7.0/24 printed: $one" >&2; exit 1; }
t=$(now)
/usr/bin/time -f "%M" -o "$DIR/ctl.rss" "$R/ndbgpctl" --socket "$DIR/ndbgpd.sock" routes --json >"$DIR/routes.json" ||
  { echo "ndbgpctl routes --json failed" >&2; exit 1; }
t_all=$(($(now) - t))
bytes=$(stat -c %s "$DIR/routes.json")
rss1=$(rss_kb "$DUT")
echo "N=$N: routes PREFIX $(secs "$t_one") s; routes --json $(secs "$t_all") s, $((bytes / 1000000)) MB;" \
  "ndbgpd RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB; ndbgpctl peak RSS $(($(cat "$DIR/ctl.rss") / 1024)) MB"
