;; The linked-list kernel of list.rasm: node k (1 ..= n) is 16 bytes at 16 * k (next at +0,
;; value at +8), the shuffled order after the nodes; `rounds` reversing, mixing walks.
(module
  (memory 0)
  (func (export "run") (param $n i64) (param $rounds i64) (result i64)
    (local $x i64) (local $i i64) (local $j i64) (local $a i64) (local $b i64) (local $ord i64)
    (local $head i64) (local $acc i64) (local $r i64) (local $p i64) (local $prev i64)
    (local $next i64) (local $v i64) (local $node i64)
    (local.set $ord (i64.shl (i64.add (local.get $n) (i64.const 1)) (i64.const 4)))
    (drop (memory.grow (i32.wrap_i64 (i64.div_u (i64.add (i64.add (local.get $ord) (i64.shl (local.get $n) (i64.const 3))) (i64.const 65535)) (i64.const 65536)))))
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (local.set $i (i64.const 1))
    (block $valued
      (loop $values
        (br_if $valued (i64.gt_u (local.get $i) (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store offset=8 (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 4))) (local.get $x))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $values)))
    (local.set $i (i64.const 0))
    (block $ordered
      (loop $order_fill
        (br_if $ordered (i64.ge_u (local.get $i) (local.get $n)))
        (i64.store (i32.wrap_i64 (i64.add (local.get $ord) (i64.shl (local.get $i) (i64.const 3))))
                   (i64.add (local.get $i) (i64.const 1)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $order_fill)))
    (local.set $i (local.get $n))
    (block $shuffled
      (loop $shuffle
        (br_if $shuffled (i64.le_u (local.get $i) (i64.const 1)))
        (local.set $i (i64.sub (local.get $i) (i64.const 1)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (local.set $j (i64.add (local.get $ord)
                               (i64.shl (i64.rem_u (local.get $x) (i64.add (local.get $i) (i64.const 1)))
                                        (i64.const 3))))
        (local.set $b (i64.add (local.get $ord) (i64.shl (local.get $i) (i64.const 3))))
        (local.set $a (i64.load (i32.wrap_i64 (local.get $j))))
        (i64.store (i32.wrap_i64 (local.get $j)) (i64.load (i32.wrap_i64 (local.get $b))))
        (i64.store (i32.wrap_i64 (local.get $b)) (local.get $a))
        (br $shuffle)))
    (local.set $i (i64.const 0))
    (block $linked
      (loop $link
        (br_if $linked (i64.ge_u (i64.add (local.get $i) (i64.const 1)) (local.get $n)))
        (local.set $a (i64.add (local.get $ord) (i64.shl (local.get $i) (i64.const 3))))
        (i64.store (i32.wrap_i64 (i64.shl (i64.load (i32.wrap_i64 (local.get $a))) (i64.const 4)))
                   (i64.load offset=8 (i32.wrap_i64 (local.get $a))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $link)))
    (local.set $head (i64.load (i32.wrap_i64 (local.get $ord))))
    (block $done
      (loop $round
        (br_if $done (i64.ge_u (local.get $r) (local.get $rounds)))
        (local.set $p (local.get $head))
        (local.set $prev (i64.const 0))
        (if (i64.ne (local.get $p) (i64.const 0))
          (then
            (loop $walk
              (local.set $node (i64.shl (local.get $p) (i64.const 4)))
              (local.set $next (i64.load (i32.wrap_i64 (local.get $node))))
              (local.set $v (i64.load offset=8 (i32.wrap_i64 (local.get $node))))
              (if (i64.ne (i64.and (local.get $v) (i64.const 1)) (i64.const 0))
                (then (local.set $acc (i64.add (local.get $acc) (local.get $v))))
                (else (local.set $acc (i64.xor (local.get $acc) (i64.shr_u (local.get $v) (i64.const 1))))))
              (i64.store offset=8 (i32.wrap_i64 (local.get $node)) (i64.add (local.get $v) (local.get $acc)))
              (i64.store (i32.wrap_i64 (local.get $node)) (local.get $prev))
              (local.set $prev (local.get $p))
              (local.set $p (local.get $next))
              (br_if $walk (i64.ne (local.get $p) (i64.const 0))))))
        (local.set $head (local.get $prev))
        (local.set $r (i64.add (local.get $r) (i64.const 1)))
        (br $round)))
    (local.get $acc)))
