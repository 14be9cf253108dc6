#!/usr/bin/env bash
# scripts/bench-failover.sh: packets lost and time to converge through a 2x2 fabric.
#
#   scripts/bench-failover.sh [--runs N] [--fabrics LIST] [--scenarios LIST]
#     (defaults: 3 runs; fabrics "ndbgp frr frr-restarts ndbgp-restarts";
#      scenarios "link silent bfd leaf spine")
#
# Each scenario runs on a fresh fabric: spines s1, s2 (AS 65100 both), leaves
# l1, l2 (AS 65001, 65002, loopbacks 10.0.0.1/32 and 10.0.0.2/32 announced),
# leaf lI's swpJ a veth to spine sJ's swpI. `ping -i 0.01` runs from l1's
# loopback to l2's; the kernel's ECMP hash sends it through one spine, sK
# (found by l1's swp tx counters). At T0, after 1 s of pings:
#   link    `ip link set swpK down` on l1 (one end of the link to sK)
#   silent  nft drops everything in and out of l1's swpK, carrier up; no
#           graceful restart anywhere (with it on both sides a hold-timer
#           expiry counts as a restart, RFC 8538, and the routes would stay
#           stale for the restart time)
#   bfd     the same drop, BFD 300 ms x 3 on every session (ndbgpd --bfd;
#           FRR: bfdd and `neighbor swpN bfd`)
#   leaf    l1's daemon restarted: ndbgpd (--graceful-restart) SIGTERM and
#           started again with the same arguments; FRR (`bgp
#           graceful-restart`, `preserve-fw-state`) bgpd SIGKILLed and started
#           again, zebra kept
#   spine   the same on spine sK
# Converged: for link/silent/bfd, when l1's route to 10.0.0.2 and l2's to
# 10.0.0.1 both go through the other spine alone; for leaf/spine, when the
# restarted node has both its sessions Established again and both routes
# have both spines again (polled about every 30-60 ms). Lost: replies
# missing among the pings up to the last one answered (the pings run 2 s
# past convergence); outage: the longest time between two replies, less
# the 10 ms interval (ping sends fewer than 100 a second on a busy machine,
# so the outage says more than the count).
# Fabrics: ndbgp (ndbgpd everywhere), frr (FRR 8 everywhere), frr-restarts
# (leaf: l1 FRR, the rest ndbgpd; spine: both spines FRR, the leaves
# ndbgpd) and ndbgp-restarts (the opposite): the restarted node next to
# helpers of the other kind; these two run the leaf and spine scenarios only.
# Prints each measurement, then a table of medians with the load average.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=3
FABRICS="ndbgp frr frr-restarts ndbgp-restarts"
SCENARIOS="link silent bfd leaf spine"
NSP=ndfo-$$-

while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=${2:?}; shift 2 ;;
    --fabrics) FABRICS=${2:?}; shift 2 ;;
    --scenarios) SCENARIOS=${2:?}; shift 2 ;;
    *) sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs $RUNS: a positive number"
for f in $FABRICS; do
  case $f in ndbgp | frr | frr-restarts | ndbgp-restarts) ;; *) die "fabric $f: ndbgp, frr, frr-restarts or ndbgp-restarts" ;; esac
done
for s in $SCENARIOS; do
  case $s in link | silent | bfd | leaf | spine) ;; *) die "scenario $s: link, silent, bfd, leaf or spine" ;; esac
done
need_root
need_pkg frr "$FRR/bgpd"
need_pkg iputils-ping /usr/bin/ping
need_pkg nftables /usr/sbin/nft
build_release --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench-failover.XXXXXX)
chmod 0755 "$DIR"
# Logs are kept when the run fails.
trap 'rc=$?; teardown 5; if [ "$rc" = 0 ]; then rm -rf "$DIR"; else say "logs in $DIR"; fi' EXIT
trap 'exit 130' INT TERM

NODES="s1 s2 l1 l2"
declare -A KIND ASN ID PID
ASN=([s1]=65100 [s2]=65100 [l1]=65001 [l2]=65002)
ID=([s1]=10.0.0.101 [s2]=10.0.0.102 [l1]=10.0.0.1 [l2]=10.0.0.2)
GR=1 BFD=0
ns_of() { echo "$NSP$1"; }
is_leaf() { [[ $1 == l* ]]; }

# --- Nodes -----------------------------------------------------------------

