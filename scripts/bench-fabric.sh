#!/usr/bin/env bash
# scripts/bench-fabric.sh: a whole leaf/spine fabric (scripts/lab.sh) from
# link up to full ECMP, at rest, and through a spine failure.
#
#   scripts/bench-fabric.sh [--spines N] [--leaves M] [--peer ndbgp|frr|bird|both]
#                           [--runs R] [--idle SECS] [--deadline SECS]
#
# Defaults: 4 spines, 32 leaves, --peer both (ndbgpd spines and FRR spines,
# one after the other in every run; the leaves are always ndbgpd), 3 runs,
# a 60 s idle window, 30 s deadline for each wait. Each measurement builds a
# fresh lab (`lab.sh up --links down`: every daemon started and answering,
# the spines' ends of the links down), then:
#
# 1. bring-up: at T0 every link goes up (`lab.sh links up`, one ip -batch
#    per spine); until every leaf has every other leaf's loopback
#    (10.0.0.i/32, proto 201) with N next hops, none dead or linkdown. The
#    DAD floor is when every fabric port's link-local has left tentative
#    (nothing can connect before it).
# 2. CPU (utime + stime, /proc/PID/stat) of every daemon from T0 until 5 s
#    after the bring-up converged, then over the idle window; RSS at its
#    end. Per node: a leaf is one ndbgpd, an FRR spine zebra + bgpd.
# 3. spine failure: at T0 all of spine 1's links go down at its end; until
#    every leaf has N-1 next hops to every other leaf, none via its port to
#    spine 1 (swp1) and none dead or linkdown.
# 4. spine return: at T0 they go up; until every leaf has N again (floor:
#    spine 1's link-locals out of DAD).
#
# The kernel tables and link-locals are read by one python3 process that
# enters each namespace (setns) and dumps its routes over rtnetlink every
# 20 ms (no process started per poll: 32 `ip` a round would cost more CPU
# than the daemons under test); its own CPU is printed. T0 is taken before
# `lab.sh links` starts (10-30 ms before the links change), so times are
# slightly high. Every measurement prints `uptime`; the end prints medians
# per spine kind side by side. The lab is taken down (`lab.sh down`: by
# pid, namespaces deleted) after every measurement and on every exit. A
# wait that times out prints what is missing, keeps the lab's logs in the
# directory it names and makes that figure NA; the runs go on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SPINES=4 LEAVES=32 PEERS=both RUNS=3 IDLE=60 DEADLINE=30
while [ $# -gt 0 ]; do
  case $1 in
    --spines) SPINES=${2:?}; shift 2 ;;
    --leaves) LEAVES=${2:?}; shift 2 ;;
    --peer) PEERS=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --idle) IDLE=${2:?}; shift 2 ;;
    --deadline) DEADLINE=${2:?}; shift 2 ;;
    *) sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
case $PEERS in
  both) PEERS=(ndbgp frr) ;;
  ndbgp | frr | bird) PEERS=("$PEERS") ;;
  *) die "--peer $PEERS: ndbgp, frr, bird or both" ;;
esac
[[ $SPINES =~ ^[1-9][0-9]?$ && $SPINES -ge 2 ]] || die "--spines $SPINES: 2-99 (one fails)"
[[ $LEAVES =~ ^[1-9][0-9]{0,2}$ && $LEAVES -ge 2 && $LEAVES -le 254 ]] || die "--leaves $LEAVES: 2-254"
for v in RUNS IDLE DEADLINE; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} ${!v}: a positive number"; done
need_root
build_release --bin ndbgpd --bin ndbgpctl

LAB_NAME=fab$$
LAB_SH=$ROOT/scripts/lab.sh
OUT=$(mktemp -d /tmp/ndbgp-fabric.XXXXXX)
LAB_UP=""
POLL_PID=""
cleanup() {
  if [ -n "$POLL_PID" ]; then stop_pids 2 "$POLL_PID" || true; fi
  if [ -n "$LAB_UP" ]; then "$LAB_SH" down --name "$LAB_NAME" >/dev/null || say "lab.sh down --name $LAB_NAME failed"; fi
  LAB_UP="" POLL_PID=""
}
trap 'cleanup' EXIT
trap 'exit 130' INT TERM
TICK=$(getconf CLK_TCK)

