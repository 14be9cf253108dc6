#!/usr/bin/env bash
# scripts/lab.sh: a leaf/spine fabric of network namespaces running ndbgpd.
#
#   scripts/lab.sh up [--name NAME] [--spines N] [--leaves M] [--peer ndbgp|frr|bird]
#                     [--spine-as distinct|shared] [--timeout SECS] [--links down]
#   scripts/lab.sh status [--name NAME]
#   scripts/lab.sh links up|down [--name NAME] [--spine J]
#   scripts/lab.sh pids [--name NAME] NODE          (NODE: sJ or lI)
#   scripts/lab.sh down [--name NAME]
#
# `up` builds ndbgpd (cargo build --release), makes one namespace per node
# (ndlab-s1.., ndlab-l1..; with --name NAME ndlab-NAME-s1.., ndlab-NAME-l1..,
# so that labs of different names run side by side), a veth from every leaf
# to every spine (leaf lI's swpJ is spine sJ's swpI), runs ndbgpd on every
# leaf and ndbgpd, FRR or BIRD 2 on the spines, waits until every session
# is Established and prints every node's neighbours. Leaf i (1-254): AS
# 65000+i, router ID 10.0.0.i, announces 10.0.0.i/32 from lo. Spine j
# (1-99): AS 64600+j (or 64600 for all with --spine-as shared, as FRR
# fabrics often do), router ID 10.0.1.j, announces 10.0.1.j/32.
#
# With --links down, `up` leaves the spines' ends of the links down and
# waits only until every daemon answers: `links up` then brings every link
# up at once (one `ip -batch` per spine), `links down --spine J` fails
# spine J (all its links). `pids NODE` prints the pids of a node's daemons.
#
# NDLAB_NDBGPD_ARGS adds flags to every ndbgpd of the lab (the nodes forward,
# so `NDLAB_NDBGPD_ARGS=--no-dad` is what skips DAD there; see README).
#
# Everything lives in one directory per lab: configs, logs, control sockets
# and one pid file per process. It is $NDLAB_DIR (default /run/ndbgp-lab);
# with --name NAME it is $NDLAB_DIR-NAME (default /run/ndbgp-lab-NAME), so
# labs of different names never share one. `down` stops every process by
# its pid and waits until each has exited (SIGKILL after 5 s), deletes
# every namespace it made and the directory, then checks that nothing is
# left.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
  sed -n '3,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 2
}

# set_name [NAME]: the lab's namespace prefix and directory (without a name:
# ndlab-, $NDLAB_DIR; with one: ndlab-NAME-, $NDLAB_DIR-NAME, never inside
# the unnamed lab's directory, which its `down` removes).
set_name() {
  local dir=${NDLAB_DIR:-/run/ndbgp-lab}
  dir=${dir%/}
  if [ -z "${1:-}" ]; then
    NS_PREFIX=ndlab-
    LAB=$dir
    return
  fi
  [[ $1 =~ ^[a-z0-9]{1,12}$ ]] || die "--name $1: 1 to 12 of a-z, 0-9"
  NS_PREFIX=ndlab-$1-
  LAB=$dir-$1
}
set_name

spine_ns() { echo "${NS_PREFIX}s$1"; }
leaf_ns() { echo "${NS_PREFIX}l$1"; }
# This lab's namespaces (not another lab's: ndlab-s1 is not ndlab-x-s1's).
is_lab_ns() { [[ $1 =~ ^${NS_PREFIX}[sl][0-9]+$ ]]; }

load_state() {
  [ -f "$LAB/lab.env" ] || die "no lab is up ($LAB/lab.env missing)"
  # shellcheck disable=SC1091
  . "$LAB/lab.env"
}

# start_node NAME NS CMD...: start_bg with the log and pid file of NAME.
start_node() {
  local name=$1 ns=$2
  shift 2
  start_bg "$ns" "$LAB/$name.log" "$@"
  echo "$STARTED_PID" >"$LAB/pids/$name.pid"
}

