// A member's details, opened from the members list: their key's fingerprint, the safety
// number to compare with them in person (twelve groups of five digits, and its QR code for
// the other phone to scan), "Mark as verified" once compared, and for the owner of a private
// room, "Remove from private room". What is shown is the engine's (`whois`, `verify`,
// `remove_member`); the page only lays it out.

import { showError } from "./errors.js";
import { verifiedMark } from "./marks.js";

/** Where a member's key stands with this device (the engine's `KeyStatus`). */
type KeyStatus = "new" | "known" | "verified" | "changed";

/** What src-tauri/src/trust.rs `WhoisView` sends. */
interface Whois {
  device: string;
  name: string;
  fingerprint: string;
  safety_number: string;
  safety_groups: string[];
  qr: string;
  status: KeyStatus;
  removable: boolean;
}

const STATUS: Record<KeyStatus, string> = {
  new: "Not compared yet.",
  known: "The key you talked with before, not compared yet.",
  verified: "Verified in person.",
  changed: "Not the key you knew under this name: compare before trusting.",
};

type Invoke = <T>(command: string, args?: Record<string, unknown>) => Promise<T>;

function $(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element;
}

/** The details panel; `changed(room)` is called after a verify or a removal, so that the
 * room's names and messages are drawn again with their marks. */
export class MemberDetails {
  private room = "";
  private shown: Whois | null = null;

  constructor(
    private readonly invoke: Invoke,
    private readonly changed: (room: string) => void,
  ) {
    $("verify").addEventListener("click", () => void this.verify());
    $("remove-member").addEventListener("click", () => this.askRemove());
    $("remove-yes").addEventListener("click", () => void this.remove());
    $("remove-no").addEventListener("click", () => this.cancelRemove());
  }

  /** The name of the member shown. */
  shownName(): string | null {
    return this.shown?.name ?? null;
  }

  /** Shows the member of `room` shown as `name`; false (and the error said) if it failed. */
  async open(room: string, name: string): Promise<boolean> {
    this.room = room;
    showError($("member-error"), "");
    $("member-result").textContent = "";
    try {
      const whois = await this.invoke<Whois>("whois", { room, name });
      await this.render(whois);
      return true;
    } catch (error) {
      showError($("chat-error"), error);
      return false;
    }
  }

  private async render(whois: Whois): Promise<void> {
    this.shown = whois;
    $("member-panel").setAttribute("aria-label", `Details of ${whois.name}`);
    const title = $("member-title");
    const name = document.createElement("bdi");
    name.textContent = whois.name;
    title.replaceChildren(name);
    if (whois.status === "verified") title.append(" ", verifiedMark());
    $("member-status").textContent = STATUS[whois.status];
    $("member-fingerprint").textContent = whois.fingerprint;
    $("safety-number").replaceChildren(
      ...whois.safety_groups.map((group) => {
        const item = document.createElement("li");
        item.textContent = group;
        return item;
      }),
    );
    $("safety-hint").textContent =
      `Compare these 60 digits with ${whois.name}'s phone in person (or let it scan the code): they are the same on both phones when the keys are yours and theirs.`;
    $("member-qr").innerHTML = await this.invoke<string>("qr_svg", { text: whois.qr });
    $("verify").hidden = whois.status === "verified";
    $("remove-member").hidden = !whois.removable;
    $("remove-confirm").hidden = true;
  }

  private async verify(): Promise<void> {
    const name = this.shown?.name;
    if (!name) return;
    try {
      showError($("member-error"), "");
      await this.render(await this.invoke<Whois>("verify", { room: this.room, name }));
      $("member-result").textContent = `${name} is marked verified while this key is theirs.`;
      // The button pressed is gone: focus stays in the details, not lost on the page.
      $("member-panel").focus();
      this.changed(this.room);
    } catch (error) {
      showError($("member-error"), error);
    }
  }

  /** A removal cannot be undone (the room moves to a new key): asked once more first. */
  private askRemove(): void {
    const name = this.shown?.name;
    if (!name) return;
    $("remove-question").textContent =
      `Remove ${name}? The room gets a new key that ${name} does not get: they keep what they have read, and read nothing new. Only a new invite lets them back.`;
    $("remove-yes").textContent = `Remove ${name}`;
    $("remove-member").hidden = true;
    $("remove-confirm").hidden = false;
    $("remove-no").focus();
  }

  private cancelRemove(): void {
    $("remove-confirm").hidden = true;
    $("remove-member").hidden = false;
    $("remove-member").focus();
  }

  private async remove(): Promise<void> {
    const name = this.shown?.name;
    if (!name) return;
    try {
      showError($("member-error"), "");
      await this.invoke<number>("remove_member", { room: this.room, name });
      $("remove-confirm").hidden = true;
      $("member-result").textContent =
        `${name} was removed: the room has a new key, which ${name} does not get.`;
      $("member-panel").focus();
      this.changed(this.room);
    } catch (error) {
      showError($("member-error"), error);
    }
  }
}
