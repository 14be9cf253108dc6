#!/usr/bin/env bash
# scripts/lab.sh: a leaf/spine fabric of network namespaces running ndbgpd.
#
#   scripts/lab.sh up [--spines N] [--leaves M] [--peer ndbgp|frr|bird]
#                     [--spine-as distinct|shared] [--timeout SECS]
#   scripts/lab.sh status
#   scripts/lab.sh down
#
# `up` builds ndbgpd (cargo build --release), makes one namespace per node
# (ndlab-s1.., ndlab-l1..), a veth from every leaf to every spine (leaf lI's
# swpJ is spine sJ's swpI), runs ndbgpd on every leaf and ndbgpd, FRR or
# BIRD 2 on the spines, waits until every session is Established and prints
# every node's neighbours. Leaf i: AS 65000+i, router ID 10.0.0.i, announces
# 10.0.0.i/32 from lo. Spine j: AS 65100+j (or 65100 for all with
# --spine-as shared, as FRR fabrics often do), router ID 10.0.0.(100+j).
#
# Everything lives in $NDLAB_DIR (default /run/ndbgp-lab): configs, logs,
# control sockets and one pid file per process. `down` stops every process
# by its pid, deletes every namespace it made and the directory, then checks
# that nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB=${NDLAB_DIR:-/run/ndbgp-lab}
NS_PREFIX=ndlab-
NDBGPD=$ROOT/target/release/ndbgpd
NDBGPCTL=$ROOT/target/release/ndbgpctl
FRR=/usr/lib/frr

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { echo "lab.sh: $*" >&2; }

usage() {
  sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"; }

# Install a Debian package when the file it provides is missing.
need_pkg() {
  local pkg=$1 file=$2
  [ -e "$file" ] && return
  log "installing $pkg"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  [ -e "$file" ] || die "$pkg installed but $file is missing"
}

spine_ns() { echo "${NS_PREFIX}s$1"; }
leaf_ns() { echo "${NS_PREFIX}l$1"; }

load_state() {
  [ -f "$LAB/lab.env" ] || die "no lab is up ($LAB/lab.env missing)"
  # shellcheck disable=SC1091
  . "$LAB/lab.env"
}

# Start a command in a namespace in the background, in its own session (a
# Ctrl-C on this script must not reach it), recording its pid.
#   start_bg NAME NS LOG CMD...
start_bg() {
  local name=$1 ns=$2 logfile=$3
  shift 3
  # setsid does not fork here (a background job is no group leader) and
  # `ip netns exec` execs: $! is the daemon's own pid.
  setsid ip netns exec "$ns" "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$LAB/pids/$name.pid"
}

start_ndbgpd() {
  local name=$1 ns=$2 asn=$3 id=$4 n=$5
  local args=(--asn "$asn" --router-id "$id" --network "$id/32"
              --control-socket "$LAB/$name.sock")
  for k in $(seq 1 "$n"); do args+=(--iface "swp$k"); done
  start_bg "$name" "$ns" "$LAB/$name.log" "$NDBGPD" "${args[@]}"
}

start_frr() {
  local j=$1 ns asn=$2 id=$3 d
  ns=$(spine_ns "$j")
  d=$LAB/s$j
  mkdir -p "$d"
  {
    echo "frr defaults datacenter"
    echo "hostname $ns"
    echo "log file $d/frr.log informational"
    echo "!"
    for i in $(seq 1 "$LEAVES"); do
      printf 'interface swp%s\n ipv6 nd ra-interval 10\n no ipv6 nd suppress-ra\n!\n' "$i"
    done
    echo "router bgp $asn"
    echo " bgp router-id $id"
    echo " no bgp ebgp-requires-policy"
    for i in $(seq 1 "$LEAVES"); do echo " neighbor swp$i interface remote-as external"; done
    echo " address-family ipv4 unicast"
    echo "  redistribute connected"
    echo " exit-address-family"
    echo " address-family ipv6 unicast"
    for i in $(seq 1 "$LEAVES"); do echo "  neighbor swp$i activate"; done
    echo " exit-address-family"
    echo "!"
  } >"$d/frr.conf"
  chown -R frr:frr "$d"
  for daemon in zebra bgpd; do
    ip netns exec "$ns" "$FRR/$daemon" -d -N "$ns" -f "$d/frr.conf" -i "$d/$daemon.pid" \
      -z "$d/zserv.api" --vty_socket "$d" -u frr -g frr >>"$d/start.log" 2>&1 ||
      die "$ns: $daemon did not start (see $d/start.log)"
    # The pid file is written once the daemon is up; bgpd needs zebra's socket.
    wait_until 10 "$ns $daemon pid file" test -s "$d/$daemon.pid"
  done
}

start_bird() {
  local j=$1 ns asn=$2 id=$3 d
  ns=$(spine_ns "$j")
  d=$LAB/s$j
  mkdir -p "$d"
  {
    echo "log \"$d/bird.log\" all;"
    echo "router id $id;"
    echo "protocol device {}"
    echo "protocol direct { ipv4; ipv6; interface \"lo\"; }"
    echo "protocol kernel { ipv4 { export all; }; merge paths on; }"
    echo "protocol kernel { ipv6 { export all; }; merge paths on; }"
    # BIRD 2.0.12 sends RAs (ndbgpd learns it from them) and takes dynamic
    # BGP sessions from link-locals, one protocol per interface; passive.
    echo "protocol radv {"
    echo "  ipv6 { export none; };"
    for i in $(seq 1 "$LEAVES"); do
      echo "  interface \"swp$i\" { max ra interval 10; default lifetime 30; };"
    done
    echo "}"
    for i in $(seq 1 "$LEAVES"); do
      cat <<EOF
protocol bgp swp$i {
  local as $asn;
  neighbor range fe80::/10 external;
  interface "swp$i";
  hold time 9; keepalive time 3;
  ipv4 { extended next hop on; import all; export all; };
  ipv6 { import all; export all; };
}
EOF
    done
  } >"$d/bird.conf"
  ip netns exec "$ns" bird -c "$d/bird.conf" -s "$d/bird.sock" -P "$d/bird.pid" ||
    die "$ns: bird did not start"
  wait_until 10 "$ns bird pid file" test -s "$d/bird.pid"
}

# wait_until SECS WHAT CMD...: poll CMD every 0.2 s until it succeeds.
wait_until() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}

