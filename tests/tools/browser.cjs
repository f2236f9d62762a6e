// browser.cjs: drives ir-serve's upload page in headless Chromium
// (playwright-core, pinned in tests/node/package.json; the browser is
// Debian's /usr/bin/chromium). Opens URL, picks the images given, waits
// until every card has its answer, and prints one TAP-free line per image
// for browser.t to check:
//   FILE<TAB>who-text<TAB>faces-text<TAB>changed-pixels<TAB>label
// where changed-pixels counts the canvas pixels that differ from the
// image drawn alone (the face boxes and name tags). Keeps a screenshot.
// usage: node browser.cjs URL SCREENSHOT IMAGE...
const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "node", "node_modules", "playwright-core"));

(async () => {
  const [url, shot, ...images] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    await page.goto(url);
    await page.setInputFiles("#pick", images);
    await page.waitForFunction(n =>
      document.querySelectorAll(".card").length === n &&
      document.querySelectorAll(".card.pending").length === 0, images.length,
      { timeout: 60000 });
    const rows = await page.evaluate(async () => {
      const out = [];
      for (const card of document.querySelectorAll(".card")) {
        const canvas = card.querySelector("canvas");
        let changed = -1;
        if (canvas) {
          // Redraw the uploaded image alone and count differing pixels.
          const a = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          const img = card.__img;
          if (img) {
            const c2 = document.createElement("canvas");
            c2.width = canvas.width; c2.height = canvas.height;
            const ctx = c2.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const b = ctx.getImageData(0, 0, c2.width, c2.height).data;
            changed = 0;
            for (let i = 0; i < a.length; i += 4)
              if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) changed++;
          }
        }
        out.push([card.querySelector(".file").textContent,
          card.querySelector(".who").textContent,
          card.querySelector(".faces").textContent, changed, card.dataset.label].join("\t"));
      }
      return out;
    });
    await page.screenshot({ path: shot, fullPage: true });
    for (const r of rows) console.log(r);
    for (const e of errors) console.log("pageerror\t" + e);
  } finally {
    await browser.close();
  }
})().catch(e => { console.error("browser.cjs: " + e.message); process.exit(1); });
