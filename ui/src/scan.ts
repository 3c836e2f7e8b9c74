// The phone's QR scanner for invites: a "Scan QR code" button beside the invite field, shown
// only where the app says the device scans (a phone, where the barcode-scanner plugin is
// registered). What the camera reads goes into the field and on to the same handling as a
// pasted link (the app's invite parser); nothing is trusted because it came from a code.

/** Longest text taken from a code, in bytes: the app's invite parser takes no longer link
 * (festival_proto's `Invite::MAX_LINK_BYTES`), so a longer one is not sent on to it. */
export const MAX_SCANNED_BYTES = 1024;

type CameraPermission = "granted" | "denied" | "prompt" | "prompt-with-rationale";

/** The barcode-scanner plugin's JavaScript API (`@tauri-apps/plugin-barcode-scanner`), which
 * Tauri puts on `window.__TAURI__` on a phone. */
export interface BarcodeScanner {
  scan(options: { formats: string[] }): Promise<{ content: string }>;
  checkPermissions(): Promise<CameraPermission>;
  requestPermissions(): Promise<CameraPermission>;
}

/** What this module needs of `window.__TAURI__`. */
interface TauriApi {
  core: { invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> };
  barcodeScanner?: BarcodeScanner;
}

/** The text of a scanned code to open as an invite, or what to tell the person instead. */
export function scannedLink(content: string): { link: string } | { problem: string } {
  const link = content.trim();
  if (new TextEncoder().encode(link).length > MAX_SCANNED_BYTES) {
    return { problem: "That QR code holds too much to be an invite." };
  }
  if (!link) return { problem: "That QR code is empty." };
  return { link };
}

/** Shows the scan button on a phone; a scan fills `field` and opens what it read with
 * `open` (the invite field's own handling). `say` shows a problem, or clears it with "". */
export async function initScanner(
  tauri: TauriApi,
  button: HTMLButtonElement,
  field: HTMLInputElement,
  open: (link: string) => Promise<void>,
  say: (problem: unknown) => void,
): Promise<void> {
  if (!(await tauri.core.invoke<boolean>("can_scan"))) return;
  const scanner = tauri.barcodeScanner;
  if (!scanner) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      say("");
      let camera = await scanner.checkPermissions();
      if (camera !== "granted") camera = await scanner.requestPermissions();
      if (camera !== "granted") {
        say("Scanning needs the camera: allow it for Festival Chat in the phone's settings.");
        return;
      }
      const read = scannedLink((await scanner.scan({ formats: ["QR_CODE"] })).content);
      if ("problem" in read) {
        say(read.problem);
        return;
      }
      field.value = read.link;
      await open(read.link);
    } catch (error) {
      say(error);
    }
  });
}
