#!/usr/bin/env bash
# Build influxd (InfluxDB OSS 2.x) from its Go module, with libflux compiled by cargo through
# influxdata's pkg-config wrapper. The binary is cached by version: only the first build is slow.
#
#   deploy/local/build-influxd.sh            -> prints the path of the cached binary
#
# Env: WASTESTREAM_CACHE (default ~/.cache/wastestream), INFLUXDB_VERSION (default below).
set -euo pipefail

INFLUXDB_VERSION="${INFLUXDB_VERSION:-v2.9.1}"
CACHE="${WASTESTREAM_CACHE:-$HOME/.cache/wastestream}"
OUT="$CACHE/influxdb/$INFLUXDB_VERSION/influxd"
LOG="$CACHE/influxdb/$INFLUXDB_VERSION/build.log"

if [ -x "$OUT" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$(dirname "$OUT")"

export GOTOOLCHAIN=local
export GOFLAGS="-mod=mod -buildvcs=false"
# libflux pins rust 1.83 in rust-toolchain.toml; rustup cannot fetch it here, use the installed one.
export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-$(rustup show active-toolchain 2>/dev/null | awk '{print $1}' || echo stable)}"
export RUSTFLAGS="${RUSTFLAGS:---cap-lints=warn}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$(nproc)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/influxd-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

{
  echo "== building influxd $INFLUXDB_VERSION ($(date -u +%FT%TZ)), rust=$RUSTUP_TOOLCHAIN"
  cd "$work"
  src="$(go mod download -json "github.com/influxdata/influxdb/v2@$INFLUXDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$src" "$work/influxdb" && chmod -R u+w "$work/influxdb"
  cd "$work/influxdb"
  # The pkg-config wrapper: Go runs it for the flux cgo package; it cargo-builds libflux.
  go build -o "$work/pkg-config" github.com/influxdata/pkg-config
  export PKG_CONFIG="$work/pkg-config"
  go build -tags sqlite_foreign_keys,sqlite_json \
     -ldflags "-s -w -X main.version=${INFLUXDB_VERSION#v} -X main.commit=gomodule" \
     -o "$work/influxd" ./cmd/influxd
  "$work/influxd" version
  mv "$work/influxd" "$OUT"
  echo "== done ($(date -u +%FT%TZ))"
} >"$LOG" 2>&1 || { echo "influxd build failed; see $LOG" >&2; tail -n 30 "$LOG" >&2; exit 1; }
echo "$OUT"