# The poller (namespace names as arguments):
#   wait EVERY SECS WANT EXCLUDE FLOORSPEC LEAF_NS... READY_FILE
#     until every leaf (the i-th LEAF_NS is leaf i) has 10.0.0.k/32 for
#     every other leaf k with WANT next hops, none dead or linkdown, none
#     via EXCLUDE ("-": none); FLOORSPEC "NS:COUNT,NS:COUNT..." ("-": no
#     floor) until each NS has COUNT swp* link-locals out of DAD.
#     Prints "ROUTES_NS FLOOR_NS" (CLOCK_REALTIME of the poll that saw it;
#     FLOOR_NS "-" when not asked) and, on stderr, its own CPU seconds;
#     exit 1 after SECS with what is missing on stderr. READY_FILE is
#     made once every namespace is open, before the first poll.
FABRIC_PY='
import ctypes, os, resource, socket, struct, sys, time

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
RTM_GETROUTE, RTM_GETNEXTHOP = 26, 106
RTA_DST, RTA_OIF, RTA_MULTIPATH, RTA_TABLE, RTA_NH_ID = 1, 4, 9, 15, 30
NHA_ID, NHA_GROUP, NHA_OIF = 1, 2, 5
RTNH_F_DEAD, RTNH_F_LINKDOWN = 1, 16
BAD = RTNH_F_DEAD | RTNH_F_LINKDOWN
PROTO, MAIN = 201, 254

