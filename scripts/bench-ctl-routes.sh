#!/usr/bin/env bash
# scripts/bench-ctl-routes.sh: what `ndbgpctl routes` costs on a full table.
#
#   scripts/bench-ctl-routes.sh [--prefixes N] [--runs R]   (default 1000000, 3; root)
#
# Two fresh namespaces joined by a veth: examples/bgp_feeder announces N
# IPv4 /24s (11.0.0.0/24 upwards) to ndbgpd. Once all are in the kernel, it
# times `ndbgpctl routes 11.0.7.0/24` (one prefix), then R times each:
#  - `ndbgpctl routes --json` (the whole table): its time, ndbgpd's RSS
#    growth from before to after, ndbgpctl's peak RSS;
#  - `ndbgpctl routes` (the whole table as text), to /dev/null: its time;
#  - 10 clients that ask for `routes` and never read: ndbgpd's RSS growth
#    at its peak while they stall and once ndbgpd has dropped them (its
#    write timeout), and how long until the last was dropped.
# Medians of the R runs, each run's figures and the load average (1, 5,
# 15 min) at its start: the machine is shared.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N=1000000
RUNS=3
STALLED=10
while [ $# -gt 0 ]; do
  case $1 in
    --prefixes) N=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    *) sed -n '4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] && [ "$N" -le 4000000 ] || { echo "--prefixes $N: 1 to 4000000" >&2; exit 2; }
[[ $RUNS =~ ^[1-9]$ ]] || { echo "--runs $RUNS: 1 to 9" >&2; exit 2; }
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
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# `routes --json`, the whole table.
json_s=() json_kb=() ctl_kb=()
for run in $(seq "$RUNS"); do
  l=$(load)
  rss0=$(rss_kb "$DUT")
  t=$(now)
  /usr/bin/time -f "%M" -o "$DIR/ctl.rss" "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" routes --json >"$DIR/routes.json" ||
    die "ndbgpctl routes --json failed"
  t_all=$(($(now) - t))
  rss1=$(rss_kb "$DUT")
  bytes=$(stat -c %s "$DIR/routes.json")
  json_s+=("$(secs "$t_all" 2)") json_kb+=($((rss1 - rss0))) ctl_kb+=("$(cat "$DIR/ctl.rss")")
  say "run $run (load $l): routes --json ${json_s[-1]} s, $((bytes / 1000000)) MB;" \
    "ndbgpd RSS $(mb "$rss0") -> $(mb "$rss1") MB; ndbgpctl peak $(mb "${ctl_kb[-1]}") MB"
done
# `routes`, the whole table as the human table.
table_s=()
for run in $(seq "$RUNS"); do
  l=$(load)
  t=$(now)
  "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" routes >/dev/null || die "ndbgpctl routes failed"
  table_s+=("$(secs "$(($(now) - t))" 2)")
  say "run $run (load $l): routes (table) ${table_s[-1]} s"
done

lines=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$DIR/routes.json")
[ "$lines" -eq "$N" ] || die "routes --json gave $lines routes, not $N"
rm -f "$DIR/routes.json"

# Clients that ask for the whole table and never read: each connects,
# sends the request and waits until ndbgpd hangs up on it (30 s at most);
# prints how many were dropped and when the last was.
stall() {
  "$PYTHON" - "$STALLED" "$DIR/ndbgpd.sock" <<'PY'
import select, socket, sys, time
n, path = int(sys.argv[1]), sys.argv[2]
clients = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'{"command":"routes"}\n')
    clients.append(s)
start = time.monotonic()
poll = select.poll()
for s in clients:
    poll.register(s, select.POLLRDHUP)
dropped = 0
while dropped < n and time.monotonic() - start < 30:
    for fd, events in poll.poll(500):
        if events & (select.POLLRDHUP | select.POLLHUP):
            poll.unregister(fd)
            dropped += 1
print(dropped, round(time.monotonic() - start, 1))
PY
}
peak_kb=() after_kb=() drop_s=()
for run in $(seq "$RUNS"); do
  l=$(load)
  rss0=$(rss_kb "$DUT")
  stall >"$DIR/stall.out" &
  stalled=$!
  peak=$rss0
  while ! exited "$stalled"; do
    r=$(rss_kb "$DUT")
    [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.1
  done
  wait "$stalled" || die "the stalled clients failed"
  read -r dropped took <"$DIR/stall.out"
  [ "$dropped" -eq "$STALLED" ] || die "ndbgpd dropped $dropped of $STALLED clients that never read in 30 s"
  rss1=$(rss_kb "$DUT")
  peak_kb+=($((peak - rss0))) after_kb+=($((rss1 - rss0))) drop_s+=("$took")
  say "run $run (load $l): $STALLED clients that never read: ndbgpd RSS $(mb "$rss0") MB," \
    "peak $(mb "$peak"), $(mb "$rss1") once all were dropped ($took s)"
done
logged=$(grep -c "control client dropped" "$DIR/ndbgpd.log" || true)
[ "$logged" -eq $((STALLED * RUNS)) ] || die "ndbgpd logged $logged dropped clients, not $((STALLED * RUNS))"

echo "N=$N, medians of $RUNS runs: routes PREFIX $(secs "$t_one" 2) s;" \
  "routes --json $(median "${json_s[@]}") s (runs: ${json_s[*]}), ndbgpd RSS +$(mb "$(median "${json_kb[@]}")") MB," \
  "ndbgpctl peak $(mb "$(median "${ctl_kb[@]}")") MB;" \
  "routes (table) $(median "${table_s[@]}") s (runs: ${table_s[*]});" \
  "$STALLED clients that never read: ndbgpd RSS +$(mb "$(median "${peak_kb[@]}")") MB at peak" \
  "(runs: $(for k in "${peak_kb[@]}"; do printf '%s ' "$(mb "$k")"; done | sed 's/ $//')), +$(mb "$(median "${after_kb[@]}")") MB after," \
  "dropped after $(median "${drop_s[@]}") s"
