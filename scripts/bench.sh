#!/usr/bin/env bash
# Side-by-side benchmark: strata (release build) against giftless 0.6.2 under gunicorn -w 4 with
# local storage, on this machine, in one run. Prints a Markdown table. Not a test: nothing here
# passes or fails on timing.
#
#   scripts/bench.sh            # BENCH_SECONDS=10 BENCH_KEEP=1 to tune / keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${BENCH_SECONDS:-10}
work=$(mktemp -d /tmp/strata-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

command -v git-lfs >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq git-lfs >/dev/null; } || { echo "install git-lfs" >&2; exit 1; }
venv=$root/bench/.venv
if [ ! -x "$venv/bin/gunicorn" ]; then
  echo "installing giftless 0.6.2 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q giftless==0.6.2 flask flask-classful flask-marshmallow marshmallow pyjwt \
    cryptography figcan pyyaml python-dotenv boto3 gunicorn typing_extensions webargs
fi
echo "building strata (release)" >&2
cargo build -q --release --bin strata --example lfs_bench
strata=$root/target/release/strata
bench=$root/target/release/examples/lfs_bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
now() { date +%s.%N; }

start_strata() { # data-dir -> sets sport, spid, token
  local dir=$1
  sport=$(free_port)
  export STRATA_DATA_DIR=$dir STRATA_LISTEN=127.0.0.1:$sport STRATA_LOG=warn
  "$strata" admin create-user bench >/dev/null
  "$strata" admin create-repo bench/data >/dev/null
  token=$("$strata" admin token --user bench)
  "$strata" serve & spid=$!
  pids+=("$spid")
  wait_http "http://127.0.0.1:$sport/healthz"
}

start_strata "$work/strata"
gport=$(free_port)
# giftless's workers race to create the storage directory at boot: create it first.
mkdir -p "$work/giftless/storage"
cat > "$work/giftless/giftless.yaml" <<YAML
AUTH_PROVIDERS:
  - factory: giftless.auth.jwt:factory
    options: {algorithm: HS256, private_key: strata-bench-giftless-key-0123456789abcdef}
PRE_AUTHORIZED_ACTION_PROVIDER:
  factory: giftless.auth.jwt:factory
  options: {algorithm: HS256, private_key: strata-bench-giftless-key-0123456789abcdef, default_lifetime: 900}
TRANSFER_ADAPTERS:
  basic:
    factory: giftless.transfer.basic_streaming:factory
    options:
      storage_class: giftless.storage.local_storage:LocalStorage
      storage_options:
        path: $work/giftless/storage
YAML
(cd "$work/giftless" && GIFTLESS_CONFIG_FILE=$work/giftless/giftless.yaml exec "$venv/bin/gunicorn" --log-level warning -w 4 -b "127.0.0.1:$gport" giftless.wsgi_entrypoint:app 2>"$work/giftless/log") &
pids+=($!)
wait_http "http://127.0.0.1:$gport/"
# No anonymous access: git-lfs tries its first batch without credentials, and giftless would hand
# out upload tokens for "anonymous" that its own transfer endpoint then refuses. giftless only
# accepts its pre-authorized upload tokens for an identified caller: use a JWT.
gtoken=$("$venv/bin/python" -c 'import jwt, time; print(jwt.encode({"sub": "bench", "name": "bench", "scopes": "obj:bench/data/*", "exp": int(time.time()) + 86400}, "strata-bench-giftless-key-0123456789abcdef", algorithm="HS256"))')

s_batch=http://127.0.0.1:$sport/bench/data.git/info/lfs/objects/batch
g_batch=http://127.0.0.1:$gport/bench/data.git/info/lfs/objects/batch

echo "1/3 batch throughput: 100-object download batches, concurrency 16, ${seconds}s each" >&2
"$bench" seed "$s_batch" 100 "bench:$token"
"$bench" seed "$g_batch" 100 "_jwt:$gtoken"
# A short warm-up for each server first (caches, connection pools, worker start-up).
"$bench" batch "$s_batch" 100 16 2 "bench:$token" >/dev/null
"$bench" batch "$g_batch" 100 16 2 "_jwt:$gtoken" >/dev/null
read -r s_rps s_p50 s_p99 < <("$bench" batch "$s_batch" 100 16 "$seconds" "bench:$token")
read -r g_rps g_p50 g_p99 < <("$bench" batch "$g_batch" 100 16 "$seconds" "_jwt:$gtoken")

