#!/bin/sh
# Builds the playground page (the interpreter and the Entish compiler for wasm32, bound
# with wasm-bindgen) into web/www/pkg and serves web/www on 127.0.0.1.
#
#   scripts/web.sh            build and serve on http://127.0.0.1:8000/
#   scripts/web.sh 9000       … on port 9000
#   scripts/web.sh --build    build only (what CI does before the browser test)
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the version in Cargo.lock:
#   rustup target add wasm32-unknown-unknown
#   cargo install wasm-bindgen-cli --version 0.2.130 --locked
set -eu
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}') || have=""
if [ "$have" != "$want" ]; then
    echo "web.sh: wasm-bindgen $want is needed (found '${have:-none}'):" >&2
    echo "    cargo install wasm-bindgen-cli --version $want --locked" >&2
    exit 1
fi
cargo build --release -p rarvm-web --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir web/www/pkg \
    "$target/wasm32-unknown-unknown/release/rarvm_web.wasm"
if [ "${1:-}" = "--build" ]; then
    exit 0
fi
port="${1:-8000}"
echo "serving http://127.0.0.1:$port/"
exec python3 -m http.server --bind 127.0.0.1 --directory web/www "$port"
