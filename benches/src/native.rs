//! The kernels in plain Rust: the same algorithms as `programs/*.rasm` and `wat/*.wat`.

pub fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1).wrapping_add(fib(n - 2))
    }
}

pub fn sieve(n: u64) -> u64 {
    let n = n as usize;
    let mut composite = vec![0u8; n];
    let mut count = 0;
    let mut i = 2;
    while i < n {
        if composite[i] == 0 {
            count += 1;
            let mut j = i * i;
            while j < n {
                composite[j] = 1;
                j += i;
            }
        }
        i += 1;
    }
    count
}

pub fn matmul(n: u64) -> u64 {
    let n = n as usize;
    let mut a = vec![0u64; n * n];
    let mut b = vec![0u64; n * n];
    let mut c = vec![0u64; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (i + j) as u64;
            b[i * n + j] = (i ^ j) as u64;
        }
    }
    let mut sum = 0u64;
    for i in 0..n {
        for j in 0..n {
            let mut acc = 0u64;
            for k in 0..n {
                acc = acc.wrapping_add(a[i * n + k].wrapping_mul(b[k * n + j]));
            }
            c[i * n + j] = acc;
            sum = sum.wrapping_add(acc);
        }
    }
    std::hint::black_box(&c);
    sum
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

pub fn hash(n: u64, rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15;
    let mut mem: Vec<u64> = (0..n).map(|_| xorshift(&mut x)).collect();
    let mut acc = 0u64;
    for _ in 0..rounds {
        for w in &mut mem {
            let mut v = (*w ^ acc).wrapping_mul(0x2545_f491_4f6c_dd1d);
            v ^= v >> 29;
            *w = v;
            acc = acc.wrapping_add(v);
        }
    }
    acc
}

fn sift(a: &mut [u64], start: usize, end: usize) {
    let mut root = start;
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && a[child] < a[child + 1] {
            child += 1;
        }
        if a[root] >= a[child] {
            return;
        }
        a.swap(root, child);
        root = child;
    }
}

pub fn sort(n: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15;
    let mut a: Vec<u64> = (0..n).map(|_| xorshift(&mut x)).collect();
    let n = n as usize;
    for i in (0..n / 2).rev() {
        sift(&mut a, i, n);
    }
    for end in (1..n).rev() {
        a.swap(0, end);
        sift(&mut a, 0, end);
    }
    a.iter()
        .enumerate()
        .fold(0u64, |s, (i, v)| s.wrapping_add(v ^ i as u64))
}

/// Runs a brainfuck program the way `bf.rasm` does; returns its output checksum.
pub fn bf(prog: &[u8]) -> u64 {
    let mut jump = vec![0usize; prog.len()];
    let mut stack = Vec::new();
    for (i, c) in prog.iter().enumerate() {
        match c {
            b'[' => stack.push(i),
            b']' => {
                let open = stack.pop().expect("balanced program");
                jump[open] = i;
                jump[i] = open;
            }
            _ => {}
        }
    }
    let mut tape = vec![0u8; 30_000];
    let (mut pc, mut ptr, mut acc) = (0usize, 0usize, 0u64);
    while pc < prog.len() {
        match prog[pc] {
            b'+' => tape[ptr] = tape[ptr].wrapping_add(1),
            b'-' => tape[ptr] = tape[ptr].wrapping_sub(1),
            b'>' => ptr += 1,
            b'<' => ptr -= 1,
            b'[' if tape[ptr] == 0 => pc = jump[pc],
            b']' if tape[ptr] != 0 => pc = jump[pc],
            b'.' => acc = acc.wrapping_mul(31).wrapping_add(u64::from(tape[ptr])),
            _ => {}
        }
        pc += 1;
    }
    acc
}

/// fannkuch-redux as `fannkuch.rasm`: checksum * 1000 + maxflips.
pub fn fannkuch(n: u64) -> u64 {
    let n = n as usize;
    let mut perm1: Vec<u64> = (0..n as u64).collect();
    let mut perm = vec![0u64; n];
    let mut count = vec![0u64; n];
    let (mut maxflips, mut checksum, mut permcount) = (0u64, 0u64, 0u64);
    let mut r = n;
    loop {
        while r != 1 {
            count[r - 1] = r as u64;
            r -= 1;
        }
        perm.copy_from_slice(&perm1);
        let mut flips = 0u64;
        let mut k = perm[0] as usize;
        while k != 0 {
            let (mut i, mut j) = (0, k);
            while i < j {
                perm.swap(i, j);
                i += 1;
                j -= 1;
            }
            flips += 1;
            k = perm[0] as usize;
        }
        maxflips = maxflips.max(flips);
        if permcount % 2 == 0 {
            checksum = checksum.wrapping_add(flips);
        } else {
            checksum = checksum.wrapping_sub(flips);
        }
        // The next permutation, or the end.
        loop {
            if r == n {
                return checksum.wrapping_mul(1000).wrapping_add(maxflips);
            }
            let perm0 = perm1[0];
            for i in 0..r {
                perm1[i] = perm1[i + 1];
            }
            perm1[r] = perm0;
            count[r] -= 1;
            if count[r] > 0 {
                break;
            }
            r += 1;
        }
        permcount += 1;
    }
}

/// CRC-32 (IEEE, reflected, table-driven) of `n` LCG bytes repeated `rounds` times, as
/// `crc32.rasm`.
pub fn crc32(n: u64, rounds: u64) -> u64 {
    let mut table = [0u64; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u64;
        for _ in 0..8 {
            c = (c >> 1) ^ (0xedb8_8320 & (c & 1).wrapping_neg());
        }
        *t = c;
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect();
    let mut crc = 0xffff_ffffu64;
    for _ in 0..rounds {
        for &b in &data {
            crc = table[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    crc ^ 0xffff_ffff
}

#[derive(Clone, Copy)]
struct Node {
    next: u64,
    value: u64,
}

/// The linked-list kernel of `list.rasm`: `n >= 1` nodes numbered from 1 (0 ends the
/// list), linked in a shuffled order, then `rounds` walks reversing the list and mixing
/// its values into the checksum.
pub fn list(n: u64, rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15;
    let mut nodes = vec![Node { next: 0, value: 0 }; n as usize + 1];
    for node in &mut nodes[1..] {
        node.value = xorshift(&mut x);
    }
    let mut order: Vec<u64> = (1..=n).collect();
    for i in (1..n as usize).rev() {
        let j = (xorshift(&mut x) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    for w in order.windows(2) {
        nodes[w[0] as usize].next = w[1];
    }
    let mut head = order[0];
    let mut acc = 0u64;
    for _ in 0..rounds {
        let (mut p, mut prev) = (head, 0);
        while p != 0 {
            let node = &mut nodes[p as usize];
            let next = node.next;
            let v = node.value;
            if v & 1 != 0 {
                acc = acc.wrapping_add(v);
            } else {
                acc ^= v >> 1;
            }
            node.value = v.wrapping_add(acc);
            node.next = prev;
            prev = p;
            p = next;
        }
        head = prev;
    }
    acc
}