echo "2/3 git lfs push and pull of 16 files of 16 MiB" >&2
mkdir -p "$work/files"
for i in $(seq 1 16); do head -c 16M /dev/urandom > "$work/files/f$i.bin"; done
push_pull() { # name lfs-url credentials-url -> prints "push_seconds pull_seconds"
  local name=$1 url=$2 creds=$3 home=$work/home-$1
  mkdir -p "$home"
  export HOME=$home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
  git config --global user.name bench; git config --global user.email bench@example.com
  git config --global init.defaultBranch main
  git config --global credential.helper "store --file=$home/creds"
  echo "$creds" > "$home/creds"
  git lfs install >/dev/null
  git init -q --bare "$home/remote.git"
  git init -q "$home/work"
  (cd "$home/work" && git lfs track '*.bin' >/dev/null && git config -f .lfsconfig lfs.url "$url" \
    && cp "$work"/files/*.bin . && git add . && git commit -qm data && git remote add origin "$home/remote.git")
  local t0 t1 t2
  t0=$(now)
  if ! (cd "$home/work" && git push -q origin main >"$home/push.log" 2>&1); then
    echo "$name: git push failed (see $home/push.log):" >&2; tail -3 "$home/push.log" >&2; echo "failed failed"; return
  fi
  t1=$(now)
  GIT_LFS_SKIP_SMUDGE=1 git clone -q "$home/remote.git" "$home/clone"
  t1b=$(now)
  (cd "$home/clone" && git lfs pull) || { echo "$name: git lfs pull failed" >&2; echo "failed failed"; return; }
  t2=$(now)
  cmp -s "$home/clone/f7.bin" "$work/files/f7.bin" || { echo "$name: pulled content differs" >&2; echo "failed failed"; return; }
  printf "%.2f %.2f\n" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1b" | bc)"
}
read -r s_push s_pull < <(push_pull strata "http://127.0.0.1:$sport/bench/data.git/info/lfs" "http://bench:$token@127.0.0.1:$sport")
read -r g_push g_pull < <(push_pull giftless "http://127.0.0.1:$gport/bench/data.git/info/lfs" "http://_jwt:$gtoken@127.0.0.1:$gport")

echo "3/3 peak RSS of a fresh strata while a 2 GiB object is uploaded" >&2
kill "$spid"; wait "$spid" 2>/dev/null || true
start_strata "$work/strata-rss"
big=$work/big.bin
head -c 2G /dev/urandom > "$big"
oid=$(sha256sum "$big" | cut -d' ' -f1)
size=$(stat -c %s "$big")
href=$(curl -s -u "bench:$token" -H "Content-Type: application/vnd.git-lfs+json" \
  -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" \
  "http://127.0.0.1:$sport/bench/data.git/info/lfs/objects/batch" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
rss_before=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
t0=$(now)
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$big" "$href")
t1=$(now)
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
[ "$code" = 200 ] || { echo "2 GiB upload failed: $code" >&2; exit 1; }
rm -f "$big"

ratio() { case "$1$2" in *failed*) echo "n/a";; *) echo "scale=1; $1 / $2" | bc;; esac; }
cat <<TABLE

Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(git -C "$root" rev-parse --short HEAD), with \`scripts/bench.sh\` (${seconds}s per throughput run).

| measure | strata | giftless 0.6.2 (gunicorn -w 4) | strata advantage |
|---|---|---|---|
| download batch of 100 objects, 16 concurrent: requests/s | $s_rps | $g_rps | $(ratio "$s_rps" "$g_rps")x |
| same: median / p99 latency (ms) | $s_p50 / $s_p99 | $g_p50 / $g_p99 | |
| \`git lfs push\` of 16 x 16 MiB (s) | $s_push | $g_push | $(ratio "$g_push" "$s_push")x |
| \`git lfs pull\` of 16 x 16 MiB (s) | $s_pull | $g_pull | $(ratio "$g_pull" "$s_pull")x |
| peak RSS of strata uploading one 2 GiB object (MiB) | $((rss_peak / 1024)) (before: $((rss_before / 1024))) | | $(echo "scale=0; 2048 * 1024 / ($t1 - $t0) / 1024" | bc) MiB/s upload |
TABLE
