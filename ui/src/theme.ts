// Dark (night) or light (bright sun): the system's choice unless the user pressed "Bright
// light", which is remembered on this device.

const KEY = "festival-theme";
type Theme = "light" | "dark";

export function initTheme(toggles: HTMLButtonElement[]): void {
  const root = document.documentElement;
  const saved = localStorage.getItem(KEY);
  if (saved === "light" || saved === "dark") root.dataset.theme = saved;
  const systemLight = window.matchMedia("(prefers-color-scheme: light)");
  const current = (): Theme =>
    root.dataset.theme === "light" || root.dataset.theme === "dark"
      ? root.dataset.theme
      : systemLight.matches
        ? "light"
        : "dark";
  const sync = () => {
    for (const toggle of toggles) {
      toggle.setAttribute("aria-pressed", String(current() === "light"));
    }
  };
  for (const toggle of toggles) {
    toggle.addEventListener("click", () => {
      const next: Theme = current() === "light" ? "dark" : "light";
      root.dataset.theme = next;
      localStorage.setItem(KEY, next);
      sync();
    });
  }
  systemLight.addEventListener("change", sync);
  sync();
}
