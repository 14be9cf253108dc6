# scripts/lib.sh: helpers shared by the bench and lab scripts. Sourced, not run:
#
#   . "$(dirname "$0")/lib.sh"
#
# It moves to the repository root, names the binaries of the release build
# (in $CARGO_TARGET_DIR when set, relative to the root as cargo takes it) and
# gives: messages (die, say), timing (now, secs), polling with a deadline
# (poll_until), what a run made and its teardown (netns_add, netns_del,
# start_bg, start_ndbgpd, start_frr, start_bird, stop_pids, teardown), what
# a node shows (established_count, ndbgp_sessions, watch_established,
# wait_nodes, link_local, kernel_route_count, rss_kb, cpu_ticks).
#
# Session state comes from JSON (ndbgpctl --json, vtysh ... json) parsed by
# python3's json module, never from formatted text. BIRD 2 has no JSON
# output: its state is read from fixed columns of birdc's tables.

SCRIPT=$(basename "$0")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
RELEASE=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release
NDBGPD=$RELEASE/ndbgpd
NDBGPCTL=$RELEASE/ndbgpctl
BGP_FEEDER=$RELEASE/examples/bgp_feeder
FRR=/usr/lib/frr
# Debian's python3, for the JSON: it starts in ~20 ms, where a python3 first
# on PATH behind a version manager's shim can take ~150 ms, which a poll
# every 20 ms would add to every measured time.
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "$SCRIPT: $*" >&2; exit 1; }
say() { echo "$SCRIPT: $*" >&2; }

need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"; }

# need_pkg PKG FILE: install a Debian package when the file it provides is missing.
need_pkg() {
  local pkg=$1 file=$2
  [ -e "$file" ] && return
  say "installing $pkg"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  [ -e "$file" ] || die "$pkg installed but $file is missing"
}

# build_release ARGS...: cargo build --release --quiet ARGS (into $RELEASE).
build_release() {
  say "building (cargo build --release $*)"
  cargo build --release --quiet "$@"
}

# --- Timing ----------------------------------------------------------------

# Nanoseconds, CLOCK_REALTIME (the clock of the feeder's events and of
# python3's time.time_ns()).
now() { date +%s%N; }
# secs NS [DECIMALS]: nanoseconds as seconds, 3 decimals unless told.
secs() { awk -v ns="$1" -v d="${2:-3}" 'BEGIN { printf "%." d "f", ns / 1e9 }'; }

