#!/usr/bin/env bash
# Browser upload benchmark: headless Chromium sends a file through the drive page's upload module
# (staged parts hashed by strata, to the local disk and to S3; and with --browser-uploads direct,
# sha256 in a worker and multipart-basic parts straight to S3) to a release strata on the local
# disk and on S3 (s3s-fs), beside `curl -T` of a file of the same size to the same place; then strata's peak
# RSS while the browser sends a larger file to the local disk. Prints Markdown. Not a test:
# nothing here passes or fails on timing. Needs chromium and chromium-driver (scripts/test.sh
# installs them).
#
#   scripts/upload_bench.sh        # UPLOAD_MIB=1024 UPLOAD_BIG_GIB=5
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --bin strata --features bench --example upload_bench
exec "${CARGO_TARGET_DIR:-target}"/release/examples/upload_bench "${CARGO_TARGET_DIR:-$PWD/target}/release/strata" "${UPLOAD_MIB:-1024}" "${UPLOAD_BIG_GIB:-5}"
