// faceapi-lfw.cjs: face-api's own face verification accuracy on LFW View 1's
// 1000 test pairs (pairsDevTest.txt: 500 same-person, 500 different), the
// peer of ir's accuracy benchmark.
//
// usage: node bench/faceapi-lfw.cjs [OUT.json]   (default bench/faceapi-lfw-result.json)
// env:   IR_LFW_DIR  the LFW View 1 test folder (pairsDevTest.txt and
//                    NAME/NAME_NNNN.jpg); default ../shared/data/lfw-view1-devtest
//                    beside this checkout. The images are news photographs
//                    under their owners' copyright: they are not in the repo.
//        DETECTORS   comma list of tiny,ssd (default both)
//
// Per image (250x250 deep-funneled JPEG, decoded with jpeg-js), for each
// detector: detectAllFaces + 68 landmarks (full net) + descriptor, the same
// options as ir-classify's defaults: tiny face detector input 416 threshold
// 0.5 (and SSD MobileNet v1 minConfidence 0.5). When several faces are found
// the largest box is used (ir orders faces largest first). A pair is "same
// person" when the Euclidean distance of the two descriptors is < 0.6 (strict,
// face-api's threshold). A pair with an image where no face was found counts
// as an error (a wrong answer) and is listed. Also reported: the threshold
// that maximises accuracy on these same 1000 pairs (optimistic: tuned on the
// test pairs themselves) and the accuracy over the pairs with both faces.
'use strict';
const fs = require('fs');
const path = require('path');
const L = require('./faceapi-lib.cjs');

const top = path.join(__dirname, '..');
const dir = process.env.IR_LFW_DIR || path.join(top, '..', 'shared', 'data', 'lfw-view1-devtest');
const outFile = process.argv[2] || path.join(__dirname, 'faceapi-lfw-result.json');
const dets = (process.env.DETECTORS || 'tiny,ssd').split(',');

function readPairs() {
  const f = path.join(dir, 'pairsDevTest.txt');
  if (!fs.existsSync(f)) {
    console.error(`faceapi-lfw: ${f}: not found (set IR_LFW_DIR)`);
    process.exit(2);
  }
  const lines = fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim());
  const n = Number(lines[0]);
  const img = (name, i) => `${name}/${name}_${String(i).padStart(4, '0')}.jpg`;
  const pairs = lines.slice(1).map((l) => {
    const p = l.trim().split(/\s+/);
    if (p.length === 3) return { a: img(p[0], p[1]), b: img(p[0], p[2]), same: true };
    if (p.length === 4) return { a: img(p[0], p[1]), b: img(p[2], p[3]), same: false };
    throw new Error(`pairsDevTest.txt: bad line: ${l}`);
  });
  if (pairs.length !== 2 * n) throw new Error(`pairsDevTest.txt: ${pairs.length} pairs, expected ${2 * n}`);
  return pairs;
}

const dist = (x, y) => { let s = 0; for (let i = 0; i < x.length; i++) { const d = x[i] - y[i]; s += d * d; } return Math.sqrt(s); };

// Accuracy at threshold th: distances of pairs with both faces; a pair
// without a face is always wrong.
function accuracy(pairs, th) {
  let ok = 0;
  for (const p of pairs) if (p.d !== null && ((p.d < th) === p.same)) ok++;
  return ok / pairs.length;
}

function bestThreshold(pairs) {
  const ds = pairs.filter((p) => p.d !== null).map((p) => p.d).sort((a, b) => a - b);
  let best = { threshold: 0.6, accuracy: accuracy(pairs, 0.6) };
  for (let i = 0; i + 1 < ds.length; i++) {
    const th = (ds[i] + ds[i + 1]) / 2;
    const a = accuracy(pairs, th);
    if (a > best.accuracy) best = { threshold: th, accuracy: a };
  }
  return best;
}

