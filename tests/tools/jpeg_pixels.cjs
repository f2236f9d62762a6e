// Writes the pixels jpeg-js 0.4.4 (face-api's reference decoder, pinned in
// tests/node/package.json) decodes from each JPEG as a binary PPM (P6):
// next to the JPEG, or into $OUT if set. With -n, jpeg-js's colorTransform
// is off, so a 3-component RGB JPEG comes out as stored instead of being
// taken for YCbCr. Used by tests/data/jpeg/make-files and tests/unit/image.c.
// usage: NODE_PATH=tests/node/node_modules node jpeg_pixels.cjs [-n] F.jpg...
const fs = require('fs'), path = require('path');
const jpeg = require('jpeg-js');
let args = process.argv.slice(2), opts = { useTArray: true, formatAsRGBA: false };
if (args[0] === '-n') { opts.colorTransform = false; args = args.slice(1); }
for (const f of args) {
  const im = jpeg.decode(fs.readFileSync(f), opts);
  const out = path.join(process.env.OUT || path.dirname(f),
    path.basename(f).replace(/\.jpe?g$/i, '') + '.ppm');
  fs.writeFileSync(out, Buffer.concat([
    Buffer.from(`P6\n${im.width} ${im.height}\n255\n`), Buffer.from(im.data)]));
}
