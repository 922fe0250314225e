#!/usr/bin/env bash
# Side-by-side benchmark, in one run on this machine: strata (release build) against giftless
# 0.6.2 (gunicorn -w 4, local storage) and rudolfs 0.3.8 (local storage), the servers a team
# would otherwise pick. Prints a Markdown table. Not a test: nothing here passes or fails on
# timing.
#
#   scripts/bench.sh        # BENCH_SECONDS=10 BENCH_SMALL=10000 BENCH_BIG_GIB=5 BENCH_KEEP=1
#
# Measures: batch API throughput; git lfs push and pull of 16 x 16 MiB; 10,000 small files
# (1-4 KiB) pushed, cloned and pulled with the stock client; one 5 GiB object pushed and cloned
# (with strata's peak RSS); strata's peak RSS while one 2 GiB object is uploaded; then strata
# with encryption at rest beside strata without, uploading and downloading one object with curl.
# giftless is installed into bench/.venv (PyPI), rudolfs into bench/rudolfs (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${BENCH_SECONDS:-10}
small=${BENCH_SMALL:-10000}
# BENCH_ONLY=batch, big16, small, huge or sealed runs only that measure (the other rows print as
# "-"). BENCH_SEALED_GIB (default 1) sizes the sealed-beside-unsealed object.
only=${BENCH_ONLY:-}
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
big_gib=${BENCH_BIG_GIB:-5}
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
rudolfs=$root/bench/rudolfs/bin/rudolfs
if [ ! -x "$rudolfs" ]; then
  echo "installing rudolfs 0.3.8 into bench/rudolfs (a few minutes)" >&2
  cargo install -q --root "$root/bench/rudolfs" rudolfs --version 0.3.8 --locked
fi
echo "building strata (release)" >&2
cargo build -q --release --bin strata --features bench --example lfs_bench
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
bench=${CARGO_TARGET_DIR:-$root/target}/release/examples/lfs_bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { printf "%.2f" "$(echo "$2 - $1" | bc)"; }

