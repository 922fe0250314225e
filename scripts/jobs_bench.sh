#!/usr/bin/env bash
# The jobs benchmark (issue 55), in one run on this machine, against strata on 127.0.0.1:
#   1. trigger latency: a commit to a job's input, then the moment the run it starts is seen
#      under way (polled every 20 ms), over JOBS_BENCH_PUSHES commits (default 20): median, p99;
#   2. the runner's overhead: a Python script (the standard library's csv) that keeps the rows
#      of a CSV of JOBS_BENCH_MB MiB (default 100) whose value is even, run as a job (inputs
#      fetched, the sandbox, the output stored and committed) beside the same command run
#      directly on the same file: the time of each, median of 3, and the ratio;
#   3. an incremental run: a table of JOBS_BENCH_ROWS rows (default 20,000,000: about 1 GiB of
#      CSV) with 1 % of its rows changed, read by an incremental job (the change feed) beside a
#      full run of the same job: time and rows processed.
# Not a test: nothing here passes or fails on timing. JOBS_BENCH_PROFILE=debug measures the debug
# build (quicker to build; slower to run). Needs the test tools' Python (scripts/test.sh
# installs them: STRATA_TEST_TOOLS, default target/test-tools).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${STRATA_TEST_TOOLS:-$root/target/test-tools}
py=$tools/venv/bin/python
profile=${JOBS_BENCH_PROFILE:-release}
work=$(mktemp -d /tmp/strata-jobs-bench.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata ($profile)" >&2
case "$profile" in
  release) cargo build -q --release --bin strata ;;
  debug) cargo build -q --bin strata ;;
  *) echo "JOBS_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
strata=${CARGO_TARGET_DIR:-$root/target}/$profile/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn \
  STRATA_JOBS_INTERPRETERS=python=$py STRATA_JOBS_MAX_MB=20480 STRATA_JOBS_MEMORY_MB=16384
mkdir -p "$work/data"
"$strata" serve & pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench --name bench 2>/dev/null)
"$py" scripts/jobs_bench.py "http://127.0.0.1:$port" "$token" "$work" "$py" "$profile"