# Established sessions of one node.
established() {
  local kind=$1 name=$2 out
  case $kind in
    ndbgp)
      out=$("$NDBGPCTL" --socket "$LAB/$name.sock" neighbors --json 2>/dev/null) || { echo 0; return; }
      grep -c '"state": "Established"' <<<"$out" || true ;;
    frr)
      out=$(vtysh --vty_socket "$LAB/$name" -c 'show bgp neighbors json' 2>/dev/null) || { echo 0; return; }
      grep -Ec '"bgpState": ?"Established"' <<<"$out" || true ;;
    bird)
      out=$(birdc -s "$LAB/$name/bird.sock" show protocols 2>/dev/null) || { echo 0; return; }
      grep -c ' Established' <<<"$out" || true ;;
  esac
}

all_established() {
  local i j
  for i in $(seq 1 "$LEAVES"); do
    [ "$(established ndbgp "l$i")" -eq "$SPINES" ] || return 1
  done
  for j in $(seq 1 "$SPINES"); do
    [ "$(established "$PEER" "s$j")" -eq "$LEAVES" ] || return 1
  done
}

show_node() {
  local kind=$1 name=$2 ns=$3
  echo "== $ns ($kind): $(established "$kind" "$name") Established"
  case $kind in
    ndbgp) "$NDBGPCTL" --socket "$LAB/$name.sock" neighbors || true ;;
    frr) vtysh --vty_socket "$LAB/$name" -c 'show bgp summary' || true ;;
    bird) birdc -s "$LAB/$name/bird.sock" show protocols || true ;;
  esac
}

cmd_status() {
  load_state
  local i j
  for j in $(seq 1 "$SPINES"); do show_node "$PEER" "s$j" "$(spine_ns "$j")"; done
  for i in $(seq 1 "$LEAVES"); do show_node ndbgp "l$i" "$(leaf_ns "$i")"; done
}

