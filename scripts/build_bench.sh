#!/usr/bin/env bash
# The first build as a newcomer meets it: `cargo build --release` from nothing, in a fresh target
# directory (crates already downloaded, so the network is not timed), with cargo's timings report.
# Prints the wall time, the crates built, and the ten longest-compiling crates.
#
#   scripts/build_bench.sh                          # the README's build (default features)
#   scripts/build_bench.sh --no-default-features    # without the Kubernetes runner
#
# It takes as long as it reports (54 minutes on 2 cores, measured 2026-11-27): run it alone.
# STRATA_BUILD_TARGET=DIR builds in DIR (which must not exist) and keeps it, to use the build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${STRATA_BUILD_TARGET:-}" ]; then
  target=$STRATA_BUILD_TARGET
  [ ! -e "$target" ] || { echo "$target exists: the build would not be cold" >&2; exit 1; }
  mkdir -p "$target"
else
  target=$(mktemp -d /tmp/strata-build.XXXXXX)
  trap 'rm -rf "$target"' EXIT
fi
cargo fetch --locked >/dev/null
echo "== cargo build --release --locked $* (cold, $(nproc) cores)"
start=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build --release --locked --bin strata --timings "$@" \
  >"$target/build.log" 2>&1 || true
end=$(date +%s)
if [ ! -x "$target/release/strata" ]; then
  tail -n 40 "$target/build.log"
  echo "the build failed (is there room in $(dirname "$target")? a cold release build takes several GB)"
  exit 1
fi
echo "wall time: $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s"
report=$(ls "$target"/cargo-timings/cargo-timing-*.html | head -n 1)
python3 - "$report" <<'EOF'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", html, re.S).group(1))
print(f"crates built: {len(units)}")
print("longest to compile (seconds, each on one core):")
for u in sorted(units, key=lambda u: -u["duration"])[:10]:
    print(f"  {u['duration']:7.1f}  {u['name']} {u['version']}")
EOF
