;; The hash loop of hash.rasm: xorshift64 fill, then rounds of multiply/xor-shift mixing.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param $rounds i64) (result i64)
    (local $x i64) (local $i i64) (local $r i64) (local $v i64) (local $acc i64)
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (i64.mul (local.get $n) (i64.const 8)) (i64.const 65535)) (i64.const 65536)))))
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (block $filled
      (loop $fill
        (br_if $filled (i64.eq (local.get $i) (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store (i32.wrap_i64 (i64.mul (local.get $i) (i64.const 8))) (local.get $x))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $fill)))
    (block $done
      (loop $round
        (br_if $done (i64.eq (local.get $r) (local.get $rounds)))
        (local.set $i (i64.const 0))
        (block $pass_done
          (loop $pass
            (br_if $pass_done (i64.eq (local.get $i) (local.get $n)))
            (local.set $v (i64.mul (i64.xor (i64.load (i32.wrap_i64 (i64.mul (local.get $i) (i64.const 8)))) (local.get $acc))
                                   (i64.const 0x2545f4914f6cdd1d)))
            (local.set $v (i64.xor (local.get $v) (i64.shr_u (local.get $v) (i64.const 29))))
            (i64.store (i32.wrap_i64 (i64.mul (local.get $i) (i64.const 8))) (local.get $v))
            (local.set $acc (i64.add (local.get $acc) (local.get $v)))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $pass)))
        (local.set $r (i64.add (local.get $r) (i64.const 1)))
        (br $round)))
    (local.get $acc)))