node_ndbgpd() {
  local name=$1 ns=$2 asn=$3 id=$4 n=$5
  local args=(--asn "$asn" --router-id "$id" --network "$id/32"
              --control-socket "$LAB/$name.sock")
  for k in $(seq 1 "$n"); do args+=(--iface "swp$k"); done
  # Extra flags for every ndbgpd of the lab, e.g. NDLAB_NDBGPD_ARGS=--no-dad.
  local extra=()
  read -ra extra <<<"${NDLAB_NDBGPD_ARGS:-}"
  start_node "$name" "$ns" "${NDBGPD_ENV[@]}" "$NDBGPD" "${args[@]}" "${extra[@]}"
}

spine_frr() {
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
  # Pid files in $d (zebra.pid, bgpd.pid), where `down` finds them.
  start_frr "$ns" "$d"
}

spine_bird() {
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
    for i in $(seq 1 "$LEAVES"); do bird_bgp_unnumbered "swp$i" "$asn" all; done
  } >"$d/bird.conf"
  start_bird "$ns" "$d/bird.conf" "$d/bird.sock" "$d/start.log"
  echo "$STARTED_PID" >"$d/bird.pid"
}

# Established sessions of one node.
established() {
  local kind=$1 name=$2
  case $kind in
    ndbgp) established_count ndbgp "$LAB/$name.sock" ;;
    frr) established_count frr "$LAB/$name" ;;
    bird) established_count bird "$LAB/$name/bird.sock" ;;
  esac
}

# wait_lab SECS WHAT: until every node answers (WHAT answers) or has all
# its sessions Established (WHAT established), polled by one process that
# asks only the nodes not yet done (36 nodes asked one by one every 0.2 s
# would keep a core of this 2-core machine busy).
wait_lab() {
  local secs=$1 what=$2 i j want specs=()
  for j in $(seq 1 "$SPINES"); do
    want=0
    [ "$what" = answers ] || want=$LEAVES
    case $PEER in
      ndbgp) specs+=(ndbgp "$want" "$LAB/s$j.sock") ;;
      frr) specs+=(frr "$want" "$LAB/s$j") ;;
      bird) specs+=(bird "$want" "$LAB/s$j/bird.sock") ;;
    esac
  done
  for i in $(seq 1 "$LEAVES"); do
    want=0
    [ "$what" = answers ] || want=$SPINES
    specs+=(ndbgp "$want" "$LAB/l$i.sock")
  done
  wait_nodes "$secs" 0.2 "${specs[@]}"
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
  case ${1:-} in
    --name) set_name "${2:?}" ;;
    "") ;;
    *) usage ;;
  esac
  load_state
  local i j
  for j in $(seq 1 "$SPINES"); do show_node "$PEER" "s$j" "$(spine_ns "$j")"; done
  for i in $(seq 1 "$LEAVES"); do show_node ndbgp "l$i" "$(leaf_ns "$i")"; done
}