start_strata() { # data-dir -> sets sport, spid, token
  local dir=$1
  sport=$(free_port)
  export STRATA_DATA_DIR=$dir STRATA_LISTEN=127.0.0.1:$sport STRATA_LOG=warn
  mkdir -p "$dir"
  "$strata" serve & spid=$!
  pids+=("$spid")
  wait_http "http://127.0.0.1:$sport/healthz"
  "$strata" admin create-user bench >/dev/null
  "$strata" admin create-repo bench/data >/dev/null
  token=$("$strata" admin token --user bench 2>/dev/null)
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
# rudolfs: local storage, its objects encrypted with this key; no authentication.
rport=$(free_port)
mkdir -p "$work/rudolfs"
"$rudolfs" --host "127.0.0.1:$rport" --key "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  local --path "$work/rudolfs" >"$work/rudolfs.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$rport/"

s_lfs=http://127.0.0.1:$sport/bench/data.git/info/lfs
g_lfs=http://127.0.0.1:$gport/bench/data.git/info/lfs
r_lfs=http://127.0.0.1:$rport/api/bench/data
s_cred="bench:$token"
g_cred="_jwt:$gtoken"
r_cred="bench:none"

s_rps=- s_p50=- s_p99=- g_rps=- g_p50=- g_p99=- r_rps=- r_p50=- r_p99=-
m_push=(- - -); m_clone=(- - -); m_pull=(- - -); h_push=(- - -); h_clone=(- - -)
rss_before=0 rss_huge=0 rss_before2=0 rss_peak=0 t0=0 t1=1
if want batch; then
echo "1/5 batch throughput: 100-object download batches, concurrency 16, ${seconds}s each" >&2
for s in s g r; do
  lfs=${s}_lfs cred=${s}_cred
  "$bench" seed "${!lfs}/objects/batch" 100 "${!cred}"
  # A short warm-up for each server first (caches, connection pools, worker start-up).
  "$bench" batch "${!lfs}/objects/batch" 100 16 2 "${!cred}" >/dev/null
done
read -r s_rps s_p50 s_p99 < <("$bench" batch "$s_lfs/objects/batch" 100 16 "$seconds" "$s_cred")
read -r g_rps g_p50 g_p99 < <("$bench" batch "$g_lfs/objects/batch" 100 16 "$seconds" "$g_cred")
read -r r_rps r_p50 r_p99 < <("$bench" batch "$r_lfs/objects/batch" 100 16 "$seconds" "$r_cred")
fi

# One git client per server and case: its own HOME, credentials, a local bare remote for the
# git history and lfs.url pointing at the server under test.
client() { # name lfs-url credentials-url files-dir -> sets home; the work tree holds the files
  local name=$1 url=$2 creds=$3 files=$4
  home=$work/home-$name
  mkdir -p "$home"
  export HOME=$home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
  git config --global user.name bench; git config --global user.email bench@example.com
  git config --global init.defaultBranch main
  git config --global credential.helper "store --file=$home/creds"
  git config --global lfs.concurrenttransfers 8
  echo "$creds" > "$home/creds"
  git lfs install >/dev/null
  git init -q --bare "$home/remote.git"
  git init -q "$home/work"
  (cd "$home/work" && git lfs track '*.bin' >/dev/null && git config -f .lfsconfig lfs.url "$url" \
    && cp -r "$files"/. . && git add . && git commit -qm data && git remote add origin "$home/remote.git")
}
# Prints "push clone pull" seconds: git push (git-lfs uploads first), a full git clone (the
# smudge filter downloads), and git lfs pull into a clone made without smudging (skipped with a
# sixth argument). Each step gets BENCH_STEP_TIMEOUT seconds (default 900) and reports "failed"
# past it.
step=${BENCH_STEP_TIMEOUT:-900}
transfer() { # name lfs-url credentials-url files-dir check-file [nopull]
  local name=$1 check=$5 nopull=${6:-} t0 t1 t2 t3 t4
  client "$1" "$2" "$3" "$4"
  t0=$(now)
  # The LFS objects go up by id with `git lfs push --object-id` (git-lfs 3.3's ref scanner
  # reports "missing object" for some of 10,000 pointers, on every server alike), then git
  # pushes the commit without the pre-push upload.
  if ! (cd "$home/work" && find .git/lfs/objects -type f -printf '%f\n' >"$home/oids" \
    && timeout "$step" xargs -a "$home/oids" git lfs push --object-id origin >"$home/push.log" 2>&1 \
    && GIT_LFS_SKIP_PUSH=1 git push -q origin main >>"$home/push.log" 2>&1); then
    echo "$name: git push failed (see $home/push.log):" >&2; tail -3 "$home/push.log" >&2; echo "failed failed failed"; return
  fi
  t1=$(now)
  timeout "$step" git clone -q "$home/remote.git" "$home/clone" 2>"$home/clone.log" || { echo "$name: git clone failed" >&2; echo "$(elapsed "$t0" "$t1") failed failed"; return; }
  t2=$(now)
  cmp -s "$home/clone/$check" "$home/work/$check" || { echo "$name: cloned content differs" >&2; echo "failed failed failed"; return; }
  rm -rf "$home/clone"
  if [ -n "$nopull" ]; then rm -rf "$home/remote.git" "$home/work"; echo "$(elapsed "$t0" "$t1") $(elapsed "$t1" "$t2") -"; return; fi
  GIT_LFS_SKIP_SMUDGE=1 git clone -q "$home/remote.git" "$home/pulled"
  t3=$(now)
  (cd "$home/pulled" && timeout "$step" git lfs pull) || { echo "$name: git lfs pull failed" >&2; echo "$(elapsed "$t0" "$t1") $(elapsed "$t1" "$t2") failed"; return; }
  t4=$(now)
  cmp -s "$home/pulled/$check" "$home/work/$check" || { echo "$name: pulled content differs" >&2; echo "failed failed failed"; return; }
  rm -rf "$home/pulled" "$home/remote.git" "$home/work"
  echo "$(elapsed "$t0" "$t1") $(elapsed "$t1" "$t2") $(elapsed "$t3" "$t4")"
}
run_all() { # label files-dir check-file [nopull] [skip-giftless]: one transfer per server, in turn
  read -r s_push s_clone s_pull < <(transfer "strata-$1" "$s_lfs" "http://$s_cred@127.0.0.1:$sport" "$2" "$3" "${4:-}")
  if [ -z "${5:-}" ]; then
    read -r g_push g_clone g_pull < <(transfer "giftless-$1" "$g_lfs" "http://$g_cred@127.0.0.1:$gport" "$2" "$3" "${4:-}")
  else
    g_push=skipped g_clone=skipped g_pull=skipped
  fi
  read -r r_push r_clone r_pull < <(transfer "rudolfs-$1" "$r_lfs" "http://$r_cred@127.0.0.1:$rport" "$2" "$3" "${4:-}")
}

if want big16; then
echo "2/5 16 files of 16 MiB: push, clone, pull" >&2
mkdir -p "$work/files16"
for i in $(seq 1 16); do head -c 16M /dev/urandom > "$work/files16/f$i.bin"; done
run_all big16 "$work/files16" f7.bin
m_push=("$s_push" "$g_push" "$r_push"); m_clone=("$s_clone" "$g_clone" "$r_clone"); m_pull=("$s_pull" "$g_pull" "$r_pull")
fi

f_push=(- - -); f_clone=(- - -); f_pull=(- - -)
if want small; then
echo "3/5 $small small files (1-4 KiB): push, clone, pull" >&2
python3 - "$work/small" "$small" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
for i in range(n):
    sub = os.path.join(d, f"d{i % 100:02d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i}.bin"), "wb") as f:
        f.write(os.urandom(random.randint(1024, 4096)))