ndbgp_args() {
  local n=$1
  NDBGP_ARGS=(--iface swp1 --iface swp2 --asn "${ASN[$n]}" --router-id "${ID[$n]}"
              --control-socket "$DIR/$n.sock")
  if is_leaf "$n"; then NDBGP_ARGS+=(--network "${ID[$n]}/32"); fi
  if [ "$GR" = 1 ]; then NDBGP_ARGS+=(--graceful-restart); fi
  if [ "$BFD" = 1 ]; then NDBGP_ARGS+=(--bfd --bfd-interval 300 --bfd-multiplier 3); fi
}

start_ndbgp_node() {
  local n=$1
  ndbgp_args "$n"
  start_ndbgpd "$(ns_of "$n")" "$DIR/$n.log" "${NDBGP_ARGS[@]}"
  PID[$n]=$STARTED_PID
  poll_until 10 ndbgpd_answers "$DIR/$n.sock" || die "$n: ndbgpd did not start (see $DIR/$n.log)"
}

frr_conf() {
  local n=$1 i
  echo "frr defaults datacenter"
  echo "hostname $(ns_of "$n")"
  echo "log file $DIR/$n/frr.log informational"
  echo "!"
  for i in 1 2; do printf 'interface swp%s\n ipv6 nd ra-interval 3\n no ipv6 nd suppress-ra\n!\n' "$i"; done
  echo "router bgp ${ASN[$n]}"
  echo " bgp router-id ${ID[$n]}"
  echo " no bgp ebgp-requires-policy"
  if [ "$GR" = 1 ]; then
    echo " bgp graceful-restart"
    echo " bgp graceful-restart preserve-fw-state"
  fi
  for i in 1 2; do
    echo " neighbor swp$i interface remote-as external"
    if [ "$BFD" = 1 ]; then echo " neighbor swp$i bfd"; fi
  done
  echo " address-family ipv4 unicast"
  if is_leaf "$n"; then echo "  network ${ID[$n]}/32"; fi
  echo " exit-address-family"
  echo "!"
}

# frr_daemon NODE DAEMON: one FRR daemon of NODE, daemonized; its pid (from
# its pid file, written once it is up) is PID[NODE.DAEMON].
frr_daemon() {
  local n=$1 daemon=$2 d=$DIR/$1 extra=()
  [ "$daemon" = bfdd ] && extra=(--bfdctl "$d/bfdd.sock")
  rm -f "$d/$daemon.pid"
  ip netns exec "$(ns_of "$n")" "$FRR/$daemon" -d -N "$(ns_of "$n")" -f "$d/frr.conf" -i "$d/$daemon.pid" \
    -z "$d/zserv.api" --vty_socket "$d" -u frr -g frr "${extra[@]}" >>"$d/start.log" 2>&1 ||
    die "$n: $daemon did not start (see $d/start.log)"
  poll_until 10 test -s "$d/$daemon.pid" || die "$n: $daemon wrote no pid file"
  PID[$n.$daemon]=$(cat "$d/$daemon.pid")
  RUN_PIDS+=("${PID[$n.$daemon]}")
}

start_frr_node() {
  local n=$1 d=$DIR/$1
  mkdir -p "$d"
  frr_conf "$n" >"$d/frr.conf"
  chown -R frr:frr "$d"
  frr_daemon "$n" zebra
  if [ "$BFD" = 1 ]; then frr_daemon "$n" bfdd; fi
  frr_daemon "$n" bgpd
}

# restart NODE: the graceful restart of NODE's daemon; returns once the new
# one runs.
restart() {
  local n=$1
  case ${KIND[$n]} in
    ndbgp)
      kill -TERM "${PID[$n]}"
      poll_until --every 0.01 10 exited "${PID[$n]}" || die "$n: ndbgpd still running 10 s after SIGTERM"
      start_ndbgp_node "$n" ;;
    frr)
      kill -KILL "${PID[$n.bgpd]}"
      poll_until --every 0.01 10 exited "${PID[$n.bgpd]}" || die "$n: bgpd still running after SIGKILL"
      frr_daemon "$n" bgpd ;;
  esac
}

# --- State -------------------------------------------------------------------

node_established() {
  local n=$1
  case ${KIND[$n]} in
    ndbgp) established_count ndbgp "$DIR/$n.sock" ;;
    frr) established_count frr "$DIR/$n" ;;
  esac
}

bfd_up_count() {
  local n=$1
  case ${KIND[$n]} in
    ndbgp) "$NDBGPCTL" --socket "$DIR/$n.sock" neighbors --json 2>/dev/null |
      "$PYTHON" -c 'import json, sys; print(sum(1 for n in json.load(sys.stdin) if n.get("bfd") == "up"))' 2>/dev/null ||
      echo 0 ;;
    frr) vtysh --vty_socket "$DIR/$n" -c 'show bfd peers json' 2>/dev/null |
      "$PYTHON" -c 'import json, sys; print(sum(1 for p in json.load(sys.stdin) if p.get("status") == "up"))' 2>/dev/null ||
      echo 0 ;;
  esac
}