cmd_up() {
  SPINES=2 LEAVES=4 PEER=ndbgp SPINE_AS=distinct
  local timeout=60 links=up
  while [ $# -gt 0 ]; do
    case $1 in
      --name) set_name "${2:?}"; shift 2 ;;
      --spines) SPINES=${2:?}; shift 2 ;;
      --leaves) LEAVES=${2:?}; shift 2 ;;
      --peer) PEER=${2:?}; shift 2 ;;
      --spine-as) SPINE_AS=${2:?}; shift 2 ;;
      --timeout) timeout=${2:?}; shift 2 ;;
      --links) links=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $SPINES =~ ^[1-9][0-9]?$ ]] || die "--spines $SPINES: 1-99"
  [[ $LEAVES =~ ^[1-9][0-9]{0,2}$ && $LEAVES -le 254 ]] || die "--leaves $LEAVES: 1-254"
  case $PEER in ndbgp | frr | bird) ;; *) die "--peer $PEER: ndbgp, frr or bird" ;; esac
  case $SPINE_AS in distinct | shared) ;; *) die "--spine-as $SPINE_AS: distinct or shared" ;; esac
  case $links in up | down) ;; *) die "--links $links: up or down" ;; esac
  need_root
  [ ! -e "$LAB/lab.env" ] || die "a lab is already up in $LAB: scripts/lab.sh down first"
  case $PEER in
    frr) need_pkg frr "$FRR/bgpd" ;;
    bird) need_pkg bird2 /usr/sbin/bird ;;
  esac
  build_release --bin ndbgpd --bin ndbgpctl

  mkdir -p "$LAB/pids"
  chmod 0755 "$LAB"
  # The ndbgpctl of this build, for `status` whatever CARGO_TARGET_DIR says then.
  printf 'SPINES=%s\nLEAVES=%s\nPEER=%s\nSPINE_AS=%s\nNDBGPCTL=%q\n' \
    "$SPINES" "$LEAVES" "$PEER" "$SPINE_AS" "$NDBGPCTL" >"$LAB/lab.env"
  local i j ns nodes=() start=$SECONDS
  for j in $(seq 1 "$SPINES"); do nodes+=("$(spine_ns "$j")"); done
  for i in $(seq 1 "$LEAVES"); do nodes+=("$(leaf_ns "$i")"); done
  # Each namespace is recorded as soon as it is made, so that `down` cleans
  # up after a failed `up` too; not before: a name that exists already
  # (netns_add fails) is someone else's, which `down` must not delete.
  for ns in "${nodes[@]}"; do
    netns_add "$ns"
    echo "$ns" >>"$LAB/namespaces"
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  done
  # One `ip -batch` per node, not three `ip` per link (128 links: 384
  # commands, seconds on a busy machine). A leaf's ends go up now; the
  # spines' ends too unless --links down (then `links up` is link up).
  for i in $(seq 1 "$LEAVES"); do
    {
      echo "address add 10.0.0.$i/32 dev lo"
      for j in $(seq 1 "$SPINES"); do
        echo "link add swp$j type veth peer name swp$i netns $(spine_ns "$j")"
        echo "link set swp$j up"
      done
    } | ip -n "$(leaf_ns "$i")" -batch - || die "$(leaf_ns "$i"): making its links failed"
  done
  for j in $(seq 1 "$SPINES"); do
    local asn=$((64600 + j)) id="10.0.1.$j"
    [ "$SPINE_AS" = shared ] && asn=64600
    ip -n "$(spine_ns "$j")" addr add "$id/32" dev lo
    [ "$links" = down ] || spine_links "$j" up
    case $PEER in
      ndbgp) node_ndbgpd "s$j" "$(spine_ns "$j")" "$asn" "$id" "$LEAVES" ;;
      frr) spine_frr "$j" "$asn" "$id" ;;
      bird) spine_bird "$j" "$asn" "$id" ;;
    esac
  done
  for i in $(seq 1 "$LEAVES"); do
    node_ndbgpd "l$i" "$(leaf_ns "$i")" "$((65000 + i))" "10.0.0.$i" "$SPINES"
  done
  local sessions=$((SPINES * LEAVES))
  if [ "$links" = down ]; then
    say "$SPINES spines ($PEER), $LEAVES leaves, links down: waiting for every daemon to answer"
    wait_lab "$timeout" answers || die "timed out after ${timeout}s waiting for every daemon to answer"
    say "all $((SPINES + LEAVES)) nodes answer after $((SECONDS - start)) s; scripts/lab.sh links up brings the $sessions links up"
    return
  fi
  say "$SPINES spines ($PEER), $LEAVES leaves: waiting for $sessions sessions (x2 ends) to be Established"
  wait_lab "$timeout" established ||
    die "timed out after ${timeout}s waiting for every session Established (scripts/lab.sh status shows where)"
  say "all $sessions sessions Established $((SECONDS - start)) s after the start of setup"
  cmd_status
}

# spine_links J up|down: every link of spine J, set at its end in one batch.
spine_links() {
  local j=$1 state=$2 i
  for i in $(seq 1 "$LEAVES"); do echo "link set swp$i $state"; done |
    ip -n "$(spine_ns "$j")" -batch - || die "$(spine_ns "$j"): link set $state failed"
}