PY
run_all small "$work/small" d07/f7.bin
f_push=("$s_push" "$g_push" "$r_push"); f_clone=("$s_clone" "$g_clone" "$r_clone"); f_pull=("$s_pull" "$g_pull" "$r_pull")
rm -rf "$work/small"
fi

if want huge; then
echo "4/5 one ${big_gib} GiB object: push, clone (and strata's peak RSS)" >&2
kill "$spid"; wait "$spid" 2>/dev/null || true
start_strata "$work/strata-big"
s_lfs=http://127.0.0.1:$sport/bench/data.git/info/lfs
s_cred="bench:$token"
mkdir -p "$work/huge"
head -c "${big_gib}G" /dev/urandom > "$work/huge/huge.bin"
rss_before=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
# giftless is left out here: in a trial its clone of a 1 GiB object alone ran past 10 minutes.
run_all huge "$work/huge" huge.bin nopull skip-giftless
rss_huge=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
h_push=("$s_push" "$g_push" "$r_push"); h_clone=("$s_clone" "$g_clone" "$r_clone")
rm -rf "$work/huge"

echo "5/5 peak RSS of a fresh strata while a 2 GiB object is uploaded" >&2
kill "$spid"; wait "$spid" 2>/dev/null || true
start_strata "$work/strata-rss"
bigf=$work/big.bin
head -c 2G /dev/urandom > "$bigf"
oid=$(sha256sum "$bigf" | cut -d' ' -f1)
size=$(stat -c %s "$bigf")
href=$(curl -s -u "bench:$token" -H "Content-Type: application/vnd.git-lfs+json" \
  -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" \
  "http://127.0.0.1:$sport/bench/data.git/info/lfs/objects/batch" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
rss_before2=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
t0=$(now)
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$bigf" "$href")
t1=$(now)
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
[ "$code" = 200 ] || { echo "2 GiB upload failed: $code" >&2; exit 1; }
rm -f "$bigf"
fi

p_up=- p_down=- e_up=- e_down=- p_rss=0 e_rss=0
if want sealed; then
echo "6/6 encryption at rest: one ${BENCH_SEALED_GIB:-1} GiB object up and down with curl, unsealed then sealed" >&2
sealf=$work/seal.bin
head -c "${BENCH_SEALED_GIB:-1}G" /dev/urandom > "$sealf"
soid=$(sha256sum "$sealf" | cut -d' ' -f1)
ssize=$(stat -c %s "$sealf")
mib=$((ssize / 1048576))
# Sets t_up t_down (MiB/s) and t_rss (peak KiB) for a fresh strata with STRATA_ENCRYPTION=$1.
transfer_once() {
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  STRATA_ENCRYPTION=$1 start_strata "$work/strata-enc-$1-$2"
  local batch=http://127.0.0.1:$sport/bench/data.git/info/lfs/objects/batch up down t0 t1 t2
  up=$(curl -s -u "bench:$token" -H "Content-Type: application/vnd.git-lfs+json" \
    -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$soid\",\"size\":$ssize}]}" "$batch" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
  t0=$(now)
  [ "$(curl -s -o /dev/null -w '%{http_code}' -T "$sealf" "$up")" = 200 ] || { echo "upload failed ($1)" >&2; exit 1; }
  t1=$(now)
  down=$(curl -s -u "bench:$token" -H "Content-Type: application/vnd.git-lfs+json" \
    -d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$soid\",\"size\":$ssize}]}" "$batch" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["download"]["href"])')
  [ "$(curl -s "$down" | sha256sum | cut -d' ' -f1)" = "$soid" ] || { echo "download differs ($1)" >&2; exit 1; }
  t2=$(now)
  t_up=$(echo "scale=0; $mib / ($t1 - $t0)" | bc)
  t_down=$(echo "scale=0; $mib / ($t2 - $t1)" | bc)
  t_rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
}
# Five turns each, taking turns (the page cache and the disk drift between runs); medians.
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
pu=() pd=() eu=() ed=()
for turn in 1 2 3 4 5; do
  transfer_once off "$turn"; pu+=("$t_up") pd+=("$t_down"); [ "$t_rss" -gt "$p_rss" ] && p_rss=$t_rss
  transfer_once on "$turn"; eu+=("$t_up") ed+=("$t_down"); [ "$t_rss" -gt "$e_rss" ] && e_rss=$t_rss
done
p_up=$(med "${pu[@]}") p_down=$(med "${pd[@]}") e_up=$(med "${eu[@]}") e_down=$(med "${ed[@]}")
rm -f "$sealf"
fi

pct() { case "$1$2" in *-*) echo "n/a";; *) echo "$(echo "scale=0; 100 * $1 / $2" | bc) %";; esac; }
ratio() { case "$1$2" in *failed*|*skipped*|*-*) echo "n/a";; *) echo "scale=1; $1 / $2" | bc;; esac; }
rate() { case "$1" in *failed*|*skipped*|-) echo "$1";; *) echo "scale=0; $small / $1" | bc;; esac; }
# strata's advantage over the better of the two others (higher is better for strata).
vs() { echo "$(ratio "$2" "$1")x / $(ratio "$3" "$1")x"; }
cat <<TABLE

Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(git -C "$root" rev-parse --short HEAD), with \`scripts/bench.sh\` (${seconds}s per throughput run). Times in seconds; "strata vs" is how many times faster strata is than giftless / rudolfs.

| measure | strata | giftless 0.6.2 (gunicorn -w 4) | rudolfs 0.3.8 | strata vs giftless / rudolfs |
|---|---|---|---|---|
| download batch of 100 objects, 16 concurrent: requests/s | $s_rps | $g_rps | $r_rps | $(ratio "$s_rps" "$g_rps")x / $(ratio "$s_rps" "$r_rps")x |
| same: median / p99 latency (ms) | $s_p50 / $s_p99 | $g_p50 / $g_p99 | $r_p50 / $r_p99 | |
| 16 x 16 MiB: \`git lfs push --object-id\` + \`git push\` (s) | ${m_push[0]} | ${m_push[1]} | ${m_push[2]} | $(vs "${m_push[@]}") |
| 16 x 16 MiB: \`git clone\` with smudge (s) | ${m_clone[0]} | ${m_clone[1]} | ${m_clone[2]} | $(vs "${m_clone[@]}") |
| 16 x 16 MiB: \`git lfs pull\` (s) | ${m_pull[0]} | ${m_pull[1]} | ${m_pull[2]} | $(vs "${m_pull[@]}") |
| $small x 1-4 KiB: \`git lfs push --object-id\` + \`git push\` (files/s) | $(rate "${f_push[0]}") | $(rate "${f_push[1]}") | $(rate "${f_push[2]}") | $(vs "${f_push[@]}") |
| $small x 1-4 KiB: \`git clone\` with smudge (files/s) | $(rate "${f_clone[0]}") | $(rate "${f_clone[1]}") | $(rate "${f_clone[2]}") | $(vs "${f_clone[@]}") |
| $small x 1-4 KiB: \`git lfs pull\` (files/s) | $(rate "${f_pull[0]}") | $(rate "${f_pull[1]}") | $(rate "${f_pull[2]}") | $(vs "${f_pull[@]}") |
| one ${big_gib} GiB object: \`git lfs push --object-id\` + \`git push\` (s) | ${h_push[0]} | ${h_push[1]} | ${h_push[2]} | $(vs "${h_push[@]}") |
| one ${big_gib} GiB object: \`git clone\` with smudge (s) | ${h_clone[0]} | ${h_clone[1]} | ${h_clone[2]} | $(vs "${h_clone[@]}") |
| strata's peak RSS over the ${big_gib} GiB push and clone (MiB) | $((rss_huge / 1024)) (at start: $((rss_before / 1024))) | | | |
| strata's peak RSS uploading one 2 GiB object with curl (MiB) | $((rss_peak / 1024)) (at start: $((rss_before2 / 1024))) | | | $(echo "scale=0; 2048 * 1024 / ($t1 - $t0) / 1024" | bc) MiB/s upload |

Encryption at rest (local disk), one ${BENCH_SEALED_GIB:-1} GiB object with curl, each on a fresh strata (the download includes sha256sum of what arrived):

| measure | unsealed | sealed (\`--encryption on\`) | sealed / unsealed |
|---|---|---|---|
| upload (MiB/s, median of 5) | $p_up | $e_up | $(pct "$e_up" "$p_up") |
| download (MiB/s, median of 5) | $p_down | $e_down | $(pct "$e_down" "$p_down") |
| peak RSS (MiB) | $((p_rss / 1024)) | $((e_rss / 1024)) | |
TABLE
