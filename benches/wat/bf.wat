;; The brainfuck interpreter of bf.rasm: op codes and jump table first, then a br_table
;; dispatch loop over a 30,000-byte tape; returns the output checksum acc = acc * 31 + byte.
(module
  (memory 1)
  (data (i32.const 0) "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++[>++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++[>++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++[>+>++<<-]<-]<-]>>>.>.")
  (func (export "run") (param i64) (param i64) (result i64)
    (local $pc i32) (local $c i32) (local $op i32) (local $sp i32) (local $open i32) (local $ptr i32)
    (local $acc i64)
    (block $parsed
      (loop $parse
        (br_if $parsed (i32.eq (local.get $pc) (i32.const 326)))
        (local.set $c (i32.load8_u (local.get $pc)))
        (local.set $op (i32.const 7))
        (if (i32.eq (local.get $c) (i32.const 43)) (then (local.set $op (i32.const 0))))
        (if (i32.eq (local.get $c) (i32.const 45)) (then (local.set $op (i32.const 1))))
        (if (i32.eq (local.get $c) (i32.const 62)) (then (local.set $op (i32.const 2))))
        (if (i32.eq (local.get $c) (i32.const 60)) (then (local.set $op (i32.const 3))))
        (if (i32.eq (local.get $c) (i32.const 91))
          (then
            (local.set $op (i32.const 4))
            (i32.store offset=12288 (i32.mul (local.get $sp) (i32.const 4)) (local.get $pc))
            (local.set $sp (i32.add (local.get $sp) (i32.const 1)))))
        (if (i32.eq (local.get $c) (i32.const 93))
          (then
            (local.set $op (i32.const 5))
            (local.set $sp (i32.sub (local.get $sp) (i32.const 1)))
            (local.set $open (i32.load offset=12288 (i32.mul (local.get $sp) (i32.const 4))))
            (i32.store offset=2048 (i32.mul (local.get $open) (i32.const 4)) (local.get $pc))
            (i32.store offset=2048 (i32.mul (local.get $pc) (i32.const 4)) (local.get $open))))
        (if (i32.eq (local.get $c) (i32.const 46)) (then (local.set $op (i32.const 6))))
        (i32.store8 offset=1024 (local.get $pc) (local.get $op))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (br $parse)))
    (local.set $pc (i32.const 0))
    (local.set $ptr (i32.const 16384))
    (block $done
      (loop $run
        (br_if $done (i32.ge_u (local.get $pc) (i32.const 326)))
        (block $next
          (block $dot
            (block $close
              (block $open_b
                (block $left
                  (block $right
                    (block $minus
                      (block $plus
                        (br_table $plus $minus $right $left $open_b $close $dot $next
                          (i32.load8_u offset=1024 (local.get $pc))))
                      (i32.store8 (local.get $ptr) (i32.add (i32.load8_u (local.get $ptr)) (i32.const 1)))
                      (br $next))
                    (i32.store8 (local.get $ptr) (i32.sub (i32.load8_u (local.get $ptr)) (i32.const 1)))
                    (br $next))
                  (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
                  (br $next))
                (local.set $ptr (i32.sub (local.get $ptr) (i32.const 1)))
                (br $next))
              (if (i32.eqz (i32.load8_u (local.get $ptr)))
                (then (local.set $pc (i32.load offset=2048 (i32.mul (local.get $pc) (i32.const 4))))))
              (br $next))
            (if (i32.load8_u (local.get $ptr))
              (then (local.set $pc (i32.load offset=2048 (i32.mul (local.get $pc) (i32.const 4))))))
            (br $next))
          (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (i64.extend_i32_u (i32.load8_u (local.get $ptr))))))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (br $run)))
    (local.get $acc)))
