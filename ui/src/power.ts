// The power mode: what the engine may spend now and why ("Relay only: battery 31 %,
// cellular"), shown in the status bar; what the mode limits, in the mesh and debug panels;
// and the person's own choice of mode (or auto), in the debug panel. The app decides the
// mode (src-tauri/src/power.rs); this only shows it and passes the choice on.

type Mode = "aggressive-p2p" | "selective-p2p" | "relay-only" | "minimal" | "offline";

interface Budget {
  auto_group: number;
  max_links: number;
  max_links_mobile: number;
  keepalive_ms: number;
  tick_ms: number;
  relay_may_sleep: boolean;
}

interface PowerView {
  mode: Mode;
  chosen: Mode | null;
  why: string;
  settling: boolean;
  budget: Budget;
}

/** What this module needs of `window.__TAURI__`. */
interface TauriApi {
  core: { invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(name: string, handler: (event: { payload: T }) => void): Promise<() => void> };
}

const LABELS: Record<Mode, string> = {
  "aggressive-p2p": "Aggressive P2P",
  "selective-p2p": "Selective P2P",
  "relay-only": "Relay only",
  minimal: "Minimal",
  offline: "Offline",
};

/** "Relay only: battery 31 %, cellular", and whose choice it is. */
export function powerLine(view: PowerView): string {
  const whose = view.chosen ? " (your choice)" : view.settling ? " (a better mode is settling)" : "";
  return `${LABELS[view.mode]}: ${view.why}${whose}`;
}

/** What the mode lets the engine spend, in a sentence. */
export function powerLimits(view: PowerView): string {
  const b = view.budget;
  const links =
    b.max_links === 0
      ? "no direct links"
      : `direct links: up to ${b.max_links} (${b.max_links_mobile} on a phone), ` +
        (b.auto_group > 0 ? `by themselves in rooms of up to ${b.auto_group}` : "only when asked (Upgrade to P2P)");
  const ping = `relay pinged every ${b.keepalive_ms / 1000} s${b.relay_may_sleep ? " of silence" : ""}`;
  return `${LABELS[view.mode]}: ${links}; ${ping}; bookkeeping every ${b.tick_ms / 1000} s.`;
}

function render(view: PowerView | null): void {
  const line = view ? powerLine(view) : "";
  const limits = view ? powerLimits(view) : "Power mode unknown: the engine's defaults apply.";
  document.getElementById("power-label")!.textContent = line;
  document.getElementById("power-limits")!.textContent = limits;
  document.getElementById("mesh-power-limits")!.textContent = limits;
  const chosen = view?.chosen ?? "auto";
  for (const radio of document.querySelectorAll<HTMLInputElement>("#power-choice input")) {
    radio.checked = radio.value === chosen;
  }
}

/** Shows the mode now and each change, and passes the person's choice on. */
export async function initPower(tauri: TauriApi, onError: (error: unknown) => void): Promise<void> {
  await tauri.event.listen<PowerView>("festival://power", (e) => render(e.payload));
  for (const radio of document.querySelectorAll<HTMLInputElement>("#power-choice input")) {
    radio.addEventListener("change", async () => {
      try {
        render(await tauri.core.invoke<PowerView | null>("set_power", { mode: radio.value }));
      } catch (error) {
        onError(error);
      }
    });
  }
  render(await tauri.core.invoke<PowerView | null>("power"));
}
