#!/usr/bin/env bash
# scripts/bench-routes.sh: a full table in, ndbgpd against FRR and BIRD.
#
#   scripts/bench-routes.sh [--prefixes N]... [--daemons ndbgp,frr,bird]
#                           [--feeder replay|gobgp] [--timeout S] [--runs R]
#                           [--bin DIR]
#                           (default N: 100000 and 1000000; all three daemons)
#
# --runs R measures every daemon R times, interleaved (ndbgp, bird, ndbgp,
# bird, ...), and prints each run's ratios and their medians. --bin DIR
# takes ndbgpd, ndbgpctl and examples/bgp_feeder from DIR (a copy of a
# release directory, to compare builds) instead of building.
#
# For each N and each daemon (ndbgpd, FRR 8 bgpd+zebra, BIRD 2) the script
# makes two fresh namespaces joined by a veth: a feeder and the daemon under
# test. The feeder announces N IPv4 /24s, 11.0.0.0/24 upwards, AS_PATH one
# ASN, ORIGIN IGP.
#
# Feeders:
#   replay (default): examples/bgp_feeder.rs. It dials the daemon, encodes
#     all UPDATEs (as full as 4096 octets allow) before its OPEN, and on
#     Established writes them back to back at wire speed, then an End-of-RIB;
#     it stays up (KEEPALIVEs) until killed. T_start = the feeder starts;
#     T0 = its "established" event (CLOCK_REALTIME, the clock of date +%s%N).
#     It also reports its own Established -> all sent time: when its last
#     write returned, i.e. when the kernel took the bytes (socket buffers on
#     both sides may hold a 1M table, 4 MB, that the daemon has not read).
#   gobgp: GoBGP starts with its neighbour admin-down and N prefixes loaded
#     from an MRT TABLE_DUMP_V2 file (`gobgp mrt inject global`); then
#     `gobgp neighbor X enable` (T_start). T0 = the daemon under test reports
#     Established (polled every ~10 ms). GoBGP itself is the bottleneck at 1M
#     prefixes (100 % CPU, 20-28 s whatever the daemon): keep it for cross-
#     checks against another implementation's encoding.
# From T0 the daemon side is polled (~20 ms, plus the query's own time) for:
#   (a) time to RIB: all N received (ndbgpctl neighbors prefixes_received;
#       FRR `show bgp ipv4 unicast summary json` pfxRcd; BIRD
#       `show protocols all` "N imported"),
#   (b) time to kernel: all N in the namespace's main table, counted from
#       /proc/net/fib_triestat (Main: Prefixes, minus the count before the
#       feed; a dump of 1M routes with `ip route | wc -l` takes seconds,
#       the trie statistics a few ms), counted only once the last prefix
#       has a route (`ip route get`, a lookup): the count walks the whole
#       trie, and counting every 20 ms took CPU from the daemon under test
#       on this 2-core machine. The final count is checked with
#       `ip -4 route show table main proto P`: bgp for FRR, 201 for ndbgpd,
#       bird for BIRD.
#   (c) memory: VmRSS after convergence (+1 s) minus VmRSS before the feed,
#       per route (FRR: bgpd + zebra).
#   (d) stop: SIGTERM to the daemon (FRR: bgpd and zebra) until it has
#       exited, and how many of its routes it left in the kernel (all three
#       remove their routes when they stop; up to 60 s is given).
# The daemon is no longer asked for (a) once it has all N: its query
# (python3, birdc, vtysh) costs CPU too.
# Times are from T0 and taken when the poll that saw the count returned, so
# they carry up to one poll interval plus the query's own time (vtysh on a
# busy bgpd can take long: that shows up in FRR's figures).
#
# Hold time 90 s everywhere: with a 1M-route table GoBGP (100 % CPU) sends
# nothing for more than 9 s after Established, and the daemon under test
# (ndbgpd's and FRR datacenter's default hold time is 9 s) resets the
# session with Hold Timer Expired, again and again. A daemon busy with 1M
# routes may also be late with its own KEEPALIVEs.
#
# Sessions: ndbgpd is fed over BGP unnumbered (the feeder dials ndbgpd's
# link-local, fe80::x%eth0; IPv4 NLRI with an IPv6 next hop, RFC 8950). FRR
# and BIRD are fed over a numbered IPv4 session (feeder 192.168.0.1 - daemon
# 192.168.0.2): neither feeder sends RAs, and FRR accepts unnumbered peers
# only from an RA. ndbgpd, FRR and BIRD also dial the feeder: the replay
# feeder does not listen, so their dials are refused, and they take its.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Names of this run only: teardown never touches another run's namespaces.
NS_F=ndbr-$$-feed
NS_D=ndbr-$$-dut
TIMEOUT=300
SIZES=()
KINDS=(ndbgp frr bird)
FEEDER=replay
RUNS=1
BIN=""