(async () => {
  const pairs = readPairs();
  const info = await L.init();
  const images = [...new Set(pairs.flatMap((p) => [p.a, p.b]))].sort();
  const desc = {};
  for (const d of dets) desc[d] = {};
  const t0 = Date.now();
  const timeMs = {};
  for (const d of dets) timeMs[d] = 0;
  const faces = {};
  for (const d of dets) faces[d] = { none: [], multi: 0 };
  let k = 0;
  for (const im of images) {
    const img = L.loadRGB(path.join(dir, im));
    const t = L.tensorOf(img);
    for (const d of dets) {
      const s = Date.now();
      const res = await L.describe(t, d, 416, false);
      timeMs[d] += Date.now() - s;
      if (!res.length) { faces[d].none.push(im); desc[d][im] = null; continue; }
      if (res.length > 1) faces[d].multi++;
      const area = (r) => r.detection.box.width * r.detection.box.height;
      const big = res.reduce((a, b) => (area(b) > area(a) ? b : a));
      desc[d][im] = Array.from(big.descriptor);
    }
    t.dispose();
    if (++k % 100 === 0) console.error(`faceapi-lfw: ${k}/${images.length} images, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const result = {
    what: "face-api's verification accuracy on LFW View 1 test pairs (pairsDevTest.txt)",
    command: 'scripts/install-deps bench && node bench/faceapi-lfw.cjs   (IR_LFW_DIR=... for the data)',
    date: new Date().toISOString().slice(0, 10),
    versions: info.versions,
    backend: info.backend,
    data: 'LFW deep-funneled, View 1 test split: 500 matched + 500 mismatched pairs, 1549 images',
    rule: 'same person when Euclidean distance < 0.6; a pair with an image without a face counts as wrong; largest face per image',
    images: images.length,
    detectors: {},
  };
  for (const d of dets) {
    const ps = pairs.map((p) => {
      const x = desc[d][p.a], y = desc[d][p.b];
      return { ...p, d: x && y ? dist(x, y) : null };
    });
    const noFacePairs = ps.filter((p) => p.d === null).length;
    const valid = ps.filter((p) => p.d !== null);
    const correct = ps.filter((p) => p.d !== null && ((p.d < 0.6) === p.same)).length;
    const best = bestThreshold(ps);
    result.detectors[d] = {
      options: d === 'tiny'
        ? 'TinyFaceDetectorOptions({inputSize: 416, scoreThreshold: 0.5}) + faceLandmark68Net + faceRecognitionNet'
        : 'SsdMobilenetv1Options({minConfidence: 0.5, maxResults: 100}) + faceLandmark68Net + faceRecognitionNet',
      pairs: ps.length,
      correct_at_0_6: correct,
      accuracy_at_0_6: correct / ps.length,
      pairs_without_face: noFacePairs,
      accuracy_at_0_6_pairs_with_faces: valid.length ? valid.filter((p) => (p.d < 0.6) === p.same).length / valid.length : null,
      false_accepts_at_0_6: ps.filter((p) => p.d !== null && p.d < 0.6 && !p.same).length,
      false_rejects_at_0_6: ps.filter((p) => p.d !== null && p.d >= 0.6 && p.same).length,
      best_threshold: Number(best.threshold.toFixed(4)),
      accuracy_at_best_threshold: best.accuracy,
      images_without_face: faces[d].none,
      images_with_several_faces: faces[d].multi,
      ms_per_image: timeMs[d] / images.length,
      distances: ps.map((p) => (p.d === null ? null : Number(p.d.toFixed(6)))),
    };
    console.log(`${d}: accuracy ${(100 * correct / ps.length).toFixed(1)}% at 0.6 (${correct}/${ps.length}; ${noFacePairs} pairs without a face, ${faces[d].none.length} images without a face); best threshold ${best.threshold.toFixed(3)}: ${(100 * best.accuracy).toFixed(1)}%; ${(timeMs[d] / images.length).toFixed(0)} ms/image`);
  }
  fs.writeFileSync(outFile, JSON.stringify(result, null, 1) + '\n');
  console.error(`faceapi-lfw: wrote ${outFile}`);
})().catch((e) => { console.error(`faceapi-lfw: ${e.message}`); process.exit(2); });
