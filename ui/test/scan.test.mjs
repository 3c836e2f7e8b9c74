// The phone's QR scanner flow (ui/src/scan.ts, as compiled to dist/) in Node, with the
// plugin, the app's command and the two controls stood in for: the button shows only where
// the app says the device scans, a scan goes to the invite handling, and what a code holds is
// bounded before anything is sent on. Run by `npm --prefix ui test` after a build.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_SCANNED_BYTES, initScanner, scannedLink } from "../dist/scan.js";

/** A button that keeps its click handler, and a field. */
function controls() {
  const button = {
    hidden: true,
    addEventListener(type, handler) {
      assert.equal(type, "click");
      this.click = handler;
    },
  };
  return { button, field: { value: "" } };
}

/** The app's side: `can_scan` answers `scans`; the plugin's camera answers `camera` and
 * reads `content`. */
function tauri({ scans, camera = "granted", content = "" }) {
  return {
    core: {
      async invoke(command) {
        assert.equal(command, "can_scan");
        return scans;
      },
    },
    barcodeScanner: {
      async checkPermissions() {
        return camera === "granted" ? "granted" : "prompt";
      },
      async requestPermissions() {
        return camera;
      },
      async scan(options) {
        assert.deepEqual(options.formats, ["QR_CODE"]);
        return { content };
      },
    },
  };
}

/** Runs the flow once: what was opened and what was said. */
async function scanOnce(app) {
  const { button, field } = controls();
  const opened = [];
  const said = [];
  await initScanner(app, button, field, async (link) => void opened.push(link), (p) => void said.push(p));
  if (!button.hidden) await button.click();
  return { button, field, opened, said: said.filter((p) => p !== "") };
}

test("no scan button where the app says the device does not scan (a desktop)", async () => {
  const { button, opened } = await scanOnce(tauri({ scans: false }));
  assert.equal(button.hidden, true);
  assert.deepEqual(opened, []);
});

test("a scanned invite goes into the field and on to the invite handling", async () => {
  const link = "festival://join?room=main-stage";
  const { button, field, opened, said } = await scanOnce(tauri({ scans: true, content: ` ${link}\n` }));
  assert.equal(button.hidden, false);
  assert.equal(field.value, link);
  assert.deepEqual(opened, [link]);
  assert.deepEqual(said, []);
});

test("a code holding more than an invite can is refused before anything is sent on", async () => {
  const long = `festival://join?room=${"é".repeat(MAX_SCANNED_BYTES)}`;
  const { field, opened, said } = await scanOnce(tauri({ scans: true, content: long }));
  assert.deepEqual(opened, []);
  assert.equal(field.value, "");
  assert.equal(said.length, 1);
  assert.deepEqual(scannedLink("a".repeat(MAX_SCANNED_BYTES)), { link: "a".repeat(MAX_SCANNED_BYTES) });
  assert.ok("problem" in scannedLink("é".repeat(MAX_SCANNED_BYTES / 2 + 1)), "bytes, not characters");
});

test("without the camera nothing is scanned, and the person is told how to allow it", async () => {
  const { opened, said } = await scanOnce(tauri({ scans: true, camera: "denied", content: "festival://join?room=x" }));
  assert.deepEqual(opened, []);
  assert.match(String(said[0]), /camera/);
});
