#!/usr/bin/env bash
# scripts/bench-sessions.sh: one ndbgpd with N sessions: bring-up, idle CPU, RSS.
#
#   scripts/bench-sessions.sh --interfaces N --peer ndbgp|frr|bird [--runs R] [--seconds S]
#                             [--bin DIR] [--ndbgpd-args "FLAGS"] [--perf FILE]
#                             (defaults: 3 runs, 60 s idle window)
#
# --bin DIR takes ndbgpd and ndbgpctl from DIR (another build, to compare)
# instead of building the release binaries. --ndbgpd-args adds FLAGS (split
# on spaces) to every ndbgpd of the run, e.g. "--ra-interval 30" to see what
# a setting costs. --perf FILE records ndbgpd with `perf record -g`:
# from link up to all Established into FILE.bringup, the idle window into
# FILE (each run overwrites them; perf's own overhead counts in that run's
# figures: profile with it, do not compare).
# Each run joins two fresh namespaces by N veth pairs (eth0..eth{N-1}, all
# down), starts ndbgpd with every interface in the first and the peer
# daemon in the second: another ndbgpd, FRR (zebra + bgpd, `neighbor ethI
# interface remote-as external`, datacenter defaults: keepalive 3 s, hold
# 9 s) or BIRD 2 (RAdv and one dynamic, passive BGP protocol per interface,
# `neighbor range fe80::/10`, keepalive 3 s, hold 9 s). At T0 every link is
# set up on both sides. One python3 process then polls every few ms both
# namespaces' link-locals (/proc/PID/net/if_inet6 of each daemon) and
# ndbgpd's sessions (ndbgpctl neighbors --json): the floor is when all 2 x N
# link-locals have left duplicate address detection (nothing can connect
# before), and the bring-up is when all N sessions are Established on
# ndbgpd's side, reported as time after the floor.
# Then, 10 s later (past the first UPDATEs and probes), the CPU time
# (utime + stime, /proc/PID/stat) of ndbgpd and of the peer daemon(s) over
# S seconds of idle: CPU seconds per minute and % of one core, and VmRSS at
# the end; every session must still be Established then.
# It prints `uptime`, every run, the medians and the targets: Established
# <= 0.5 s after the floor, ndbgpd idle CPU <= 1 % of a core, RSS <= 30 MB.
#
# Both ends share this kernel's IPv6 neighbour table (one entry per
# link-local and per multicast group on each interface, gc_thresh3 = 1024
# by default): 2 x 1000 link-locals overflow it and sends then fail with
# EINVAL. The run raises net.ipv6.neigh.default.gc_thresh1/2/3 and puts the
# old values back on every exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N=""
PEER=""
RUNS=3
BIN=""
EXTRA=()
PERF=""
IDLE=60
SETTLE=10
TIMEOUT=120

while [ $# -gt 0 ]; do
  case $1 in
    --interfaces) N=${2:?}; shift 2 ;;
    --peer) PEER=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --seconds) IDLE=${2:?}; shift 2 ;;
    --bin) BIN=${2:?}; shift 2 ;;
    --ndbgpd-args) read -r -a EXTRA <<<"${2:?}"; shift 2 ;;
    --perf) PERF=${2:?}; shift 2 ;;
    *) sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ -n "$N" ] && [ -n "$PEER" ] || { sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
for v in "$N" "$RUNS" "$IDLE"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "$v: a positive number"
done
case $PEER in ndbgp | frr | bird) ;; *) die "--peer $PEER: ndbgp, frr or bird" ;; esac
[ -z "$PERF" ] || command -v perf >/dev/null || die "--perf: no perf here"
need_root
case $PEER in
  frr) need_pkg frr "$FRR/bgpd" ;;
  bird) need_pkg bird2 /usr/sbin/bird ;;
esac
if [ -n "$BIN" ]; then
  NDBGPD=$(realpath "$BIN/ndbgpd") NDBGPCTL=$(realpath "$BIN/ndbgpctl")
  [ -x "$NDBGPD" ] && [ -x "$NDBGPCTL" ] || die "--bin $BIN: no ndbgpd and ndbgpctl there"
