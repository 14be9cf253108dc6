#!/usr/bin/env bash
# The test command (README.md "Run the tests"): installs what the tests need on
# a fresh Debian machine, then runs formatting, lints, a fuzz smoke run, unit
# and lab tests.
# Lab tests need root; with CI=true they fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a file it installs that the tests use.
declare -A needs=(
  [iproute2]=/usr/sbin/ip
  [radvd]=/usr/sbin/radvd
  [ndisc6]=/usr/bin/rdisc6
  [tshark]=/usr/bin/tshark
  [tcpdump]=/usr/bin/tcpdump
  [iputils-ping]=/usr/bin/ping
  [python3-scapy]=/usr/lib/python3/dist-packages/scapy
  [frr]=/usr/lib/frr/bgpd
  [bird2]=/usr/sbin/bird
  [gobgpd]=/usr/bin/gobgpd
  [systemd]=/usr/bin/systemd-analyze
  [util-linux]=/usr/bin/setpriv
  [python3-venv]=/usr/share/doc/python3-venv
  [prometheus]=/usr/bin/promtool
  [nftables]=/usr/sbin/nft
)
missing=()
for pkg in "${!needs[@]}"; do
  [ -e "${needs[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
  else
    echo "test.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# Cargo tools, pinned. cargo-fuzz runs on rustup's nightly toolchain, which
# must already be on the machine (no toolchain can be downloaded here).
cargo_fuzz=0.13.1
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz" ]; then
  echo "test.sh: installing cargo-fuzz $cargo_fuzz"
  cargo install --quiet --locked cargo-fuzz --version "$cargo_fuzz"
fi
# ExaBGP 5 for tests/lab_silent.rs: not in Debian, so the pinned release from
# PyPI in a venv under the cache directory (Debian's python3 is externally
# managed). A failed install is reported; the lab test then fails under
# CI=true and skips otherwise.
EXABGP_VERSION=5.0.15
EXABGP_VENV=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ndbgp/exabgp-$EXABGP_VERSION
if [ ! -x "$EXABGP_VENV/bin/exabgp" ]; then
  echo "test.sh: installing ExaBGP $EXABGP_VERSION into $EXABGP_VENV"
  if ! { /usr/bin/python3 -m venv "$EXABGP_VENV" &&
         "$EXABGP_VENV/bin/pip" install -q --disable-pip-version-check "exabgp==$EXABGP_VERSION"; }; then
    echo "test.sh: could not install ExaBGP $EXABGP_VERSION" >&2
    rm -rf "$EXABGP_VENV"
  fi
fi
export NDBGP_EXABGP="$EXABGP_VENV/bin/exabgp"

cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --all-targets -- -D warnings
# A fuzz smoke run: every target briefly, on a quick build (long runs:
# scripts/fuzz.sh --minutes N). Before the tests, whose summary ends the log.
scripts/fuzz.sh --quick --seconds 15
cargo test --all-targets