# route_devs NODE PREFIX: the interfaces of NODE's kernel route to PREFIX,
# sorted, space-separated (a route through a nexthop group is resolved).
route_devs() {
  local ns out nhid
  ns=$(ns_of "$1")
  out=$(ip -n "$ns" -4 -o route show "$2" 2>/dev/null) || true
  if [[ $out != *" dev "* && $out =~ nhid\ ([0-9]+) ]]; then
    nhid=${BASH_REMATCH[1]}
    out=$(ip -n "$ns" nexthop show id "$nhid" 2>/dev/null) || true
    if [[ $out =~ group\ ([0-9/,]+) ]]; then
      local id ids
      IFS=/ read -ra ids <<<"${BASH_REMATCH[1]}"
      out=$(for id in "${ids[@]}"; do ip -n "$ns" nexthop show id "${id%%,*}" 2>/dev/null; done)
    fi
  fi
  grep -o 'dev [a-z0-9]*' <<<"$out" | awk '{ print $2 }' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# routes_are DEVS: both leaves' routes to each other go through DEVS.
routes_are() {
  [ "$(route_devs l1 10.0.0.2/32)" = "$1" ] && [ "$(route_devs l2 10.0.0.1/32)" = "$1" ]
}

fabric_ready() {
  local n
  for n in $NODES; do
    [ "$(node_established "$n")" -eq 2 ] || return 1
    if [ "$BFD" = 1 ]; then [ "$(bfd_up_count "$n")" -eq 2 ] || return 1; fi
  done
  routes_are "swp1 swp2"
}

restarted_converged() {
  [ "$(node_established "$1")" -eq 2 ] && routes_are "swp1 swp2"
}

tx_packets() { ip netns exec "$(ns_of "$1")" cat "/sys/class/net/$2/statistics/tx_packets"; }

# --- One scenario ------------------------------------------------------------

# kinds FABRIC SCENARIO: which daemon runs on each node (KIND).
kinds() {
  local fabric=$1 scenario=$2 n restarted=ndbgp rest=frr
  case $fabric in
    ndbgp | frr)
      for n in $NODES; do KIND[$n]=$fabric; done
      return ;;
    frr-restarts) restarted=frr rest=ndbgp ;;
  esac
  for n in $NODES; do KIND[$n]=$rest; done
  if [ "$scenario" = leaf ]; then
    KIND[l1]=$restarted
  else
    KIND[s1]=$restarted KIND[s2]=$restarted
  fi
}

build_fabric() {
  local n i j
  for n in $NODES; do netns_add "$(ns_of "$n")"; done
  for n in $NODES; do
    ip netns exec "$(ns_of "$n")" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  done
  for i in 1 2; do
    ip -n "$(ns_of "l$i")" addr add "${ID[l$i]}/32" dev lo
    for j in 1 2; do
      ip -n "$(ns_of "l$i")" link add "swp$j" type veth peer name "swp$i" netns "$(ns_of "s$j")"
      ip -n "$(ns_of "l$i")" link set "swp$j" up
      ip -n "$(ns_of "s$j")" link set "swp$i" up
    done
  done
  for n in $NODES; do
    case ${KIND[$n]} in
      ndbgp) start_ndbgp_node "$n" ;;
      frr) start_frr_node "$n" ;;
    esac
  done
  poll_until --every 0.2 90 fabric_ready ||
    die "fabric not ready after 90 s: l1 -> 10.0.0.2 via '$(route_devs l1 10.0.0.2/32)', l2 -> 10.0.0.1 via '$(route_devs l2 10.0.0.1/32)' (logs in $DIR)"
}

drop_link() {
  ip netns exec "$(ns_of l1)" nft -f - <<EOF
table inet ndbgp_failover {
  chain input { type filter hook input priority -300; policy accept; iifname "$1" drop; }
  chain output { type filter hook output priority -300; policy accept; oifname "$1" drop; }
  chain forward { type filter hook forward priority -300; policy accept; iifname "$1" drop; oifname "$1" drop; }
}
EOF
}

# lost LOG: "LOST OUTAGE": replies missing among the pings up to the last
# one answered, and the longest time between two replies (ping -D's
# timestamps) less the 10 ms interval.
lost() {
  awk '/bytes from/ {
         if (match($0, /icmp_seq=[0-9]+/)) { s = substr($0, RSTART + 9, RLENGTH - 9) + 0; seen[s] = 1; if (s > max) max = s }
         if (match($0, /^\[[0-9.]+\]/)) { t = substr($0, 2, RLENGTH - 2) + 0; if (last && t - last > gap) gap = t - last; last = t }
       }
       END { n = 0; for (s in seen) n++; g = gap - 0.01; if (g < 0) g = 0; printf "%d %.2f\n", max - n, g }' "$1"
}

