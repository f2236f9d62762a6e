// faceapi-course.cjs: face-api 1.7.15 itself on the course workload, for
// comparison with ir-classify (tests/classify.t). Enrolls
// examples/enroll/NAME/*.jpg (tiny face detector at ENROLL_SIZE, default
// 256 = what ir-classify's automatic size picks for 250x250 photos; full
// 68-point landmarks; descriptors), builds FaceMatcher(labeled, 0.6), and
// classifies the ten distinct 64x64 photos test_00..test_09 (tiny at
// TEST_SIZE, default 128), printing label and distance per photo.
// Pixels come from the pure-JS jpeg-js decoder (common.cjs), as in
// ../shared/reference.
// usage: NODE_PATH=bench/node/node_modules node tests/tools/faceapi-course.cjs
// (after scripts/install-deps bench). Result on 2026-11-25: 6/10 photos
// right at 256/128 (test_00, test_01, test_04 unknown at 0.641, 0.601,
// 0.695; test_05 no face), 2/10 at face-api's default 416/416.
const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { loadRGB } = require(path.join(__dirname, 'common.cjs'));
const tf = faceapi.tf;
const MODEL = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
const top = path.join(__dirname, '..', '..');
async function faces(file, size) {
  const img = loadRGB(file);
  const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  const r = await faceapi.detectAllFaces(t, new faceapi.TinyFaceDetectorOptions({ inputSize: size, scoreThreshold: 0.5 }))
    .withFaceLandmarks().withFaceDescriptors();
  t.dispose();
  return r;
}
(async () => {
  await tf.setBackend('cpu'); await tf.ready();
  for (const n of ['tinyFaceDetector', 'faceLandmark68Net', 'faceRecognitionNet']) await faceapi.nets[n].loadFromDisk(MODEL);
  const es = Number(process.env.ENROLL_SIZE || 256), ts = Number(process.env.TEST_SIZE || 128);
  const labeled = [];
  for (const name of fs.readdirSync(`${top}/examples/enroll`).sort()) {
    const ds = [];
    for (const f of fs.readdirSync(`${top}/examples/enroll/${name}`).sort()) {
      const r = await faces(`${top}/examples/enroll/${name}/${f}`, es);
      if (r.length !== 1) { console.log('enroll', name, f, r.length, 'faces'); continue; }
      ds.push(r[0].descriptor);
    }
    if (ds.length) labeled.push(new faceapi.LabeledFaceDescriptors(name, ds));
  }
  const m = new faceapi.FaceMatcher(labeled, 0.6);
  const want = fs.readFileSync(`${top}/tests/data/cse546/labels_100.csv`, 'utf8').trim().split('\n').slice(1).map((l) => l.trim().split(','));
  let right = 0;
  for (let i = 0; i < 10; i++) {
    const [img, label] = want[i];
    const r = await faces(`${top}/tests/data/cse546/face_images_100/${img}.jpg`, ts);
    const best = r.length ? m.findBestMatch(r[0].descriptor) : null;
    const got = best ? best.label : 'noface';
    if (got === label) right++;
    console.log(img, label, got, best ? best.distance.toFixed(3) : '');
  }
  console.log(`face-api: ${right}/10 distinct photos right (tiny enroll ${es}, test ${ts})`);
})();