else
  build_release --bin ndbgpd --bin ndbgpctl
fi

DIR=$(mktemp -d /tmp/ndbgp-bench-sessions.XXXXXX)
chmod 0755 "$DIR"
GC=(net.ipv6.neigh.default.gc_thresh1 net.ipv6.neigh.default.gc_thresh2 net.ipv6.neigh.default.gc_thresh3)
declare -A GC_WAS=()
for k in "${GC[@]}"; do GC_WAS[$k]=$(sysctl -n "$k"); done
restore_gc() { for k in "${GC[@]}"; do sysctl -qw "$k=${GC_WAS[$k]}" || say "could not restore $k=${GC_WAS[$k]}"; done; }
# Teardown first (the namespaces' entries go with them), then the limits.
trap 'rc=$?; teardown 10; restore_gc; if [ $rc -eq 0 ]; then rm -rf "$DIR"; else say "logs kept in $DIR"; fi' EXIT
trap 'exit 130' INT TERM
# About 5 entries per interface and side (the peer's link-local, ff02::1,
# ff02::2, MLD): 32 per interface leaves room. Never lowered.
raise_gc() {
  local k=$1 want=$2
  [ "${GC_WAS[$k]}" -ge "$want" ] || sysctl -qw "$k=$want"
}
raise_gc net.ipv6.neigh.default.gc_thresh1 $((N * 8))
raise_gc net.ipv6.neigh.default.gc_thresh2 $((N * 16))
raise_gc net.ipv6.neigh.default.gc_thresh3 $((N * 32))

# links RUN: fresh namespaces NS_A, NS_B joined by N veth pairs, all down.
links() {
  local i ns
  NS_A=ndsess-$$-$1-a
  NS_B=ndsess-$$-$1-b
  netns_add "$NS_A" "$NS_B"
  # Routers forward (as scripts/lab.sh's nodes): the kernel then ignores
  # the RAs it hears, where a host would keep a default router per
  # interface and walk that list on each RA (with veth, the receiving
  # side's work is counted to the sender).
  for ns in "$NS_A" "$NS_B"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  done
  for i in $(seq 0 $((N - 1))); do echo "link add eth$i type veth peer name eth$i netns $NS_B"; done |
    ip -n "$NS_A" -batch - || die "cannot make $N veth pairs"
}

# all_links_up: every eth link up on both sides, one ip process per side.
all_links_up() {
  local ns i
  for ns in "$NS_A" "$NS_B"; do
    for i in $(seq 0 $((N - 1))); do echo "link set eth$i up"; done | ip -n "$ns" -batch - ||
      die "cannot set the links up in $ns"
  done
}

iface_args() {
  local i
  for i in $(seq 0 $((N - 1))); do printf -- '--iface\neth%s\n' "$i"; done
}

# ndbgpd_start SIDE NS ASN: ndbgpd with every interface; pid PID_<SIDE>.
ndbgpd_start() {
  local side=$1 ns=$2 asn=$3
  local -a ifaces
  mapfile -t ifaces < <(iface_args)
  start_ndbgpd "$ns" "$DIR/$side.log" "${ifaces[@]}" --asn "$asn" --router-id "10.0.0.$((asn - 65000))" \
    --control-socket "$DIR/$side.sock" ${EXTRA[@]+"${EXTRA[@]}"}
  printf -v "PID_$side" %s "$STARTED_PID"
  poll_until 30 ndbgpd_answers "$DIR/$side.sock" || die "ndbgpd $side did not start (see $DIR/$side.log)"
}

