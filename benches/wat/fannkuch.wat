;; fannkuch-redux, as fannkuch.rasm: perm1 at 0, perm at 128, count at 256 (n <= 16).
;; Returns checksum * 1000 + maxflips.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param i64) (result i64)
    (local $i i64) (local $j i64) (local $k i64) (local $r i64) (local $t i64)
    (local $flips i64) (local $maxflips i64) (local $checksum i64) (local $permcount i64)
    (local $perm0 i64)
    (if (i64.gt_u (local.get $n) (i64.const 16)) (then unreachable))
    (drop (memory.grow (i32.const 1)))
    (block $inited
      (loop $init
        (br_if $inited (i64.ge_u (local.get $i) (local.get $n)))
        (i64.store (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))) (local.get $i))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $init)))
    (local.set $r (local.get $n))
    (block $done
      (loop $perm_loop
        (block $counted
          (loop $count_loop
            (br_if $counted (i64.eq (local.get $r) (i64.const 1)))
            (i64.store offset=248 (i32.wrap_i64 (i64.shl (local.get $r) (i64.const 3))) (local.get $r))
            (local.set $r (i64.sub (local.get $r) (i64.const 1)))
            (br $count_loop)))
        (memory.copy (i32.const 128) (i32.const 0) (i32.wrap_i64 (i64.shl (local.get $n) (i64.const 3))))
        (local.set $flips (i64.const 0))
        (local.set $k (i64.load offset=128 (i32.const 0)))
        (block $flipped
          (loop $flip
            (br_if $flipped (i64.eqz (local.get $k)))
            (local.set $i (i64.const 0))
            (local.set $j (local.get $k))
            (block $reversed
              (loop $reverse
                (br_if $reversed (i64.ge_u (local.get $i) (local.get $j)))
                (local.set $t (i64.load offset=128 (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3)))))
                (i64.store offset=128 (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3)))
                  (i64.load offset=128 (i32.wrap_i64 (i64.shl (local.get $j) (i64.const 3)))))
                (i64.store offset=128 (i32.wrap_i64 (i64.shl (local.get $j) (i64.const 3))) (local.get $t))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (local.set $j (i64.sub (local.get $j) (i64.const 1)))
                (br $reverse)))
            (local.set $flips (i64.add (local.get $flips) (i64.const 1)))
            (local.set $k (i64.load offset=128 (i32.const 0)))
            (br $flip)))
        (if (i64.gt_u (local.get $flips) (local.get $maxflips))
          (then (local.set $maxflips (local.get $flips))))
        (if (i64.eqz (i64.and (local.get $permcount) (i64.const 1)))
          (then (local.set $checksum (i64.add (local.get $checksum) (local.get $flips))))
          (else (local.set $checksum (i64.sub (local.get $checksum) (local.get $flips)))))
        ;; The next permutation, or the end.
        (block $found
          (loop $next_perm
            (br_if $done (i64.eq (local.get $r) (local.get $n)))
            (local.set $perm0 (i64.load (i32.const 0)))
            (local.set $i (i64.const 0))
            (block $rotated
              (loop $rotate
                (br_if $rotated (i64.ge_u (local.get $i) (local.get $r)))
                (i64.store (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))) (i64.load offset=8 (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3)))))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (br $rotate)))
            (i64.store (i32.wrap_i64 (i64.shl (local.get $r) (i64.const 3))) (local.get $perm0))
            (local.set $k (i64.sub (i64.load offset=256 (i32.wrap_i64 (i64.shl (local.get $r) (i64.const 3)))) (i64.const 1)))
            (i64.store offset=256 (i32.wrap_i64 (i64.shl (local.get $r) (i64.const 3))) (local.get $k))
            (br_if $found (i64.ne (local.get $k) (i64.const 0)))
            (local.set $r (i64.add (local.get $r) (i64.const 1)))
            (br $next_perm)))
        (local.set $permcount (i64.add (local.get $permcount) (i64.const 1)))
        (br $perm_loop)))
    (i64.add (i64.mul (local.get $checksum) (i64.const 1000)) (local.get $maxflips))))