cmd_up() {
  SPINES=2 LEAVES=4 PEER=ndbgp SPINE_AS=distinct
  local timeout=60
  while [ $# -gt 0 ]; do
    case $1 in
      --spines) SPINES=${2:?}; shift 2 ;;
      --leaves) LEAVES=${2:?}; shift 2 ;;
      --peer) PEER=${2:?}; shift 2 ;;
      --spine-as) SPINE_AS=${2:?}; shift 2 ;;
      --timeout) timeout=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $SPINES =~ ^[1-9][0-9]?$ && $SPINES -le 99 ]] || die "--spines $SPINES: 1-99"
  [[ $LEAVES =~ ^[1-9][0-9]?$ && $LEAVES -le 99 ]] || die "--leaves $LEAVES: 1-99"
  case $PEER in ndbgp | frr | bird) ;; *) die "--peer $PEER: ndbgp, frr or bird" ;; esac
  case $SPINE_AS in distinct | shared) ;; *) die "--spine-as $SPINE_AS: distinct or shared" ;; esac
  need_root
  [ ! -e "$LAB/lab.env" ] || die "a lab is already up in $LAB: scripts/lab.sh down first"
  case $PEER in
    frr) need_pkg frr "$FRR/bgpd" ;;
    bird) need_pkg bird2 /usr/sbin/bird ;;
  esac
  log "building ndbgpd (cargo build --release)"
  cargo build --release --quiet --bin ndbgpd --bin ndbgpctl

  mkdir -p "$LAB/pids"
  chmod 0755 "$LAB"
  printf 'SPINES=%s\nLEAVES=%s\nPEER=%s\nSPINE_AS=%s\n' "$SPINES" "$LEAVES" "$PEER" "$SPINE_AS" >"$LAB/lab.env"
  local i j ns
  # Every namespace is recorded before it is made, so that `down` cleans
  # up after a failed `up` too.
  for j in $(seq 1 "$SPINES"); do
    ns=$(spine_ns "$j")
    echo "$ns" >>"$LAB/namespaces"
    ip netns add "$ns"
  done
  for i in $(seq 1 "$LEAVES"); do
    ns=$(leaf_ns "$i")
    echo "$ns" >>"$LAB/namespaces"
    ip netns add "$ns"
  done
  while read -r ns; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  done <"$LAB/namespaces"
  for i in $(seq 1 "$LEAVES"); do
    ip -n "$(leaf_ns "$i")" addr add "10.0.0.$i/32" dev lo
    for j in $(seq 1 "$SPINES"); do
      ip -n "$(leaf_ns "$i")" link add "swp$j" type veth peer name "swp$i" netns "$(spine_ns "$j")"
      ip -n "$(leaf_ns "$i")" link set "swp$j" up
      ip -n "$(spine_ns "$j")" link set "swp$i" up
    done
  done
  for j in $(seq 1 "$SPINES"); do
    local asn=$((65100 + j)) id="10.0.0.$((100 + j))"
    [ "$SPINE_AS" = shared ] && asn=65100
    ip -n "$(spine_ns "$j")" addr add "$id/32" dev lo
    case $PEER in
      ndbgp) start_ndbgpd "s$j" "$(spine_ns "$j")" "$asn" "$id" "$LEAVES" ;;
      frr) start_frr "$j" "$asn" "$id" ;;
      bird) start_bird "$j" "$asn" "$id" ;;
    esac
  done
  for i in $(seq 1 "$LEAVES"); do
    start_ndbgpd "l$i" "$(leaf_ns "$i")" "$((65000 + i))" "10.0.0.$i" "$SPINES"
  done
  local sessions=$((SPINES * LEAVES)) start=$SECONDS
  log "$SPINES spines ($PEER), $LEAVES leaves: waiting for $sessions sessions (x2 ends) to be Established"
  wait_until "$timeout" "every session Established (scripts/lab.sh status shows where)" all_established
  log "all $sessions sessions Established after $((SECONDS - start)) s"
  cmd_status
}

# Stop a pid (TERM, then KILL after 3 s) if it still runs in one of our
# namespaces: a stale pid file must not kill someone else's process.
stop_pid() {
  local pid=$1 ns
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  ns=$(ip netns identify "$pid" 2>/dev/null || true)
  grep -qxF "$ns" "$LAB/namespaces" 2>/dev/null || {
    log "pid $pid is not in a lab namespace (${ns:-none}): left alone"
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 3))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  need_root
  if [ ! -d "$LAB" ]; then
    log "no lab in $LAB"
  else
    local f ns pid
    while IFS= read -r f; do
      stop_pid "$(cat "$f" 2>/dev/null || true)"
    done < <(find "$LAB" -name '*.pid' -type f)
    if [ -f "$LAB/namespaces" ]; then
      while read -r ns; do
        # Anything else still running in a namespace of ours was started
        # by us (FRR's helpers, say): stopped by pid too.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid"; done
        ip netns del "$ns" 2>/dev/null || true
      done <"$LAB/namespaces"
    fi
    rm -rf "$LAB"
  fi
  # The check: nothing of ours is left. Every lab process names $LAB in
  # its arguments (its control socket, config or pid file).
  local left
  left=$(ip netns list | awk '{print $1}' | grep "^$NS_PREFIX" || true)
  [ -z "$left" ] || die "namespaces left behind: $left"
  left=$(ps -eo pid=,args= | grep -F "$LAB/" | grep -v grep || true)
  [ -z "$left" ] || die "processes left behind: $left"
  [ ! -e "$LAB" ] || die "$LAB left behind"
  log "down: no lab namespace, process or file left"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) usage ;;
esac
