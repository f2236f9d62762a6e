// faceapi-speed.cjs: face-api's whole pipeline on tfjs-wasm, per image, the
// peer of ir's pipeline in `make bench`.
//
// usage: node bench/faceapi-speed.cjs [IMAGE.jpg...]
//   (default: the 8 reference photos in tests/data/reference/images/)
// For each image: JPEG decode (jpeg-js), then
//   tiny: tiny face detector (input 416, threshold 0.5) + 68 landmarks
//         (full net) + 128-D descriptors, as ir-classify does by default;
//   ssd:  SSD MobileNet v1 (minConfidence 0.5) + 68 landmarks + descriptors.
// Each pipeline runs once untimed (warm-up: wasm kernels, weights upload),
// then BENCH_REPS times (default 3; 1 with BENCH_QUICK=1); the median is
// printed. Times start from the decoded RGB tensor (decode is shown apart).
// One thread: tfjs-wasm has no multithreading in node.
// Also writes bench/out/faceapi-speed.json.
'use strict';
const fs = require('fs');
const path = require('path');
const L = require('./faceapi-lib.cjs');

const top = path.join(__dirname, '..');
const reps = Number(process.env.BENCH_REPS || (process.env.BENCH_QUICK === '1' ? 1 : 3));
let imgs = process.argv.slice(2);
if (!imgs.length) {
  const d = path.join(top, 'tests/data/reference/images');
  imgs = fs.readdirSync(d).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(d, f));
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const ms = () => Number(process.hrtime.bigint()) / 1e6;

(async () => {
  const info = await L.init();
  console.log(`face-api ${info.versions.faceapi}, tfjs ${info.versions.tfjs}, backend ${info.backend} (SIMD ${info.simd}, threads ${info.threads}), median of ${reps}`);
  const rows = [];
  const pad = (s, n) => String(s).padStart(n);
  console.log(`${'image'.padEnd(14)} ${pad('size', 10)} ${pad('decode', 8)} ${pad('tiny', 5)} ${pad('tiny ms', 9)} ${pad('ssd', 4)} ${pad('ssd ms', 9)}`);
  for (const f of imgs) {
    let t0 = ms();
    const img = L.loadRGB(f);
    const decode = ms() - t0;
    const t = L.tensorOf(img);
    const r = { image: path.basename(f), width: img.width, height: img.height, decode_ms: decode };
    for (const det of ['tiny', 'ssd']) {
      const res = await L.describe(t, det, 416); // warm-up
      const times = [];
      for (let i = 0; i < reps; i++) {
        t0 = ms();
        await L.describe(t, det, 416);
        times.push(ms() - t0);
      }
      r[`${det}_faces`] = res.length;
      r[`${det}_ms`] = median(times);
    }
    t.dispose();
    rows.push(r);
    console.log(`${r.image.padEnd(14)} ${pad(`${r.width}x${r.height}`, 10)} ${pad(r.decode_ms.toFixed(0), 8)} ${pad(r.tiny_faces, 5)} ${pad(r.tiny_ms.toFixed(1), 9)} ${pad(r.ssd_faces, 4)} ${pad(r.ssd_ms.toFixed(1), 9)}`);
  }
  const mean = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
  console.log(`${'mean'.padEnd(14)} ${pad('', 10)} ${pad(mean('decode_ms').toFixed(0), 8)} ${pad('', 5)} ${pad(mean('tiny_ms').toFixed(1), 9)} ${pad('', 4)} ${pad(mean('ssd_ms').toFixed(1), 9)}`);
  fs.mkdirSync(path.join(top, 'bench/out'), { recursive: true });
  fs.writeFileSync(path.join(top, 'bench/out/faceapi-speed.json'),
    JSON.stringify({ ...info, reps, images: rows, mean_ms: { tiny: mean('tiny_ms'), ssd: mean('ssd_ms') } }, null, 1) + '\n');
})().catch((e) => { console.error(`faceapi-speed: ${e.message}`); process.exit(2); });