while [ $# -gt 0 ]; do
  case $1 in
    --prefixes) SIZES+=("${2:?}"); shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --daemons) read -ra KINDS <<<"${2//,/ }"; shift 2 ;;
    --feeder) FEEDER=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --bin) BIN=${2:?}; shift 2 ;;
    *) sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
for n in "${SIZES[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 4000000 ] || die "--prefixes $n: 1 to 4000000"
done
case $FEEDER in replay | gobgp) ;; *) die "--feeder $FEEDER: replay or gobgp" ;; esac
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "--runs $RUNS: 1 to 99"
need_root
TOOLS=("$FRR/bgpd" /usr/sbin/bird "$PYTHON")
[ "$FEEDER" = replay ] || TOOLS+=(/usr/bin/gobgpd /usr/bin/gobgp)
for t in "${TOOLS[@]}"; do
  [ -x "$t" ] || die "$t missing (apt-get install gobgpd frr bird2 python3)"
done
if [ -n "$BIN" ]; then
  NDBGPD=$(realpath "$BIN/ndbgpd") NDBGPCTL=$(realpath "$BIN/ndbgpctl") BGP_FEEDER=$(realpath "$BIN/examples/bgp_feeder")
  [ -x "$NDBGPD" ] && [ -x "$NDBGPCTL" ] && [ -x "$BGP_FEEDER" ] ||
    die "--bin $BIN: no ndbgpd, ndbgpctl and examples/bgp_feeder there"
else
  build_release --bin ndbgpd --bin ndbgpctl --example bgp_feeder
fi

DIR=$(mktemp -d /tmp/ndbgp-bench-routes.XXXXXX)
chmod 0755 "$DIR"
KEEP_LOGS=""

