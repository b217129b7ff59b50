;; Integer matrix multiply, as matmul.rasm: A[i][j] = i + j, B[i][j] = i xor j, returns the
;; wrapping sum of C = A * B. A at 0, B at 8n^2, C at 16n^2.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param i64) (result i64)
    (local $i i64) (local $j i64) (local $k i64) (local $acc i64) (local $b i64) (local $c i64)
    (local $sum i64) (local $row i64)
    (local.set $b (i64.mul (i64.mul (local.get $n) (local.get $n)) (i64.const 8)))
    (local.set $c (i64.mul (local.get $b) (i64.const 2)))
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (i64.mul (local.get $b) (i64.const 3)) (i64.const 65535)) (i64.const 65536)))))
    (block $init_done
      (loop $init_i
        (br_if $init_done (i64.eq (local.get $i) (local.get $n)))
        (local.set $j (i64.const 0))
        (block $row_done
          (loop $init_j
            (br_if $row_done (i64.eq (local.get $j) (local.get $n)))
            (local.set $row (i64.mul (i64.add (i64.mul (local.get $i) (local.get $n)) (local.get $j)) (i64.const 8)))
            (i64.store (i32.wrap_i64 (local.get $row)) (i64.add (local.get $i) (local.get $j)))
            (i64.store (i32.wrap_i64 (i64.add (local.get $row) (local.get $b))) (i64.xor (local.get $i) (local.get $j)))
            (local.set $j (i64.add (local.get $j) (i64.const 1)))
            (br $init_j)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $init_i)))
    (local.set $i (i64.const 0))
    (block $done
      (loop $mul_i
        (br_if $done (i64.eq (local.get $i) (local.get $n)))
        (local.set $j (i64.const 0))
        (block $i_done
          (loop $mul_j
            (br_if $i_done (i64.eq (local.get $j) (local.get $n)))
            (local.set $acc (i64.const 0))
            (local.set $k (i64.const 0))
            (block $k_done
              (loop $mul_k
                (br_if $k_done (i64.eq (local.get $k) (local.get $n)))
                (local.set $acc (i64.add (local.get $acc)
                  (i64.mul
                    (i64.load (i32.wrap_i64 (i64.mul (i64.add (i64.mul (local.get $i) (local.get $n)) (local.get $k)) (i64.const 8))))
                    (i64.load (i32.wrap_i64 (i64.add (i64.mul (i64.add (i64.mul (local.get $k) (local.get $n)) (local.get $j)) (i64.const 8)) (local.get $b)))))))
                (local.set $k (i64.add (local.get $k) (i64.const 1)))
                (br $mul_k)))
            (i64.store (i32.wrap_i64 (i64.add (i64.mul (i64.add (i64.mul (local.get $i) (local.get $n)) (local.get $j)) (i64.const 8)) (local.get $c))) (local.get $acc))
            (local.set $sum (i64.add (local.get $sum) (local.get $acc)))
            (local.set $j (i64.add (local.get $j) (i64.const 1)))
            (br $mul_j)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $mul_i)))
    (local.get $sum)))
