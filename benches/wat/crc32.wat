;; CRC-32 (IEEE), table-driven, over n LCG bytes repeated `rounds` times, as crc32.rasm:
;; the table at 0 (256 words), the bytes at 2048.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param $rounds i64) (result i64)
    (local $i i64) (local $k i64) (local $c i64) (local $x i64) (local $crc i64)
    (local $r i64) (local $p i64) (local $end i64)
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (i64.add (local.get $n) (i64.const 2048)) (i64.const 65535)) (i64.const 65536)))))
    (loop $table
      (local.set $c (local.get $i))
      (local.set $k (i64.const 8))
      (loop $bits
        (local.set $c (i64.xor (i64.shr_u (local.get $c) (i64.const 1))
                               (i64.and (i64.const 0xedb88320)
                                        (i64.sub (i64.const 0) (i64.and (local.get $c) (i64.const 1))))))
        (local.set $k (i64.sub (local.get $k) (i64.const 1)))
        (br_if $bits (i64.ne (local.get $k) (i64.const 0))))
      (i64.store (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))) (local.get $c))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $table (i64.lt_u (local.get $i) (i64.const 256))))
    (local.set $end (i64.add (local.get $n) (i64.const 2048)))
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (local.set $p (i64.const 2048))
    (if (i64.lt_u (local.get $p) (local.get $end))
      (then
        (loop $fill
          (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005))
                                 (i64.const 1442695040888963407)))
          (i64.store8 (i32.wrap_i64 (local.get $p)) (i64.shr_u (local.get $x) (i64.const 56)))
          (local.set $p (i64.add (local.get $p) (i64.const 1)))
          (br_if $fill (i64.lt_u (local.get $p) (local.get $end))))))
    (local.set $crc (i64.const 0xffffffff))
    (block $done
      (loop $round
        (br_if $done (i64.ge_u (local.get $r) (local.get $rounds)))
        (local.set $p (i64.const 2048))
        (if (i64.lt_u (local.get $p) (local.get $end))
          (then
            (loop $pass
              (local.set $crc
                (i64.xor (i64.shr_u (local.get $crc) (i64.const 8))
                         (i64.load (i32.wrap_i64 (i64.shl
                           (i64.and (i64.xor (local.get $crc) (i64.load8_u (i32.wrap_i64 (local.get $p))))
                                    (i64.const 0xff))
                           (i64.const 3))))))
              (local.set $p (i64.add (local.get $p) (i64.const 1)))
              (br_if $pass (i64.lt_u (local.get $p) (local.get $end))))))
        (local.set $r (i64.add (local.get $r) (i64.const 1)))
        (br $round)))
    (i64.xor (local.get $crc) (i64.const 0xffffffff))))
