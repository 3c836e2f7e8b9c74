// Dark (night) or light (bright sun): the system's choice unless the user pressed "Bright
// light", which is remembered on this device.

const KEY = "festival-theme";
type Theme = "light" | "dark";

export function initTheme(toggles: HTMLButtonElement[]): void {
  const root = document.documentElement;
  const systemLight = window.matchMedia("(prefers-color-scheme: light)");
  const chosen = (): Theme | null => {
    const saved = localStorage.getItem(KEY);
    return saved === "light" || saved === "dark" ? saved : null;
  };
  const apply = () => {
    const theme: Theme = chosen() ?? (systemLight.matches ? "light" : "dark");
    root.dataset.theme = theme;
    for (const toggle of toggles) {
      toggle.setAttribute("aria-pressed", String(theme === "light"));
    }
  };
  for (const toggle of toggles) {
    toggle.addEventListener("click", () => {
      localStorage.setItem(KEY, root.dataset.theme === "light" ? "dark" : "light");
      apply();
    });
  }
  systemLight.addEventListener("change", apply);
  apply();
}
