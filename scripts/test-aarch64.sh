#!/usr/bin/env bash
# Cross-builds rarvm for aarch64-unknown-linux-gnu, runs the JIT tests and every example under
# qemu user-mode emulation, and checks that every run stops the same way and writes the same
# image bytes (BLAKE3) as on this host.
#
# Installs what it needs: Debian's qemu-user, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross,
# and the Rust target aarch64-unknown-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
    echo "== installing qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
rustup target add "$target" >/dev/null

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot"

echo "== aarch64: JIT crate and engine-equivalence tests under emulation (${SECONDS}s in)"
cargo test --release --target "$target" -p rarvm-jit -p rarvm-interp
cargo test --release --target "$target" -p rarvm --test engines --test intentional --test examples --test images

echo "== aarch64: every example on every engine, compared with this host (${SECONDS}s in)"
cargo build --release --bin rarvm
# Only what the runs below use: the VM's commands, without the cluster's and the vats'
# dependencies (tokio, NATS, TLS, SQLite), which would cost minutes to cross-build.
cargo build --release --target "$target" -p rarvm-cli --no-default-features --bin rarvm
host=target/release/rarvm
arm=(qemu-aarch64 -L "$sysroot" "target/$target/release/rarvm")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cases=(
    "sandbox.rasm 41"
    "sandbox_loop.rasm 41"
    "fib.rasm 22"
    "sieve.rasm 20000"
    "replicate.rasm"
    "nested.rasm 3"
    "sandbox.et 41"
    "sandbox_loop.et 41"
    "replicate.et"
    "nested.et 3"
)
compared=0
for case in "${cases[@]}"; do
    read -r file arg <<<"$case"
    args=()
    [ -n "${arg:-}" ] && args=(-- "$arg")
    for engine in interp jit auto; do
        for gas in 100 5000 250000 10000000000; do
            a=$("$host" run --json --engine "$engine" --gas "$gas" --snapshot "$scratch/host.img" "examples/$file" "${args[@]}" || true)
            b=$("${arm[@]}" run --json --engine "$engine" --gas "$gas" --snapshot "$scratch/arm.img" "examples/$file" "${args[@]}" || true)
            if [ "$a" != "$b" ] || ! cmp -s "$scratch/host.img" "$scratch/arm.img"; then
                echo "MISMATCH: $file ${arg:-} engine=$engine gas=$gas"
                echo "  host:    $a"
                echo "  aarch64: $b"
                exit 1
            fi
            compared=$((compared + 1))
        done
    done
    # A resumed image continues identically across architectures too.
    "$host" run --engine jit --gas 3000 --snapshot "$scratch/mid.img" "examples/$file" "${args[@]}" >/dev/null || true
    a=$("$host" resume --json --engine jit --snapshot "$scratch/host.img" "$scratch/mid.img" || true)
    b=$("${arm[@]}" resume --json --engine jit --snapshot "$scratch/arm.img" "$scratch/mid.img" || true)
    if [ "$a" != "$b" ] || ! cmp -s "$scratch/host.img" "$scratch/arm.img"; then
        echo "MISMATCH resuming $file on aarch64: $a vs $b"
        exit 1
    fi
    compared=$((compared + 1))
done
echo "aarch64: $compared runs compared with x86-64, images identical (${SECONDS}s)"
