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
. "$(dirname "$0")/lib.sh"
N=1000000
while [ $# -gt 0 ]; do
  case $1 in
    --prefixes) N=${2:?}; shift 2 ;;
    *) sed -n '4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] && [ "$N" -le 4000000 ] || { echo "--prefixes $N: 1 to 4000000" >&2; exit 2; }
need_root
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
build_release --bin ndbgpd --bin ndbgpctl --example bgp_feeder
# Names of this run only: teardown deletes what this run made, nothing else.
F=ndbc-$$-feed
D=ndbc-$$-dut
DIR=$(mktemp -d /tmp/ndbgp-bench-ctl.XXXXXX)
# ndbgpd may take up to 25 s to remove 1M routes when it stops.
trap 'teardown 30; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM

netns_add "$F" "$D"
ip -n "$F" link add eth0 type veth peer name eth0 netns "$D"
ip -n "$F" link set eth0 up
ip -n "$D" link set eth0 up
start_ndbgpd "$D" "$DIR/ndbgpd.log" --iface eth0 --asn 65001 --router-id 10.0.0.1 --hold-time 90 \
  --control-socket "$DIR/ndbgpd.sock"
DUT=$STARTED_PID
ctl() { "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" "$@"; }
poll_until --every 0.1 20 link_local_ready "$D" eth0 || die "no link-local on $D eth0"
ll=$(link_local "$D" eth0)
start_bg "$F" "$DIR/feeder.log" "$BGP_FEEDER" --connect "$ll%eth0" --local-as 65004 --peer-as 65001 \
  --router-id 10.0.0.4 --prefixes "$N" --first 11.0.0.0 --len 24 --hold-time 90 --connect-timeout 30
all_received() {
  local est received
  read -r est received < <(ndbgp_sessions "$DIR/ndbgpd.sock")
  [ "$received" -ge "$N" ]
}
poll_until --every 0.2 120 all_received || { tail -5 "$DIR/ndbgpd.log" >&2; die "not all $N received in 120 s"; }
# And all in the kernel: until then a query waits behind the FIB's work.
all_in_kernel() { [ "$(kernel_route_count "$D")" -ge "$N" ]; }
poll_until --every 0.2 120 all_in_kernel || die "not all $N in the kernel 120 s after the RIB"
rss0=$(rss_kb "$DUT")
t=$(now)
ctl routes 11.0.7.0/24 >/dev/null || die "ndbgpctl routes 11.0.7.0/24 failed"
t_one=$(($(now) - t))
# The answer checked from its JSON: exactly that prefix.
one=$(ctl routes 11.0.7.0/24 --json | "$PYTHON" -c 'import json, sys; print(",".join(r["prefix"] for r in json.load(sys.stdin)))') ||
  die "ndbgpctl routes 11.0.7.0/24 --json failed"
[ "$one" = 11.0.7.0/24 ] || die "routes 11.0.7.0/24 answered: ${one:-nothing}"
t=$(now)
/usr/bin/time -f "%M" -o "$DIR/ctl.rss" "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" routes --json >"$DIR/routes.json" ||
  die "ndbgpctl routes --json failed"
t_all=$(($(now) - t))
bytes=$(stat -c %s "$DIR/routes.json")
rss1=$(rss_kb "$DUT")
echo "N=$N: routes PREFIX $(secs "$t_one" 2) s; routes --json $(secs "$t_all" 2) s, $((bytes / 1000000)) MB;" \
  "ndbgpd RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB; ndbgpctl peak RSS $(($(cat "$DIR/ctl.rss") / 1024)) MB"