# scenario FABRIC SCENARIO: sets R_LOST, R_GAP (outage, s), R_SECS and
# R_SPINE (K). Run in this
# shell, not a subshell: teardown must know what it made.
scenario() {
  local fabric=$1 sc=$2 k o a1 a2 b1 b2 ping_pid t0 t1 log
  GR=1 BFD=0
  [ "$sc" = silent ] && GR=0
  [ "$sc" = bfd ] && BFD=1
  kinds "$fabric" "$sc"
  build_fabric
  # Which spine carries l1 -> l2 (ICMP hashes on addresses alone: one path).
  a1=$(tx_packets l1 swp1) a2=$(tx_packets l1 swp2)
  ip netns exec "$(ns_of l1)" ping -q -c 50 -i 0.01 -I 10.0.0.1 10.0.0.2 >/dev/null ||
    die "$fabric/$sc: no ping through the fabric before the fault"
  b1=$(tx_packets l1 swp1) b2=$(tx_packets l1 swp2)
  if [ $((b1 - a1)) -ge $((b2 - a2)) ]; then k=1 o=2; else k=2 o=1; fi
  log=$DIR/ping-$fabric-$sc.log
  start_bg "$(ns_of l1)" "$log" ping -D -i 0.01 -I 10.0.0.1 10.0.0.2
  ping_pid=$STARTED_PID
  sleep 1
  t0=$(now)
  case $sc in
    link) ip -n "$(ns_of l1)" link set "swp$k" down ;;
    silent | bfd) drop_link "swp$k" ;;
    leaf) restart l1 ;;
    spine) restart "s$k" ;;
  esac
  case $sc in
    link | silent | bfd)
      poll_until --every 0.01 60 routes_are "swp$o" ||
        die "$fabric/$sc: not converged 60 s after the fault: l1 -> 10.0.0.2 via '$(route_devs l1 10.0.0.2/32)', l2 -> 10.0.0.1 via '$(route_devs l2 10.0.0.1/32)'" ;;
    leaf) poll_until --every 0.01 60 restarted_converged l1 ||
        die "$fabric/$sc: l1 not back 60 s after the restart (logs in $DIR)" ;;
    spine) poll_until --every 0.01 60 restarted_converged "s$k" ||
        die "$fabric/$sc: s$k not back 60 s after the restart (logs in $DIR)" ;;
  esac
  t1=$(now)
  sleep 2
  kill -INT "$ping_pid" 2>/dev/null || true
  wait "$ping_pid" 2>/dev/null || true
  read -r R_LOST R_GAP < <(lost "$log")
  R_SECS=$(secs $((t1 - t0)) 2) R_SPINE=$k
  teardown 5
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A LOST GAP SECS
applies() { [[ $1 == ndbgp || $1 == frr || $2 == leaf || $2 == spine ]]; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

LOAD_START=$(load)
echo "load average at start: $LOAD_START"
for run in $(seq 1 "$RUNS"); do
  for fabric in $FABRICS; do
    for sc in $SCENARIOS; do
      applies "$fabric" "$sc" || continue
      scenario "$fabric" "$sc"
      printf 'run %s  %-15s %-7s lost %5s  outage %5s s  converged %6s s  (traffic through s%s; load %s)\n' \
        "$run" "$fabric" "$sc" "$R_LOST" "$R_GAP" "$R_SECS" "$R_SPINE" "$(load)"
      LOST[$fabric.$sc]+=" $R_LOST"
      GAP[$fabric.$sc]+=" $R_GAP"
      SECS[$fabric.$sc]+=" $R_SECS"
    done
  done
done

echo
echo "medians of $RUNS run(s): packets lost / outage s / converged s (ping -i 0.01); load average $LOAD_START at start, $(load) at end"
printf '%-8s' scenario
for fabric in $FABRICS; do printf ' | %-20s' "$fabric"; done
echo
for sc in $SCENARIOS; do
  printf '%-8s' "$sc"
  for fabric in $FABRICS; do
    if applies "$fabric" "$sc"; then
      printf ' | %-20s' "$(median <<<"${LOST[$fabric.$sc]}") / $(median <<<"${GAP[$fabric.$sc]}") / $(median <<<"${SECS[$fabric.$sc]}")"
    else
      printf ' | %-20s' "-"
    fi
  done
  echo
done