# BIRD takes several seconds to flush 1M kernel routes on SIGTERM: 15 s.
cleanup() {
  teardown 15
  if [ -n "$KEEP_LOGS" ]; then say "logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# MRT TABLE_DUMP_V2: a PEER_INDEX_TABLE and N RIB_IPV4_UNICAST entries,
# 11.0.0.0/24 upwards, AS_PATH 65100, ORIGIN IGP, NEXT_HOP 192.168.0.1 (the
# feeder on the numbered link: GoBGP 3.10 passes an injected next hop on to an
# eBGP peer unchanged; over the unnumbered session it sends its link-local).
gen_mrt() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import struct, sys
n = int(sys.argv[1]); out = sys.argv[2]
def rec(sub, body):
    return struct.pack('>IHHI', 0, 13, sub, len(body)) + body
with open(out, 'wb') as f:
    f.write(rec(1, struct.pack('>4sH', bytes([10, 0, 0, 4]), 0) + struct.pack('>H', 1)
            + struct.pack('>B4s4sI', 0x02, bytes([10, 0, 0, 99]), bytes([192, 0, 2, 1]), 65100)))
    attrs = (bytes([0x40, 1, 1, 0])
             + bytes([0x40, 2, 6, 2, 1]) + struct.pack('>I', 65100)
             + bytes([0x40, 3, 4, 192, 168, 0, 1]))
    tail = struct.pack('>HIH', 0, 0, len(attrs)) + attrs
    # gobgp mrt inject (3.10) loses the last ~1-2k entries of its stream (it
    # exits before the stream is flushed): pad with repeats of the first
    # prefixes, identical paths that change nothing in GoBGP's RIB.
    pad = min(n, max(20000, n // 10))
    buf = []
    for j in range(n + pad):
        i = j if j < n else j - n
        a = (11 << 24) + (i << 8)
        buf.append(rec(2, struct.pack('>IB', j, 24) + struct.pack('>I', a)[:3]
                       + struct.pack('>H', 1) + tail))
        if len(buf) >= 65536:
            f.write(b''.join(buf)); buf = []
    f.write(b''.join(buf))
EOF
}

fresh_link() {
  netns_add "$NS_F" "$NS_D"
  ip -n "$NS_F" link add eth0 type veth peer name eth0 netns "$NS_D"
}

# GoBGP feeder, neighbour admin-down; $1 = the neighbour's config line.
start_gobgpd() {
  cat >"$DIR/gobgp.toml" <<EOF
[global.config]
  as = 65004
  router-id = "10.0.0.4"
  port = 179
[[neighbors]]
  [neighbors.config]
    $1
    peer-as = 65001
    admin-down = true
  [neighbors.timers.config]
    hold-time = 90
    keepalive-interval = 30
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOF
  start_bg "$NS_F" "$DIR/gobgpd.log" /usr/bin/gobgpd -f "$DIR/gobgp.toml" --api-hosts 127.0.0.1:50051
  poll_until 10 gobgp global || die "gobgpd did not start (see $DIR/gobgpd.log)"
}
gobgp() { ip netns exec "$NS_F" /usr/bin/gobgp -p 50051 "$@"; }
# Prefixes in GoBGP's IPv4 RIB, from its JSON.
feeder_prefixes() {
  gobgp global rib summary -a ipv4 -j | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["num_destination"])'
}
feeder_loaded() { [ "$(feeder_prefixes)" = "$1" ]; }

# Per daemon: up_X, state_X (prints "STATE COUNT"), kproto_X, diag_X.
# up_X starts the daemon under test and sets DUT_PIDS, FEED_PEER (what the
# replay feeder dials), NEIGH and GOBGP_NEIGH (GoBGP's name and config line
# for the daemon).
up_ndbgp() {
  ip -n "$NS_F" link set eth0 up
  ip -n "$NS_D" link set eth0 up
  start_ndbgpd "$NS_D" "$DIR/ndbgpd.log" --iface eth0 --asn 65001 --router-id 10.0.0.1 --hold-time 90 \
    --control-socket "$DIR/ndbgpd.sock"
  DUT_PIDS=("$STARTED_PID")
  poll_until 10 ndbgpd_answers "$DIR/ndbgpd.sock" || die "ndbgpd did not start"
  poll_until 5 link_local_ready "$NS_D" eth0 && poll_until 5 link_local_ready "$NS_F" eth0 ||
    die "no link-local on eth0"
  local ll
  ll=$(link_local "$NS_D" eth0)
  FEED_PEER=$ll%eth0
  NEIGH=$ll%eth0
  GOBGP_NEIGH='neighbor-interface = "eth0"'
}
state_ndbgp() {
  local est received
  read -r est received < <(ndbgp_sessions "$DIR/ndbgpd.sock")
  if [ "$est" -gt 0 ]; then echo "Established $received"; else echo "- $received"; fi
}
kproto_ndbgp() { echo 201; }  # RTPROT_NDBGP (packaging/rt_protos.d/ndbgp.conf)

numbered_feed() {
  FEED_PEER=192.168.0.2
  NEIGH=192.168.0.2
  GOBGP_NEIGH='neighbor-address = "192.168.0.2"'
}
numbered() {
  ip -n "$NS_F" addr add 192.168.0.1/30 dev eth0
  ip -n "$NS_D" addr add 192.168.0.2/30 dev eth0
  ip -n "$NS_F" link set eth0 up
  ip -n "$NS_D" link set eth0 up
}

up_frr() {
  local d=$DIR/frr
  numbered
  mkdir -p "$d"
  printf 'frr defaults datacenter\nhostname dut\n!\nrouter bgp 65001\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n neighbor 192.168.0.1 remote-as 65004\n neighbor 192.168.0.1 timers 30 90\n!\n' >"$d/frr.conf"
  start_frr "$NS_D" "$d"
  DUT_PIDS=("${STARTED_PIDS[@]}")
  poll_until 10 state_frr || die "bgpd does not answer vtysh"
  numbered_feed
}
state_frr() {
  vtysh --vty_socket "$DIR/frr" -c 'show bgp ipv4 unicast summary json' 2>/dev/null | "$PYTHON" -c '
import json, sys
p = json.load(sys.stdin).get("peers", {}).get("192.168.0.1")
print(p.get("state", "-"), p.get("pfxRcd", 0)) if p else print("- 0")'
}
kproto_frr() { echo bgp; }
diag_frr() { vtysh --vty_socket "$DIR/frr" -c 'show ip route summary' -c 'show ip route 11.0.0.0/24' -c 'show ip nht'; }
diag_bird() { birdc -s "$DIR/bird.ctl" show protocols all; }
diag_ndbgp() { "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" neighbors; }

up_bird() {
  numbered
  cat >"$DIR/bird.conf" <<'EOF'
router id 10.0.0.1;
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
protocol bgp feeder {
  local 192.168.0.2 as 65001;
  neighbor 192.168.0.1 as 65004;
  hold time 90;
  ipv4 { import all; export none; };
}
EOF
  start_bird "$NS_D" "$DIR/bird.conf" "$DIR/bird.ctl" "$DIR/bird.log"
  DUT_PIDS=("$STARTED_PID")
  numbered_feed
}
state_bird() {
  birdc -s "$DIR/bird.ctl" show protocols all feeder 2>/dev/null | awk '
    /BGP state:/ { s = $3 }
    /Routes:/ { r = $2 }
    END { print (s == "" ? "-" : s), (r == "" ? 0 : r) }'
}
kproto_bird() { echo bird; }

kernel_count() { kernel_route_count "$NS_D"; }
# last_in_kernel N: the last of the N prefixes (11.0.0.0/24 upwards) has a
# route in the daemon's namespace: a lookup, where a count walks the trie.
last_in_kernel() {
  local a=$(((11 << 24) + (($1 - 1) << 8) + 1))
  ip -n "$NS_D" -4 route get "$((a >> 24)).$(((a >> 16) & 255)).$(((a >> 8) & 255)).$((a & 255))" >/dev/null 2>&1
}

# neighbour_known ADDR: the feeder's kernel has a usable entry for ADDR on eth0.
neighbour_known() {
  [ -n "$(ip -n "$NS_F" -6 neigh show to "$1" dev eth0 nud reachable nud stale nud delay nud probe)" ]
}

# GoBGP path: gobgpd with the table loaded, neighbour still admin-down.
load_gobgp() {
  local kind=$1 n=$2 t
  if [ "$kind" = ndbgp ]; then
    # GoBGP's neighbor-interface reads ndbgpd's address from the neighbour
    # table, which learns it from ndbgpd's RAs.
    poll_until 20 neighbour_known "${FEED_PEER%%%*}" || die "${FEED_PEER%%%*} not in $NS_F's neighbour table"
  fi
  start_gobgpd "$GOBGP_NEIGH"
  say "$kind N=$n: loading the feeder"
  t=$(now)
  gobgp mrt inject global "$DIR/feed.mrt" >/dev/null 2>&1 || die "gobgp mrt inject failed"
  poll_until "$TIMEOUT" feeder_loaded "$n" ||
    die "feeder holds $(feeder_prefixes || echo ?) of $n prefixes"
  say "$kind N=$n: feeder loaded in $(secs $(($(now) - t))) s"
  sleep 2
}

# Replay path: the feeder dials the daemon; its events go to $EVENTS.
start_replay() {
  local n=$1
  EVENTS=$DIR/feeder.events
  : >"$EVENTS"
  start_bg "$NS_F" "$DIR/feeder.log" "$BGP_FEEDER" --connect "$FEED_PEER" --local-as 65004 --peer-as 65001 \
    --router-id 10.0.0.4 --prefixes "$n" --first 11.0.0.0 --len 24 --hold-time 90 --connect-timeout 30 \
    --events "$EVENTS"
  FEEDER_PID=$STARTED_PID
}
event() { awk -v e="$1" '$1 == e { print $2; exit }' "$EVENTS"; }

# Diagnostics, logs kept, and out.
fail() {
  KEEP_LOGS=1
  "diag_$kind" >"$DIR/diag.txt" 2>&1 || true
  ip -n "$NS_D" -4 route | head -5 >>"$DIR/diag.txt" 2>&1 || true
  die "$kind N=$n: $* (logs in $DIR)"
}

# cpu_split PID...: their user and system CPU time summed, "USER SYS" in
# clock ticks (fields 14 and 15 of /proc/PID/stat, after the command name).
cpu_split() {
  local u=0 k=0 pid rest f
  for pid in "$@"; do
    rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${rest##*) }
    read -r -a f <<<"$rest"
    u=$((u + f[11])) k=$((k + f[12]))
  done
  echo "$u $k"
}
TICK=$(getconf CLK_TCK)

# One measurement; appends "kind N start_to_est_ns rib_ns kernel_ns
# bytes_per_route est_to_sent_ns stop_ns left run user_ticks sys_ticks" to
# $DIR/results (est_to_sent "-" for GoBGP; user and system CPU time of the
# daemon from the feed's start to all in the kernel).
measure() {
  local kind=$1 n=$2 run=$3
  fresh_link
  "up_$kind"
  [ "$FEEDER" = gobgp ] && load_gobgp "$kind" "$n"
  local base rss0 t_start t t0="" t_rib="" t_kern="" st cnt k deadline last_in=""
  base=$(kernel_count)
  rss0=$(rss_kb "${DUT_PIDS[@]}")
  local cpu0 cpu1
  cpu0=$(cpu_split "${DUT_PIDS[@]}")
  say "$kind N=$n run $run: load $(cut -d' ' -f1-3 /proc/loadavg)"
  t_start=$(now)
  if [ "$FEEDER" = gobgp ]; then
    gobgp neighbor "$NEIGH" enable >/dev/null || die "gobgp neighbor $NEIGH enable failed"
  else
    start_replay "$n"
  fi
  deadline=$((t_start + TIMEOUT * 1000000000))
  while :; do
    if [ -z "$t0" ] && [ "$FEEDER" = replay ]; then
      t0=$(event established)
      [ -n "$t0" ] || kill -0 "$FEEDER_PID" 2>/dev/null ||
        fail "feeder exited before Established: $(tail -3 "$DIR/feeder.log")"
    fi
    # Once all are in the RIB the daemon is asked no more: the query
    # (python3 for ndbgpd's JSON, birdc, vtysh) takes CPU from it.
    [ -n "$t_rib" ] || read -r st cnt < <("state_$kind" || echo "- 0")
    t=$(now)
    # The replay feeder's T0 is its own event (the daemon may say
    # Established a little earlier, before its KEEPALIVE reached the feeder).
    if [ -z "$t0" ] && [ "$FEEDER" = gobgp ] && [ "$st" = Established ]; then t0=$t; fi
    if [ -n "$t0" ] && [ -z "$t_rib" ] && [ "${cnt:-0}" -ge "$n" ]; then t_rib=$t; fi
    if [ -n "$t0" ] && [ -z "$t_kern" ] && { [ -n "$last_in" ] || last_in_kernel "$n"; }; then
      last_in=1
      k=$(kernel_count)
      if [ $((k - base)) -ge "$n" ]; then t_kern=$(now); fi
    fi
    [ -n "$t_rib" ] && [ -n "$t_kern" ] && break
    if [ "$FEEDER" = replay ] && [ -n "$t0" ] && ! kill -0 "$FEEDER_PID" 2>/dev/null; then
      fail "feeder session ended: $(tail -3 "$DIR/feeder.log"); state $st, RIB $cnt"
    fi
    if [ "$t" -ge "$deadline" ] || { [ -z "$t0" ] && [ "$t" -ge $((t_start + 30000000000)) ]; }; then
      fail "not converged in ${TIMEOUT}s: state $st, RIB $cnt, kernel $((${k:-$base} - base))"
    fi
    if [ -z "$t0" ]; then sleep 0.01; else sleep 0.02; fi
  done
  cpu1=$(cpu_split "${DUT_PIDS[@]}")
  local cu ck
  read -r cu ck < <(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { split(a, x, " "); split(b, y, " "); print y[1] - x[1], y[2] - x[2] }')
  sleep 1
  local rss1 inkernel sent="-" t_sent
  rss1=$(rss_kb "${DUT_PIDS[@]}")
  inkernel=$(ip -n "$NS_D" -4 route show table main proto "$("kproto_$kind")" | tee "$DIR/routes" | wc -l)
  say "$kind N=$n: e.g. $(head -1 "$DIR/routes")"
  if [ "$FEEDER" = replay ]; then
    kill -0 "$FEEDER_PID" 2>/dev/null || say "$kind N=$n: WARNING the feeder's session ended: $(tail -1 "$DIR/feeder.log")"
    t_sent=$(event sent)
    [ -n "$t_sent" ] && sent=$((t_sent - t0))
    say "$kind N=$n: feeder: $(grep -c retrying "$DIR/feeder.log" || true) retries; encoded in $(event encoded) us; Established -> all sent $( [ "$sent" = - ] && echo "not yet" || echo "$(secs "$sent") s")"
  fi
  say "$kind N=$n: Established $(secs $((t0 - t_start))) s after start; RIB $(secs $((t_rib - t0))) s, kernel $(secs $((t_kern - t0))) s; ip route proto $("kproto_$kind"): $inkernel; RSS ${rss0} -> ${rss1} kB; CPU until all in the kernel: user $(awk -v t="$cu" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }') s, system $(awk -v t="$ck" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }') s"
  [ "$inkernel" -ge "$n" ] || say "$kind N=$n: WARNING only $inkernel routes with proto $("kproto_$kind")"
  local t_stop pid left
  t=$(now)
  for pid in "${DUT_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  poll_until 60 all_exited "${DUT_PIDS[@]}" || say "$kind N=$n: WARNING still running 60 s after SIGTERM"
  t_stop=$(($(now) - t))
  left=$(ip -n "$NS_D" -4 route show table main proto "$("kproto_$kind")" | wc -l)
  say "$kind N=$n: stopped $(secs "$t_stop") s after SIGTERM, $left routes left in the kernel"
  cp "$DIR/$kind.log" "$DIR/$kind-$n.log" 2>/dev/null || true
  [ "$FEEDER" = gobgp ] || cp "$DIR/feeder.log" "$DIR/feeder-$kind-$n.log"
  teardown 15
  echo "$kind $n $((t0 - t_start)) $((t_rib - t0)) $((t_kern - t0)) $(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }') $sent $t_stop $left $run $cu $ck" >>"$DIR/results"
}

: >"$DIR/results"
for n in "${SIZES[@]}"; do
  if [ "$FEEDER" = gobgp ]; then
    say "N=$n: generating the MRT feed"
    gen_mrt "$n" "$DIR/feed.mrt"
  fi
  for run in $(seq "$RUNS"); do
    for kind in "${KINDS[@]}"; do
      measure "$kind" "$n" "$run"
    done
  done
  rm -f "$DIR/feed.mrt"
done

echo
if [ "$FEEDER" = gobgp ]; then
  echo "feeder GoBGP; est: enable -> daemon Established; times from Established (GoBGP starts sending)"
else
  echo "feeder replay; est: feeder start -> Established; times from Established; sent: feeder's Established -> all written"
fi
echo "ndbgpd unnumbered, FRR and BIRD numbered IPv4"
printf '%-6s %8s %4s %10s %10s %12s %12s %10s %9s %8s %7s %7s\n' daemon N run est "to RIB" "to kernel" "bytes/route" sent stop left user system
while read -r kind n est rib kern bpr sent stop left run cu ck; do
  [ "$sent" = - ] || sent=$(secs "$sent")s
  printf '%-6s %8s %4s %9ss %9ss %11ss %12s %10s %8ss %8s %6ss %6ss\n' "$kind" "$n" "$run" "$(secs "$est")" "$(secs "$rib")" "$(secs "$kern")" "$bpr" "$sent" "$(secs "$stop")" "$left" \
    "$(awk -v t="$cu" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }')" "$(awk -v t="$ck" -v h="$TICK" 'BEGIN { printf "%.2f", t / h }')"
done <"$DIR/results"
echo
# Ratios run by run (from the same run), then the median of each.
printf '%-8s %8s %6s %14s %14s %14s\n' ratio N run "RIB time" "kernel time" "bytes/route"
for n in "${SIZES[@]}"; do
  for other in frr bird; do
    awk -v n="$n" -v o="$other" '
      $2 == n && $1 == "ndbgp" { r[$10] = $4; k[$10] = $5; b[$10] = $6 }
      $2 == n && $1 == o { or[$10] = $4; ok[$10] = $5; ob[$10] = $6 }
      function q(a, b) { return b > 0 ? a / b : -1 }
      function show(x) { return x < 0 ? "n/a" : sprintf("%.2f", x) }
      function median(a, m,   i, j, t) {
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
      }
      END {
        m = 0
        for (run = 1; run <= 99; run++) if ((run in r) && (run in or)) {
          m++; qr[m] = q(r[run], or[run]); qk[m] = q(k[run], ok[run]); qb[m] = q(b[run], ob[run])
          printf "%-8s %8s %6s %14s %14s %14s\n", "ndbgp/" o, n, run, show(qr[m]), show(qk[m]), show(qb[m])
        }
        if (m > 1) printf "%-8s %8s %6s %14s %14s %14s\n", "ndbgp/" o, n, "median", show(median(qr, m)), show(median(qk, m)), show(median(qb, m))
      }' "$DIR/results"
  done
done
echo
echo "targets (ndbgpd):"
while read -r kind n est rib kern bpr _; do
  [ "$kind" = ndbgp ] || continue
  rate=$(awk -v n="$n" -v k="$kern" 'BEGIN { printf "%.0f", n / (k / 1e9) }')
  if [ "$n" -eq 1000000 ]; then
    awk -v r="$rib" 'BEGIN { exit !(r <= 2e9) }' && m=met || m=MISSED
    echo "  N=$n: Loc-RIB within 2 s: $m ($(secs "$rib") s)"
  fi
  awk -v r="$rate" 'BEGIN { exit !(r >= 80000) }' && m=met || m=MISSED
  echo "  N=$n: kernel install near 100k routes/s: $m ($rate routes/s overall)"
  [ "$bpr" -lt 150 ] && m=met || m=MISSED
  echo "  N=$n: under 150 bytes/route: $m ($bpr)"
done <"$DIR/results"
