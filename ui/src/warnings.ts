// Key-change warnings: "Bob's key changed: verify again", kept per room until the person
// verifies Bob again or puts the warning away, shown in the room they are about, and said to a
// screen reader when they come.

/** What a warning's buttons do. */
export interface WarningActions {
  /** Opens the member's details (to compare and verify again). */
  check(name: string): void;
  /** The warning was put away: where focus goes next. */
  dismissed(): void;
}

/** The sentence of a warning about `name`. */
export function keyWarning(name: string): string {
  return `${name}'s key changed: verify again`;
}

export class KeyWarnings {
  private readonly names = new Map<string, Set<string>>();
  private shown: string | null = null;

  /** `list` is the room's warning list, hidden while it has none. */
  constructor(
    private readonly list: HTMLElement,
    private readonly actions: WarningActions,
  ) {}

  /** Another key showed under `name` in `room`. */
  add(room: string, name: string): void {
    const names = this.names.get(room) ?? new Set<string>();
    names.add(name);
    this.names.set(room, names);
    if (room === this.shown) this.show(room);
  }

  /** `name` in `room` was verified again, or the warning put away. */
  forget(room: string, name: string): void {
    this.names.get(room)?.delete(name);
    if (room === this.shown) this.show(room);
  }

  /** Shows the warnings of `room` (the room on screen), or none. */
  show(room: string | null): void {
    this.shown = room;
    const names = (room && this.names.get(room)) || new Set<string>();
    this.list.hidden = names.size === 0;
    this.list.replaceChildren(
      ...[...names].map((name) => {
        const item = document.createElement("li");
        item.className = "banner warning";
        const text = document.createElement("span");
        text.textContent = keyWarning(name);
        const check = document.createElement("button");
        check.type = "button";
        check.textContent = `Check ${name}`;
        check.addEventListener("click", () => this.actions.check(name));
        const dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.textContent = "Dismiss";
        dismiss.setAttribute("aria-label", `Dismiss the warning about ${name}`);
        dismiss.addEventListener("click", () => {
          if (room) this.forget(room, name);
          this.actions.dismissed();
        });
        item.append(text, check, dismiss);
        return item;
      }),
    );
  }
}
