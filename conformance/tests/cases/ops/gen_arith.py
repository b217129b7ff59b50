#!/usr/bin/env python3
"""Writes the arithmetic cases (one file per operator) with expectations computed from
Python's unbounded integers, independently of rarvm's engines. Run it from this folder."""

M = 1 << 64
EDGES = [0, 1, 2, 7, 63, 64, 65, (1 << 63) - 1, 1 << 63, M - 1, M - 2, 0x123456789ABCDEF0]


def s(x):
    return x - M if x >= 1 << 63 else x


def u(x):
    return x % M


def tdiv(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


BIN = {
    "add": lambda a, b: u(a + b),
    "sub": lambda a, b: u(a - b),
    "mul": lambda a, b: u(a * b),
    "div_u": lambda a, b: None if b == 0 else a // b,
    "div_s": lambda a, b: None if b == 0 else u(tdiv(s(a), s(b))),
    "rem_u": lambda a, b: None if b == 0 else a % b,
    "rem_s": lambda a, b: None if b == 0 else u(s(a) - s(b) * tdiv(s(a), s(b))),
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "shl": lambda a, b: u(a << (b % 64)),
    "shr_u": lambda a, b: a >> (b % 64),
    "shr_s": lambda a, b: u(s(a) >> (b % 64)),
    "rotl": lambda a, b: u((a << (b % 64)) | (a >> ((64 - b % 64) % 64))),
    "rotr": lambda a, b: u((a >> (b % 64)) | (a << ((64 - b % 64) % 64))),
    "eq": lambda a, b: int(a == b),
    "ne": lambda a, b: int(a != b),
    "lt_u": lambda a, b: int(a < b),
    "lt_s": lambda a, b: int(s(a) < s(b)),
    "gt_u": lambda a, b: int(a > b),
    "gt_s": lambda a, b: int(s(a) > s(b)),
    "le_u": lambda a, b: int(a <= b),
    "le_s": lambda a, b: int(s(a) <= s(b)),
    "ge_u": lambda a, b: int(a >= b),
    "ge_s": lambda a, b: int(s(a) >= s(b)),
}

UN = {
    "not": lambda a: a ^ (M - 1),
    "neg": lambda a: u(-a),
    "clz": lambda a: 64 - a.bit_length(),
    "ctz": lambda a: 64 if a == 0 else (a & -a).bit_length() - 1,
    "popcnt": lambda a: bin(a).count("1"),
    "eqz": lambda a: int(a == 0),
}

for op, f in BIN.items():
    with open(f"{op}.rasm", "w") as out:
        out.write(f"; `{op}` on every pair of edge operands; expectations from gen_arith.py.\n")
        out.write(f"func main(a, b) -> 1\n    local.get a\n    local.get b\n    {op}\n    ret\nend\n")
        for a in EDGES:
            for b in EDGES:
                out.write(f";! run {a} {b}\n")
                r = f(a, b)
                if r is None:
                    out.write(";! expect status fault\n;! expect fault division_by_zero\n;! expect stack\n")
                else:
                    out.write(f";! expect stack {r}\n")
        out.write(";! run 5 3\n;! sweep\n")

for op, f in UN.items():
    with open(f"{op}.rasm", "w") as out:
        out.write(f"; `{op}` on every edge operand; expectations from gen_arith.py.\n")
        out.write(f"func main(a) -> 1\n    local.get a\n    {op}\n    ret\nend\n")
        for a in EDGES:
            out.write(f";! run {a}\n;! expect stack {f(a)}\n")