# peer_start: the peer daemon in NS_B; PEER_PIDS (its processes, summed).
peer_start() {
  case $PEER in
    ndbgp)
      ndbgpd_start b "$NS_B" 65002
      PEER_PIDS=("$PID_b")
      ;;
    frr)
      local d=$DIR/frr i
      rm -rf "$d"
      mkdir -p "$d"
      {
        printf 'frr defaults datacenter\nhostname %s\n!\n' "$NS_B"
        for i in $(seq 0 $((N - 1))); do
          printf 'interface eth%s\n ipv6 nd ra-interval 10\n no ipv6 nd suppress-ra\n!\n' "$i"
        done
        printf 'router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n'
        for i in $(seq 0 $((N - 1))); do echo " neighbor eth$i interface remote-as external"; done
        echo "!"
      } >"$d/frr.conf"
      start_frr "$NS_B" "$d"
      PEER_PIDS=("${STARTED_PIDS[@]}")
      poll_until 60 vtysh --vty_socket "$d" -c 'show bgp summary json' || die "bgpd does not answer vtysh"
      ;;
    bird)
      local d=$DIR/bird i
      rm -rf "$d"
      mkdir -p "$d"
      {
        echo "router id 10.0.0.2;"
        echo "protocol device {}"
        # RAs (ndbgpd learns BIRD from them) and dynamic, passive BGP from
        # link-locals, one protocol per interface (as scripts/lab.sh).
        echo "protocol radv {"
        echo "  ipv6 { export none; };"
        echo "  interface \"eth*\" { max ra interval 10; default lifetime 30; };"
        echo "}"
        for i in $(seq 0 $((N - 1))); do bird_bgp_unnumbered "eth$i" 65002 none; done
      } >"$d/bird.conf"
      start_bird "$NS_B" "$d/bird.conf" "$d/bird.sock" "$d/start.log"
      PEER_PIDS=("$STARTED_PID")
      ;;
  esac
}

# The watcher: polls the floor (all link-locals of both daemons'
# namespaces out of DAD) and ndbgpd's Established sessions; prints
# "FLOOR_NS EST_NS" (CLOCK_REALTIME) or exits 1 after SECS.
WATCH_PY='
import json, subprocess, sys, time

n, pid_a, pid_b, secs, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]

