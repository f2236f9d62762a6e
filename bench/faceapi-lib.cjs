// faceapi-lib.cjs: shared set-up of the face-api peer for bench/faceapi-*.cjs.
// face-api 1.7.15 on tfjs 4.22 with the WebAssembly backend, from the pinned
// packages in bench/node/ (scripts/install-deps bench installs them).
// JPEG decoding with the pure-JS jpeg-js, as in the oracle runner
// /work/shared/reference/tools/common.cjs (loadRGB copied from there, same
// project), so face-api sees exactly the oracle's pixels.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const nodeDir = path.join(__dirname, 'node');
const req = createRequire(path.join(nodeDir, 'package.json'));

function need(mod) {
  try { return req(mod); } catch (e) {
    console.error(`faceapi: cannot load ${mod} from ${nodeDir} (run scripts/install-deps bench): ${e.message}`);
    process.exit(2);
  }
}
const jpeg = need('jpeg-js');
const faceapi = need('@vladmandic/face-api/dist/face-api.node-wasm.js');
const wasm = need('@tensorflow/tfjs-backend-wasm');
const tf = faceapi.tf;
const MODEL = path.join(path.dirname(req.resolve('@vladmandic/face-api/package.json')), 'model');

// {width, height, data: Uint8Array RGB}
function loadRGB(file) {
  const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false });
  return { width: img.width, height: img.height, data: img.data };
}

async function init() {
  const dist = path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  wasm.setWasmPaths(dist);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend unavailable');
  await tf.ready();
  for (const n of ['ssdMobilenetv1', 'tinyFaceDetector', 'faceLandmark68Net', 'faceLandmark68TinyNet', 'faceRecognitionNet']) {
    await faceapi.nets[n].loadFromDisk(MODEL);
  }
  const env = tf.env();
  return {
    backend: tf.getBackend(),
    simd: await env.getAsync('WASM_HAS_SIMD_SUPPORT'),
    threads: await env.getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    versions: { faceapi: faceapi.version, tfjs: tf.version.tfjs },
  };
}

// One image through detector + 68 landmarks + descriptors.
// det: 'tiny' (inputSize size, threshold 0.5) or 'ssd' (minConfidence 0.5).
async function describe(t, det, size, tinyLandmarks) {
  const opts = det === 'ssd'
    ? new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 })
    : new faceapi.TinyFaceDetectorOptions({ inputSize: size || 416, scoreThreshold: 0.5 });
  return faceapi.detectAllFaces(t, opts).withFaceLandmarks(!!tinyLandmarks).withFaceDescriptors();
}

function tensorOf(img) {
  return tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
}

module.exports = { faceapi, tf, loadRGB, init, describe, tensorOf };
