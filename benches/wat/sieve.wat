;; Primes below n by the sieve of Eratosthenes over n bytes, as sieve.rasm.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param i64) (result i64)
    (local $i i64) (local $j i64) (local $count i64)
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (local.get $n) (i64.const 65535)) (i64.const 65536)))))
    (local.set $i (i64.const 2))
    (block $done
      (loop $outer
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (i32.wrap_i64 (local.get $i))))
          (then
            (local.set $count (i64.add (local.get $count) (i64.const 1)))
            (local.set $j (i64.mul (local.get $i) (local.get $i)))
            (block $struck
              (loop $strike
                (br_if $struck (i64.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (i32.wrap_i64 (local.get $j)) (i32.const 1))
                (local.set $j (i64.add (local.get $j) (local.get $i)))
                (br $strike)))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $outer)))
    (local.get $count)))