cmd_links() {
  local state=${1:-} spine="" j
  shift || true
  case $state in up | down) ;; *) usage ;; esac
  while [ $# -gt 0 ]; do
    case $1 in
      --name) set_name "${2:?}"; shift 2 ;;
      --spine) spine=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  load_state
  if [ -n "$spine" ]; then
    [[ $spine =~ ^[0-9]+$ && $spine -ge 1 && $spine -le $SPINES ]] || die "--spine $spine: 1-$SPINES"
    spine_links "$spine" "$state"
  else
    for j in $(seq 1 "$SPINES"); do spine_links "$j" "$state"; done
  fi
}

# pids NODE: the pids of node sJ's or lI's daemons (FRR: zebra and bgpd).
cmd_pids() {
  local node=""
  while [ $# -gt 0 ]; do
    case $1 in
      --name) set_name "${2:?}"; shift 2 ;;
      *) node=$1; shift ;;
    esac
  done
  load_state
  local files=()
  case $node in
    l[0-9]*) files=("$LAB/pids/$node.pid") ;;
    s[0-9]*)
      case $PEER in
        ndbgp) files=("$LAB/pids/$node.pid") ;;
        frr) files=("$LAB/$node/zebra.pid" "$LAB/$node/bgpd.pid") ;;
        bird) files=("$LAB/$node/bird.pid") ;;
      esac ;;
    *) usage ;;
  esac
  local f pid
  for f in "${files[@]}"; do
    pid=""
    read -r pid <"$f" || [ -n "$pid" ] || die "$node: no pid in $f"
    echo "$pid"
  done
}

# in_lab PID: PID runs in one of this lab's namespaces (a stale pid file
# must not kill someone else's process).
in_lab() {
  local ns
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  ns=$(ip netns identify "$1" 2>/dev/null) || return 1
  grep -qxF "$ns" "$LAB/namespaces" 2>/dev/null
}

cmd_down() {
  case ${1:-} in
    --name) set_name "${2:?}" ;;
    "") ;;
    *) usage ;;
  esac
  need_root
  if [ ! -d "$LAB" ]; then
    say "no lab in $LAB"
  else
    local f ns pid candidates=() pids=()
    local -A seen=()
    while IFS= read -r f; do
      candidates+=("$(cat "$f" 2>/dev/null || true)")
    done < <(find "$LAB" -name '*.pid' -type f)
    if [ -f "$LAB/namespaces" ]; then
      # Anything else running in a namespace of ours was started by us
      # (FRR's helpers, say): stopped by pid too.
      while read -r ns; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do candidates+=("$pid"); done
      done <"$LAB/namespaces"
    fi
    for pid in "${candidates[@]}"; do
      [[ $pid =~ ^[0-9]+$ && -z ${seen[$pid]:-} ]] || continue
      seen[$pid]=1
      if in_lab "$pid"; then
        pids+=("$pid")
      elif ! exited "$pid"; then
        say "pid $pid is not in a lab namespace: left alone"
      fi
    done
    # Every one has exited before its namespace goes.
    stop_pids 5 "${pids[@]}" || die "still running after SIGKILL: ${pids[*]}"
    if [ -f "$LAB/namespaces" ]; then
      while read -r ns; do netns_del "$ns"; done <"$LAB/namespaces"
    fi
    rm -rf "$LAB"
  fi
  # The check: nothing of ours is left. Every lab process names $LAB in
  # its arguments (its control socket, config or pid file).
  local left
  left=$(ip netns list | awk '{print $1}' | while read -r ns; do ! is_lab_ns "$ns" || echo "$ns"; done)
  [ -z "$left" ] || die "namespaces left behind: $left"
  left=$(ps -eo pid=,args= | grep -F "$LAB/" | grep -v grep || true)
  [ -z "$left" ] || die "processes left behind: $left"
  [ ! -e "$LAB" ] || die "$LAB left behind"
  say "down: no lab namespace, process or file left"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  status) shift; cmd_status "$@" ;;
  links) shift; cmd_links "$@" ;;
  pids) shift; cmd_pids "$@" ;;
  down) shift; cmd_down "$@" ;;
  *) usage ;;
esac
