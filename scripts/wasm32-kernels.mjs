// Times the interpreter built for wasm32 on the benchmark kernels under Node and sets it
// beside the native build's times (see scripts/bench-wasm32.sh).
//
//   node scripts/wasm32-kernels.mjs KERNELS.wasm NATIVE-KERNELS-BINARY
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const [wasmPath, nativePath] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
const { kernel_count: count, run_kernel: run } = instance.exports;
const native = execFileSync(nativePath, { encoding: 'utf8' })
  .trim()
  .split('\n')
  .map((line) => line.split(' '));
if (native.length !== count()) {
  throw new Error(`the native build knows ${native.length} kernels, the wasm32 build ${count()}`);
}
console.log('| kernel | native interp | wasm32 interp (Node) | wasm32/native |');
console.log('|---|---|---|---|');
for (let k = 0; k < count(); k++) {
  const [name, nativeMs, answer] = native[k];
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const got = run(k);
    best = Math.min(best, performance.now() - t);
    if (BigInt.asUintN(64, got).toString() !== answer) {
      throw new Error(`${name}: wasm32 answers ${BigInt.asUintN(64, got)}, native ${answer}`);
    }
  }
  const ratio = best / Number(nativeMs);
  console.log(`| ${name} | ${nativeMs} ms | ${best.toFixed(1)} ms | ${ratio.toFixed(2)} |`);
}