def enter(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")

def dump(msgtype, payload):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        s.bind((0, 0))
        s.send(struct.pack("=LHHLL", 16 + len(payload), msgtype, 0x301, 1, 0) + payload)
        out = []
        while True:
            data, off = s.recv(1 << 20), 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=LH", data, off)
                if typ == 3:  # NLMSG_DONE
                    return out
                if typ == 2:  # NLMSG_ERROR
                    err = struct.unpack_from("=i", data, off + 16)[0]
                    if err:
                        raise OSError(-err, "netlink dump")
                    return out
                out.append(data[off + 16:off + ln])
                off += (ln + 3) & ~3
    finally:
        s.close()

def attrs(buf, off):
    out = {}
    while off + 4 <= len(buf):
        ln, typ = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            break
        out[typ & 0x3FFF] = buf[off + 4:off + ln]
        off += (ln + 3) & ~3
    return out

def nexthop_objects():
    """id -> [(ifindex, flags)], for routes that carry only RTA_NH_ID."""
    single, groups = {}, {}
    for msg in dump(RTM_GETNEXTHOP, struct.pack("=BBBBL", socket.AF_UNSPEC, 0, 0, 0, 0)):
        flags = struct.unpack_from("=L", msg, 4)[0]
        a = attrs(msg, 8)
        if NHA_ID not in a:
            continue
        nid = struct.unpack("=L", a[NHA_ID])[0]
        if NHA_GROUP in a:
            groups[nid] = [struct.unpack_from("=L", a[NHA_GROUP], i)[0] for i in range(0, len(a[NHA_GROUP]), 8)]
        else:
            single[nid] = [(struct.unpack("=i", a[NHA_OIF])[0] if NHA_OIF in a else 0, flags)]
    out = dict(single)
    for nid, members in groups.items():
        out[nid] = [hop for m in members for hop in single.get(m, [(0, RTNH_F_DEAD)])]
    return out

def routes():
    """10.0.0.k/32 of proto 201 in the main table -> [(ifindex, flags)]."""
    out, pending = {}, {}
    for msg in dump(RTM_GETROUTE, struct.pack("=BBBBBBBBL", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
        _fam, dst_len, _s, _t, table, proto, _sc, _ty, rflags = struct.unpack_from("=BBBBBBBBL", msg)
        if proto != PROTO or dst_len != 32:
            continue
        a = attrs(msg, 12)
        if RTA_TABLE in a:
            table = struct.unpack("=L", a[RTA_TABLE])[0]
        dst = a.get(RTA_DST, b"")
        if table != MAIN or len(dst) != 4 or dst[:3] != bytes([10, 0, 0]):
            continue
        k = dst[3]
        if RTA_MULTIPATH in a:
            mp, off, hops = a[RTA_MULTIPATH], 0, []
            while off + 8 <= len(mp):
                ln, fl, _h, ifi = struct.unpack_from("=HBBi", mp, off)
                hops.append((ifi, fl))
                off += max((ln + 3) & ~3, 8)
            out[k] = hops
        elif RTA_OIF in a:
            out[k] = [(struct.unpack("=i", a[RTA_OIF])[0], rflags)]
        elif RTA_NH_ID in a:
            pending[k] = struct.unpack("=L", a[RTA_NH_ID])[0]
    if pending:
        objs = nexthop_objects()
        for k, nid in pending.items():
            out[k] = objs.get(nid, [])
    return out

def link_locals_ready():
    n = 0
    with open("/proc/self/net/if_inet6") as f:
        for line in f:
            _addr, _idx, _plen, scope, flags, name = line.split()
            if name.startswith("swp") and scope == "20" and int(flags, 16) & 0x48 == 0:
                n += 1
    return n

every, secs, want, exclude, floorspec = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
leaves = sys.argv[7:-1]
ready_file = sys.argv[-1]
fds = {ns: os.open("/run/netns/" + ns, os.O_RDONLY) for ns in leaves}
floor = {}
if floorspec != "-":
    for item in floorspec.split(","):
        ns, count = item.rsplit(":", 1)
        floor[ns] = int(count)
        if ns not in fds:
            fds[ns] = os.open("/run/netns/" + ns, os.O_RDONLY)
excl_index = {}

def leaf_problem(i, ns):
    """None when leaf i is complete, else what is wrong."""
    enter(fds[ns])
    if exclude != "-" and ns not in excl_index:
        excl_index[ns] = socket.if_nametoindex(exclude)
    table = routes()
    for k in range(1, len(leaves) + 1):
        if k == i:
            continue
        hops = table.get(k)
        if hops is None:
            return f"10.0.0.{k} missing"
        if len(hops) != want:
            return f"10.0.0.{k} has {len(hops)} next hops"
        if any(fl & BAD for _i, fl in hops):
            return f"10.0.0.{k} has a dead or linkdown next hop"
        if exclude != "-" and any(ifi == excl_index[ns] for ifi, _f in hops):
            return f"10.0.0.{k} still goes via {exclude}"
    return None

def floor_problem(ns):
    enter(fds[ns])
    n = link_locals_ready()
    return None if n >= floor[ns] else f"{n} of {floor[ns]} link-locals out of DAD"

open(ready_file, "w").close()
deadline = time.monotonic() + secs
pending_leaves = {i + 1: ns for i, ns in enumerate(leaves)}
pending_floor = set(floor)
t_routes, t_floor = None, (None if floor else "-")
problems = {}
while True:
    if t_floor is None:
        for ns in list(pending_floor):
            problems[ns] = floor_problem(ns)
            if problems[ns] is None:
                pending_floor.discard(ns)
        if not pending_floor:
            t_floor = time.time_ns()
    if t_routes is None:
        for i, ns in list(pending_leaves.items()):
            problems[ns] = leaf_problem(i, ns)
            if problems[ns] is None:
                del pending_leaves[i]
        if not pending_leaves:
            # Every leaf at once: none may have fallen back meanwhile.
            for i, ns in enumerate(leaves, 1):
                problems[ns] = leaf_problem(i, ns)
                if problems[ns] is not None:
                    pending_leaves[i] = ns
            if not pending_leaves:
                t_routes = time.time_ns()
    if t_routes is not None and t_floor is not None:
        break
    if time.monotonic() >= deadline:
        short = [f"{ns}: {p}" for ns, p in problems.items() if p is not None]
        print(f"after {secs:.0f} s, {len(short)} nodes short:", *short[:12], sep="\n  ", file=sys.stderr)
        sys.exit(1)
    time.sleep(every)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(t_routes, t_floor)
print(f"{ru.ru_utime + ru.ru_stime:.2f}", file=sys.stderr)
'

# poll OUT WANT EXCLUDE FLOORSPEC: the poller in the background (POLL_PID),
# returning once it has opened every namespace; `wait $POLL_PID` then.
poll() {
  local out=$1 want=$2 exclude=$3 floorspec=$4 i leaves=()
  for i in $(seq 1 "$LEAVES"); do leaves+=("ndlab-$LAB_NAME-l$i"); done
  rm -f "$OUT/ready"
  "$PYTHON" -c "$FABRIC_PY" wait 0.02 "$DEADLINE" "$want" "$exclude" "$floorspec" "${leaves[@]}" "$OUT/ready" \
    >"$out" 2>"$out.err" </dev/null &
  POLL_PID=$!
  poll_until --every 0.01 10 test -e "$OUT/ready" || die "the poller did not start: $(cat "$out.err")"
}

# finish OUT WHAT: wait for the poller; sets GOT_ROUTES, GOT_FLOOR (ns,
# CLOCK_REALTIME; FLOOR "-" when not asked) and POLL_CPU. On a timeout it
# says what was missing, keeps the lab's logs in $OUT and fails (the run
# goes on: that column is NA).
finish() {
  local out=$1 what=$2 logs
  if ! wait "$POLL_PID"; then
    POLL_PID=""
    logs=$OUT/logs-$RUN-$PEER-${what// /-}
    mkdir -p "$logs"
    cp -r "${NDLAB_DIR:-/run/ndbgp-lab}-$LAB_NAME/." "$logs/" 2>/dev/null || true
    find "$logs" -name '*.sock' -delete 2>/dev/null || true
    say "run $RUN, $PEER spines, $what: not converged within ${DEADLINE}s (logs in $logs): $(cat "$out.err")"
    KEEP_OUT=1
    return 1
  fi
  POLL_PID=""
  read -r GOT_ROUTES GOT_FLOOR <"$out"
  POLL_CPU=$(tail -n 1 "$out.err")
}
KEEP_OUT=""
# elapsed T0 [FLOOR]: seconds from T0 to GOT_ROUTES (or GOT_FLOOR), 3
# decimals; NA after a failed finish.
elapsed() {
  local t=$GOT_ROUTES
  [ "${2:-}" = floor ] && t=$GOT_FLOOR
  if [[ $t =~ ^[0-9]+$ ]]; then secs $((t - $1)); else echo NA; fi
}

# node_ticks NODE...: CPU ticks of every daemon of these nodes, summed.
node_ticks() {
  local node pids=()
  for node in "$@"; do pids+=("${NODE_PIDS[$node]}"); done
  # shellcheck disable=SC2086 # NODE_PIDS holds space-separated pids
  cpu_ticks ${pids[*]}
}
node_rss_kb() {
  local node pids=()
  for node in "$@"; do pids+=("${NODE_PIDS[$node]}"); done
  # shellcheck disable=SC2086
  rss_kb ${pids[*]}
}
# per_node TICKS NODES: seconds per node, 3 decimals.
per_node() { awk -v t="$1" -v n="$2" -v hz="$TICK" 'BEGIN { printf "%.3f", t / hz / n }'; }
since() { secs $(($1 - $2)) 3; }

measure() {
  local run=$1 peer=$2 i j load t0 conv floor fail ret ret_floor
  local -a leaf_nodes=() spine_nodes=()
  declare -gA NODE_PIDS=()
  for i in $(seq 1 "$LEAVES"); do leaf_nodes+=("l$i"); done
  for j in $(seq 1 "$SPINES"); do spine_nodes+=("s$j"); done
  load=$(uptime)
  echo "run $run, $peer spines: $load"
  LAB_UP=1
  "$LAB_SH" up --name "$LAB_NAME" --spines "$SPINES" --leaves "$LEAVES" --peer "$peer" --links down \
    --timeout 120 2>"$OUT/up.log" || die "lab.sh up failed: $(tail -n 5 "$OUT/up.log")"
  for node in "${leaf_nodes[@]}" "${spine_nodes[@]}"; do
    NODE_PIDS[$node]=$("$LAB_SH" pids --name "$LAB_NAME" "$node" | tr '\n' ' ')
  done

  # 1. Bring-up: every link's 2 ends' link-locals make the floor.
  local floorspec=""
  for i in $(seq 1 "$LEAVES"); do floorspec+="ndlab-$LAB_NAME-l$i:$SPINES,"; done
  for j in $(seq 1 "$SPINES"); do floorspec+="ndlab-$LAB_NAME-s$j:$LEAVES,"; done
  poll "$OUT/bringup" "$SPINES" - "${floorspec%,}"
  local leaf0 spine0 leaf1 spine1 leaf2 spine2 conv_floor=NA poll_cpu=NA
  leaf0=$(node_ticks "${leaf_nodes[@]}") spine0=$(node_ticks "${spine_nodes[@]}")
  t0=$(now)
  "$LAB_SH" links up --name "$LAB_NAME"
  GOT_ROUTES="" GOT_FLOOR=""
  if finish "$OUT/bringup" "bring-up"; then
    conv_floor=$(secs $((GOT_ROUTES - GOT_FLOOR)))
    poll_cpu=$POLL_CPU
  fi
  conv=$(elapsed "$t0") floor=$(elapsed "$t0" floor)
  # 2. CPU until 5 s after convergence, then an idle window; RSS at its end.
  sleep 5
  leaf1=$(node_ticks "${leaf_nodes[@]}") spine1=$(node_ticks "${spine_nodes[@]}")
  sleep "$IDLE"
  leaf2=$(node_ticks "${leaf_nodes[@]}") spine2=$(node_ticks "${spine_nodes[@]}")
  local leaf_rss spine_rss
  leaf_rss=$(node_rss_kb "${leaf_nodes[@]}") spine_rss=$(node_rss_kb "${spine_nodes[@]}")

  # 3. Spine 1 fails: its ends of all its links go down.
  poll "$OUT/fail" $((SPINES - 1)) swp1 -
  t0=$(now)
  "$LAB_SH" links down --name "$LAB_NAME" --spine 1
  GOT_ROUTES=""
  finish "$OUT/fail" "spine 1 failure" || true
  fail=$(elapsed "$t0")

  # 4. It returns: floor = its own link-locals (made anew) out of DAD.
  poll "$OUT/return" "$SPINES" - "ndlab-$LAB_NAME-s1:$LEAVES"
  t0=$(now)
  "$LAB_SH" links up --name "$LAB_NAME" --spine 1
  GOT_ROUTES="" GOT_FLOOR=""
  finish "$OUT/return" "spine 1 return" || true
  ret=$(elapsed "$t0") ret_floor=$(elapsed "$t0" floor)
  "$LAB_SH" down --name "$LAB_NAME" >/dev/null
  LAB_UP=""

  local row
  row=("$peer" "$floor" "$conv" "$conv_floor"
    "$(per_node $((leaf1 - leaf0)) "$LEAVES")" "$(per_node $((spine1 - spine0)) "$SPINES")"
    "$(per_node $((leaf2 - leaf1)) "$LEAVES")" "$(per_node $((spine2 - spine1)) "$SPINES")"
    "$(awk -v k="$leaf_rss" -v n="$LEAVES" 'BEGIN { printf "%.1f", k / n / 1024 }')"
    "$(awk -v k="$spine_rss" -v n="$SPINES" 'BEGIN { printf "%.1f", k / n / 1024 }')"
    "$fail" "$ret_floor" "$ret" "$poll_cpu")
  echo "${row[*]}" >>"$OUT/results"
  printf "$ROW_FMT" "${row[@]}"
}

ROW_FMT='%-6s %7s %8s %7s %9s %9s %9s %9s %7s %7s %7s %8s %7s %6s\n'
header() {
  printf "$ROW_FMT" spines floor bringup +floor cpu-leaf cpu-spine idle-leaf idle-spn rss-l rss-s fail ret-flr return poller
  printf "$ROW_FMT" "" s s s s s "s/${IDLE}s" "s/${IDLE}s" MB MB s s s "cpu s"
}

echo "fabric: $SPINES spines, $LEAVES leaves ($((SPINES * LEAVES)) links), spines: ${PEERS[*]}; $RUNS runs; idle window ${IDLE}s"
echo "columns: floor = all link-locals out of DAD; bringup = every leaf has every other leaf's loopback with $SPINES"
echo "next hops; cpu = per node, T0 to 5 s after bring-up; idle = per node over the idle window; rss = per node"
echo "after it; fail = spine 1's links down -> $((SPINES - 1)) next hops everywhere; ret-flr/return = its links up ->"
echo "its link-locals out of DAD / $SPINES next hops everywhere; poller = the poller's own CPU during bring-up"
: >"$OUT/results"
header
for r in $(seq 1 "$RUNS"); do
  for peer in "${PEERS[@]}"; do RUN=$r PEER=$peer measure "$r" "$peer"; done
done

# median: of the numbers on stdin (NA, a timeout, left out).
median() { grep -E '^-?[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "medians of $RUNS runs ($(uptime)):"
header
for peer in "${PEERS[@]}"; do
  row=("$peer")
  for c in $(seq 2 14); do
    row+=("$(awk -v p="$peer" -v c="$c" '$1 == p { print $c }' "$OUT/results" | median)")
  done
  printf "$ROW_FMT" "${row[@]}"
done
if [ "${#PEERS[@]}" -gt 1 ]; then
  for c in 3 11 13; do
    a=$(awk -v p="${PEERS[0]}" -v c="$c" '$1 == p { print $c }' "$OUT/results" | median)
    b=$(awk -v p="${PEERS[1]}" -v c="$c" '$1 == p { print $c }' "$OUT/results" | median)
    name=$(case $c in 3) echo bringup ;; 11) echo fail ;; 13) echo return ;; esac)
    echo "ratio ${PEERS[0]}/${PEERS[1]} spines, $name: $(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
  done
fi
nas=$(awk '{ for (c = 2; c <= NF; c++) if ($c == "NA") n++ } END { print n + 0 }' "$OUT/results")
[ "$nas" -eq 0 ] || echo "$nas figures NA (a wait that timed out: left out of the medians; see above)"
bringup=$(awk -v p="${PEERS[0]}" '$1 == p { print $3 }' "$OUT/results" | median)
awk -v b="$bringup" 'BEGIN { exit !(b <= 3) }' && t=met || t=MISSED
echo "target: ${PEERS[0]} spines, every leaf with full ECMP within 3 s of link up: $t ($bringup s)"
if [ -n "$KEEP_OUT" ]; then say "logs of the timed-out waits kept in $OUT"; else rm -rf "$OUT"; fi