# poll_until [--every S] SECS CMD...: run CMD (its output dropped) every S
# seconds (0.05) until it succeeds; fails once SECS (whole seconds) have passed.
poll_until() {
  local every=0.05
  if [ "$1" = --every ]; then every=$2; shift 2; fi
  local deadline=$(($(now) + $1 * 1000000000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep "$every"
  done
}

# --- What a run made, and its teardown ---------------------------------------

# Pids and namespaces this run made: teardown stops and removes these and
# nothing else (another run's namespaces are never touched).
RUN_PIDS=()
RUN_NETNS=()

# netns_add NS...: new namespaces with lo up. Each is recorded once made: a
# name that exists already fails here and stays someone else's.
netns_add() {
  local ns
  for ns in "$@"; do
    ip netns add "$ns" || die "ip netns add $ns failed (another run's?)"
    RUN_NETNS+=("$ns")
    ip -n "$ns" link set lo up
  done
}

# start_bg NS LOG CMD...: CMD in namespace NS in the background, in its own
# session (a Ctrl-C on the script must not reach it: the script's teardown
# stops it). Its pid is STARTED_PID, and is added to RUN_PIDS.
start_bg() {
  local ns=$1 log=$2
  shift 2
  # setsid does not fork here (a background job is no group leader) and
  # `ip netns exec` execs: $! is CMD's own pid.
  setsid ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
  STARTED_PID=$!
  RUN_PIDS+=("$STARTED_PID")
}

# The environment systemd/ndbgpd.service gives ndbgpd: one malloc arena
# (see the unit). Only ndbgpd gets it: FRR and BIRD run as they ship.
NDBGPD_ENV=(env GLIBC_TUNABLES=glibc.malloc.arena_max=1)

# start_ndbgpd NS LOG ARGS...: ndbgpd ARGS in NS (see start_bg), in the
# unit's environment. It is not waited for: poll_until 10 ndbgpd_answers SOCKET.
start_ndbgpd() {
  local ns=$1 log=$2
  shift 2
  start_bg "$ns" "$log" "${NDBGPD_ENV[@]}" "$NDBGPD" "$@"
}
ndbgpd_answers() { "$NDBGPCTL" --socket "$1" interfaces --json >/dev/null 2>&1; }

# start_frr NS DIR: FRR's zebra and bgpd in NS with DIR/frr.conf; pid files,
# zebra's socket and the vty sockets (vtysh --vty_socket DIR) in DIR, logs of
# their start in DIR/start.log. Their pids are STARTED_PIDS, added to RUN_PIDS.
start_frr() {
  local ns=$1 d=$2 daemon pid
  chown -R frr:frr "$d"
  STARTED_PIDS=()
  for daemon in zebra bgpd; do
    ip netns exec "$ns" "$FRR/$daemon" -d -N "$ns" -f "$d/frr.conf" -i "$d/$daemon.pid" \
      -z "$d/zserv.api" --vty_socket "$d" -u frr -g frr >>"$d/start.log" 2>&1 ||
      die "$ns: $daemon did not start (see $d/start.log)"
    # The pid file is written once the daemon is up; bgpd needs zebra's socket.
    poll_until 10 test -s "$d/$daemon.pid" || die "$ns: $daemon wrote no pid file"
    pid=$(cat "$d/$daemon.pid")
    STARTED_PIDS+=("$pid")
    RUN_PIDS+=("$pid")
  done
}

# start_bird NS CONF SOCKET LOG: BIRD 2 in NS (in the foreground of its own
# session, see start_bg), waited for until birdc answers on SOCKET.
start_bird() {
  local ns=$1 conf=$2 sock=$3 log=$4
  start_bg "$ns" "$log" /usr/sbin/bird -f -c "$conf" -s "$sock"
  poll_until 10 birdc -s "$sock" show status || die "$ns: bird did not start (see $log)"
}

# bird_bgp_unnumbered IFACE ASN EXPORT: BIRD 2's config block for BGP
# unnumbered on IFACE: one dynamic, passive protocol taking sessions from
# any link-local there (BIRD 2.0.12 has no `neighbor IFACE interface`),
# keepalive 3 s and hold 9 s as FRR's datacenter defaults, IPv4 over
# extended next hop; EXPORT (all, none) for both families.
bird_bgp_unnumbered() {
  cat <<EOF
protocol bgp $1 {
  local as $2;
  neighbor range fe80::/10 external;
  interface "$1";
  hold time 9; keepalive time 3;
  ipv4 { extended next hop on; import all; export $3; };
  ipv6 { import all; export $3; };
}
EOF
}

# exited PID: gone, or a zombie not yet reaped.
exited() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
all_exited() {
  local pid
  for pid in "$@"; do exited "$pid" || return 1; done
}

# stop_pids SECS PID...: SIGTERM to each, up to SECS for all to exit, then
# SIGKILL to what is left; returns once all have exited (fails if a killed
# process is still there 5 s later).
stop_pids() {
  local secs=$1
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  poll_until --every 0.02 "$secs" all_exited "$@" && return 0
  say "still running $secs s after SIGTERM, killed: $(for p in "$@"; do exited "$p" || echo -n "$p "; done)"
  kill -KILL "$@" 2>/dev/null || true
  poll_until --every 0.02 5 all_exited "$@"
}

# teardown [SECS]: stop this run's processes (SECS for SIGTERM, 15 s unless
# told) and delete its namespaces.
teardown() {
  local ns
  stop_pids "${1:-15}" "${RUN_PIDS[@]}" || true
  RUN_PIDS=()
  for ns in "${RUN_NETNS[@]}"; do netns_del "$ns"; done
  RUN_NETNS=()
}

# netns_del NS: delete NS, and the directory FRR makes for it (-N NS).
netns_del() {
  ip netns del "$1" 2>/dev/null || true
  rmdir "/run/frr/$1" 2>/dev/null || true
}

# --- What a node shows ------------------------------------------------------

# kernel_route_count NS: IPv4 prefixes in NS's main table, from the trie
# statistics (a few ms, where a dump of 1M routes takes seconds).
kernel_route_count() {
  ip netns exec "$1" cat /proc/net/fib_triestat | awk '/^Main:/ { m = 1 } m && /Prefixes:/ { print $2; exit }'
}

# rss_kb PID...: their VmRSS summed, kB.
rss_kb() {
  local t=0 pid v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# link_local NS DEV: DEV's link-local address once out of duplicate address
# detection (not tentative, not failed), or nothing. Read from the kernel's
# /proc/net/if_inet6 (address in hex, ifindex, prefix length, scope, flags,
# name), a few ms: bench-bringup polls it every 5 ms.
link_local() {
  local addr _idx _plen scope flags name
  while read -r addr _idx _plen scope flags name; do
    # Scope 0x20: link. Flags: 0x40 tentative, 0x08 DAD failed.
    [ "$name" = "$2" ] && [ "$scope" = 20 ] && (((16#$flags & 0x48) == 0)) || continue
    printf '%x:%x:%x:%x:%x:%x:%x:%x\n' "0x${addr:0:4}" "0x${addr:4:4}" "0x${addr:8:4}" "0x${addr:12:4}" \
      "0x${addr:16:4}" "0x${addr:20:4}" "0x${addr:24:4}" "0x${addr:28:4}" | sed 's/^fe80:0:0:0:/fe80::/'
    return 0
  done < <(ip netns exec "$1" cat /proc/net/if_inet6)
}
link_local_ready() { [ -n "$(link_local "$1" "$2")" ]; }

# One parser for session state. Modes:
#   count KIND            JSON on stdin -> "ESTABLISHED RECEIVED"
#   watch KIND N SECS CMD...  run CMD every 5 ms until its JSON shows N
#                         Established; print the time (ns, CLOCK_REALTIME)
#                         the poll that saw it returned; exit 1 after SECS.
#   all SECS EVERY KIND WANT WHERE [KIND WANT WHERE]...  poll every node not
#                         yet done (one query each, every EVERY seconds)
#                         until each answers with WANT Established (0: it
#                         answers at all); exit 1 after SECS, naming on
#                         stderr the nodes short of it.
# KIND ndbgp: `ndbgpctl neighbors --json`, a list of objects with "state"
# and "prefixes_received". KIND frr: `vtysh -c 'show bgp neighbors [N] json'`,
# an object keyed by neighbour, each with "bgpState" (RECEIVED is 0).
# KIND bird (mode all only): birdc's protocol table, Proto BGP, Info
# Established. WHERE: control socket (ndbgp, bird) or vty directory (frr).
SESSIONS_PY='
import json, os, subprocess, sys, time

def parse(text):
    try:
        return json.loads(text)
    except ValueError:
        return None

def established(kind, doc):
    if kind == "ndbgp":
        rows, state, received = (doc if isinstance(doc, list) else []), "state", "prefixes_received"
    else:
        rows, state, received = (list(doc.values()) if isinstance(doc, dict) else []), "bgpState", None
    up = [r for r in rows if isinstance(r, dict) and r.get(state) == "Established"]
    return len(up), (sum(r.get(received) or 0 for r in up) if received else 0)

def query(kind, where):
    """(answered, established) of one node."""
    cmd = {"ndbgp": [os.environ.get("NDBGPCTL", "ndbgpctl"), "--socket", where, "neighbors", "--json"],
           "frr": ["vtysh", "--vty_socket", where, "-c", "show bgp neighbors json"],
           "bird": ["birdc", "-s", where, "show", "protocols"]}[kind]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if kind == "bird":
        rows = [line.split() for line in run.stdout.splitlines()]
        return run.returncode == 0, sum(1 for r in rows if len(r) > 2 and r[1] == "BGP" and r[-1] == "Established")
    doc = parse(run.stdout)
    return run.returncode == 0 and doc is not None, established(kind, doc)[0]

mode = sys.argv[1]
if mode == "all":
    deadline, every = time.monotonic() + float(sys.argv[2]), float(sys.argv[3])
    args = sys.argv[4:]
    pending = {(args[i], args[i + 2]): int(args[i + 1]) for i in range(0, len(args), 3)}
    seen = {}
    while pending:
        for (kind, where), want in list(pending.items()):
            answered, up = query(kind, where)
            seen[where] = up if answered else "no answer"
            if answered and up >= want:
                del pending[(kind, where)]
        if not pending:
            break
        if time.monotonic() >= deadline:
            for (kind, where), want in pending.items():
                print(f"{where}: {seen[where]} of {want} Established", file=sys.stderr)
            sys.exit(1)
        time.sleep(every)
    sys.exit(0)
kind = sys.argv[2]
if mode == "count":
    print(*established(kind, parse(sys.stdin.read())))
else:
    want, deadline, cmd = int(sys.argv[3]), time.monotonic() + float(sys.argv[4]), sys.argv[5:]
    while time.monotonic() < deadline:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        if established(kind, parse(out))[0] >= want:
            print(time.time_ns())
            sys.exit(0)
        time.sleep(0.005)
    sys.exit(1)
'

# _sessions_cmd KIND WHERE [NEIGHBOR]: the query behind ndbgp_sessions and
# watch_established, in SESSIONS_CMD. WHERE: ndbgpd's control socket, or the
# FRR node's vty directory (see start_frr).
_sessions_cmd() {
  case $1 in
    ndbgp) SESSIONS_CMD=("$NDBGPCTL" --socket "$2" neighbors --json) ;;
    frr) SESSIONS_CMD=(vtysh --vty_socket "$2" -c "show bgp neighbors ${3:+$3 }json") ;;
    *) die "sessions of $1: ndbgp or frr" ;;
  esac
}

# sessions KIND WHERE [NEIGHBOR]: "ESTABLISHED RECEIVED" of one node; "0 0"
# when it does not answer.
sessions() {
  local out
  _sessions_cmd "$@"
  out=$("${SESSIONS_CMD[@]}" 2>/dev/null) || out=""
  "$PYTHON" -c "$SESSIONS_PY" count "$1" <<<"$out"
}
ndbgp_sessions() { sessions ndbgp "$1"; }

# established_count KIND WHERE [NEIGHBOR]: sessions Established on one node.
#   ndbgp SOCKET | frr VTYDIR [NEIGHBOR] | bird SOCKET (birdc's protocol
#   table: Proto BGP, Info Established)
established_count() {
  local n _rest out
  case $1 in
    bird)
      out=$(birdc -s "$2" show protocols 2>/dev/null) || out=""
      awk '$2 == "BGP" && $NF == "Established" { n++ } END { print n + 0 }' <<<"$out" ;;
    *)
      read -r n _rest < <(sessions "$@")
      echo "$n" ;;
  esac
}

# wait_nodes SECS EVERY KIND WANT WHERE [KIND WANT WHERE]...: one python3
# process polls each node not yet done every EVERY seconds until it answers
# with WANT sessions Established (WANT 0: until it answers); fails after
# SECS, naming the nodes short of it (see SESSIONS_PY's mode all).
wait_nodes() {
  NDBGPCTL=$NDBGPCTL "$PYTHON" -c "$SESSIONS_PY" all "$@" </dev/null
}

# cpu_ticks PID...: their user + system CPU time summed, in clock ticks
# (getconf CLK_TCK a second), from /proc/PID/stat (fields 14 and 15, counted
# after the command name, which may hold spaces).
cpu_ticks() {
  local t=0 pid rest f
  for pid in "$@"; do
    rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${rest##*) }
    read -r -a f <<<"$rest"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}

# watch_established OUT KIND WANT SECS WHERE [NEIGHBOR]: one python3 process
# in the background (its pid WATCH_PID, also in RUN_PIDS) polls the node
# every 5 ms (python3 takes ~0.1 s to start on a busy machine: too slow to
# start per poll) until WANT sessions are Established, and writes to OUT the
# time (ns) the poll that saw them returned; `wait $WATCH_PID` fails if
# that did not happen within SECS.
watch_established() {
  local out=$1 kind=$2 want=$3 secs=$4
  shift 4
  _sessions_cmd "$kind" "$@"
  "$PYTHON" -c "$SESSIONS_PY" watch "$kind" "$want" "$secs" "${SESSIONS_CMD[@]}" >"$out" </dev/null &
  WATCH_PID=$!
  RUN_PIDS+=("$WATCH_PID")
}
