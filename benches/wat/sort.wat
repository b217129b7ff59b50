;; Heapsort of n xorshift64 words, as sort.rasm; returns the sum of a[i] xor i.
(module
  (memory 0)
  (func $at (param $i i64) (result i32) (i32.wrap_i64 (i64.mul (local.get $i) (i64.const 8))))
  (func $sift (param $start i64) (param $end i64)
    (local $root i64) (local $child i64) (local $a i64) (local $b i64)
    (local.set $root (local.get $start))
    (block $done
      (loop $loop
        (local.set $child (i64.add (i64.mul (local.get $root) (i64.const 2)) (i64.const 1)))
        (br_if $done (i64.ge_u (local.get $child) (local.get $end)))
        (if (i64.lt_u (i64.add (local.get $child) (i64.const 1)) (local.get $end))
          (then
            (if (i64.lt_u (i64.load (call $at (local.get $child))) (i64.load offset=8 (call $at (local.get $child))))
              (then (local.set $child (i64.add (local.get $child) (i64.const 1)))))))
        (local.set $a (i64.load (call $at (local.get $root))))
        (local.set $b (i64.load (call $at (local.get $child))))
        (br_if $done (i64.ge_u (local.get $a) (local.get $b)))
        (i64.store (call $at (local.get $root)) (local.get $b))
        (i64.store (call $at (local.get $child)) (local.get $a))
        (local.set $root (local.get $child))
        (br $loop))))
  (func (export "run") (param $n i64) (param i64) (result i64)
    (local $x i64) (local $i i64) (local $end i64) (local $t i64) (local $sum i64)
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (i64.mul (local.get $n) (i64.const 8)) (i64.const 65535)) (i64.const 65536)))))
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (block $filled
      (loop $fill
        (br_if $filled (i64.eq (local.get $i) (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store (call $at (local.get $i)) (local.get $x))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $fill)))
    (local.set $i (i64.div_u (local.get $n) (i64.const 2)))
    (block $built
      (loop $build
        (br_if $built (i64.eqz (local.get $i)))
        (local.set $i (i64.sub (local.get $i) (i64.const 1)))
        (call $sift (local.get $i) (local.get $n))
        (br $build)))
    (local.set $end (local.get $n))
    (block $sorted
      (loop $extract
        (br_if $sorted (i64.le_u (local.get $end) (i64.const 1)))
        (local.set $end (i64.sub (local.get $end) (i64.const 1)))
        (local.set $t (i64.load (call $at (local.get $end))))
        (i64.store (call $at (local.get $end)) (i64.load (i32.const 0)))
        (i64.store (i32.const 0) (local.get $t))
        (call $sift (i64.const 0) (local.get $end))
        (br $extract)))
    (local.set $i (i64.const 0))
    (block $summed
      (loop $sum_loop
        (br_if $summed (i64.eq (local.get $i) (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (i64.xor (i64.load (call $at (local.get $i))) (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $sum_loop)))
    (local.get $sum)))
