#!/bin/sh
# Times the interpreter on the benchmark kernels built natively and built for wasm32 (the
# browser's engine) under Node, best of five runs each, and prints both with their ratio.
# Both builds must give the same answers.
#
# Needs the wasm32-unknown-unknown target (rustup target add wasm32-unknown-unknown) and
# Node 18 or newer.
set -eu
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p rarvm-interp --example kernels
cargo rustc --release -q -p rarvm-interp --example kernels --target wasm32-unknown-unknown -- \
    -C link-arg=--export=kernel_count -C link-arg=--export=run_kernel
exec node scripts/wasm32-kernels.mjs \
    "$target/wasm32-unknown-unknown/release/examples/kernels.wasm" \
    "$target/release/examples/kernels"