def ready(pid):
    # /proc/PID/net/if_inet6: address, ifindex, prefix length, scope, flags,
    # name. Scope 0x20: link; flags 0x40 tentative, 0x08 DAD failed.
    count = 0
    with open("/proc/%s/net/if_inet6" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 6 and parts[3] == "20" and parts[5].startswith("eth") and int(parts[4], 16) & 0x48 == 0:
                count += 1
    return count

def established():
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    try:
        rows = json.loads(out)
    except ValueError:
        return 0
    return sum(1 for r in rows if isinstance(r, dict) and r.get("state") == "Established")

floor = est = None
deadline = time.monotonic() + secs
while time.monotonic() < deadline and (floor is None or est is None):
    if floor is None and ready(pid_a) >= n and ready(pid_b) >= n:
        floor = time.time_ns()
    if est is None and established() >= n:
        est = time.time_ns()
    time.sleep(0.005)
if floor is None or est is None:
    sys.exit(1)
print(floor, est)
'

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sum_ticks() {
  local t=0 pid
  for pid in "$@"; do t=$((t + $(cpu_ticks "$pid"))); done
  echo "$t"
}
all_established() { [ "$(established_count ndbgp "$DIR/a.sock")" -eq "$N" ]; }

# One run: FLOOR and AFTER (ns), CPU_A and CPU_P (CPU s per minute), RSS_A
# and RSS_P (kB).
measure() {
  local run=$1 t0 out floor_at est_at a0 p0 a1 p1 hz
  links "$run"
  ndbgpd_start a "$NS_A" 65001
  peer_start
  "$PYTHON" -c "$WATCH_PY" "$N" "$PID_a" "${PEER_PIDS[0]}" "$TIMEOUT" \
    "$NDBGPCTL" --socket "$DIR/a.sock" neighbors --json >"$DIR/watch" </dev/null &
  WATCH_PID=$!
  RUN_PIDS+=("$WATCH_PID")
  local perf_pid=""
  if [ -n "$PERF" ]; then
    perf record -q -g -o "$PERF.bringup" -p "$PID_a" >/dev/null 2>&1 &
    perf_pid=$!
    RUN_PIDS+=("$perf_pid")
  fi
  t0=$(now)
  all_links_up
  wait "$WATCH_PID" ||
    die "run $run: not all of $N link-locals out of DAD and sessions Established within ${TIMEOUT}s: $(established_count ndbgp "$DIR/a.sock") Established (logs in $DIR)"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  read -r floor_at est_at <"$DIR/watch"
  FLOOR=$((floor_at - t0))
  AFTER=$((est_at - floor_at))
  sleep "$SETTLE"
  hz=$(getconf CLK_TCK)
  a0=$(cpu_ticks "$PID_a") p0=$(sum_ticks "${PEER_PIDS[@]}")
  if [ -n "$PERF" ]; then
    perf record -q -g -o "$PERF" -p "$PID_a" -- sleep "$IDLE" >/dev/null 2>&1 || say "perf record failed"
  else
    sleep "$IDLE"
  fi
  a1=$(cpu_ticks "$PID_a") p1=$(sum_ticks "${PEER_PIDS[@]}")
  RSS_A=$(rss_kb "$PID_a") RSS_P=$(rss_kb "${PEER_PIDS[@]}")
  all_established ||
    die "run $run: $(established_count ndbgp "$DIR/a.sock") of $N sessions Established after the idle window (logs in $DIR)"
  CPU_A=$(awk -v d=$((a1 - a0)) -v hz="$hz" -v s="$IDLE" 'BEGIN { printf "%.2f", d / hz * 60 / s }')
  CPU_P=$(awk -v d=$((p1 - p0)) -v hz="$hz" -v s="$IDLE" 'BEGIN { printf "%.2f", d / hz * 60 / s }')
  teardown 10
}

pct() { awk -v c="$1" 'BEGIN { printf "%.2f", c / 60 * 100 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "$N interfaces, ndbgpd ($NDBGPD${EXTRA[*]+ ${EXTRA[*]}}) against $PEER, $RUNS runs, ${IDLE} s idle window; $(uptime)"
: >"$DIR/results"
printf '%-4s %8s %12s | %-24s %8s | %-24s %8s\n' run floor "Est.-floor" "ndbgpd CPU s/min (%)" "RSS MB" "$PEER CPU s/min (%)" "RSS MB"
for r in $(seq 1 "$RUNS"); do
  measure "$r"
  echo "$FLOOR $AFTER $CPU_A $RSS_A $CPU_P $RSS_P" >>"$DIR/results"
  printf '%-4s %7ss %11ss | %-24s %8s | %-24s %8s   %s\n' "$r" "$(secs "$FLOOR")" "$(secs "$AFTER")" \
    "$CPU_A ($(pct "$CPU_A") %)" "$(mb "$RSS_A")" "$CPU_P ($(pct "$CPU_P") %)" "$(mb "$RSS_P")" \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
done

col() { awk -v c="$1" '{ print $c }' "$DIR/results" | median; }
floor=$(col 1) after=$(col 2) cpu_a=$(col 3) rss_a=$(col 4) cpu_p=$(col 5) rss_p=$(col 6)
echo
echo "medians over $RUNS runs ($N sessions, ndbgpd against $PEER; $(uptime)):"
echo "  floor (all 2 x $N link-locals out of DAD): $(secs "$floor") s after link up"
echo "  all $N Established: $(secs "$after") s after the floor"
echo "  idle ndbgpd: $cpu_a CPU s/min ($(pct "$cpu_a") % of a core), RSS $(mb "$rss_a") MB"
echo "  idle $PEER: $cpu_p CPU s/min ($(pct "$cpu_p") % of a core), RSS $(mb "$rss_p") MB"
awk -v a="$cpu_a" -v p="$cpu_p" 'BEGIN { if (p > 0) printf "  ratio ndbgpd/%s: CPU %.2f", "'"$PEER"'", a / p }'
awk -v a="$rss_a" -v p="$rss_p" 'BEGIN { if (p > 0) printf ", RSS %.2f\n", a / p; else print "" }'
awk -v g="$after" 'BEGIN { exit !(g <= 500000000) }' && t1=met || t1=MISSED
awk -v c="$cpu_a" 'BEGIN { exit !(c / 60 * 100 <= 1) }' && t2=met || t2=MISSED
awk -v k="$rss_a" 'BEGIN { exit !(k <= 30 * 1024) }' && t3=met || t3=MISSED
echo "  targets: Established <= floor + 0.5 s: $t1; idle CPU <= 1 % of a core: $t2; RSS <= 30 MB: $t3"
