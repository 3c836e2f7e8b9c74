// The room lists: the rooms joined (the switcher, with unread counts and the last message),
// the relay's public rooms with their live counts, and the recent ones. Each entry is one
// button, joinable in one tap; its accessible name is what it shows.

import { lockIcon } from "./marks.js";

/** One joined room as the lists show it. */
export interface RoomEntry {
  room: string;
  favourite: boolean;
  muted: boolean;
  unread: number;
  /** "Bob: see you at the bar", or null for a room with no message yet. */
  last: string | null;
  /** Private here: its messages sealed with a key only its invite carries. */
  private: boolean;
}

function span(className: string, text: string): HTMLSpanElement {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

/** Appends `parts` to `button`, a space between each, so that the button's accessible name
 * reads as words ("Main Stage 2 unread"), not run together. */
function appendWords(button: HTMLButtonElement, ...parts: HTMLElement[]): void {
  for (const part of parts) button.append(" ", part);
}

function roomButton(room: string, open: (room: string) => void): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.room = room;
  const name = document.createElement("bdi");
  name.className = "room-name";
  name.textContent = room;
  button.append(name);
  button.addEventListener("click", () => open(room));
  return button;
}

/** Renders the joined rooms into `list`: favourites marked with a star (and the word), the
 * room on screen marked current, unread counts in words. */
export function renderJoined(
  list: HTMLElement,
  rooms: RoomEntry[],
  current: string | null,
  open: (room: string) => void,
): void {
  list.replaceChildren(
    ...rooms.map((entry) => {
      const item = document.createElement("li");
      const button = roomButton(entry.room, open);
      if (entry.room === current) button.setAttribute("aria-current", "true");
      if (entry.favourite) {
        const star = span("count", "★");
        star.setAttribute("aria-hidden", "true");
        button.prepend(star, " ");
        appendWords(button, span("visually-hidden", "favourite"));
      }
      if (entry.private) button.querySelector(".room-name")?.after(" ", lockIcon());
      if (entry.muted) appendWords(button, span("count", "muted"));
      if (entry.unread > 0) appendWords(button, span("unread", `${entry.unread} unread`));
      if (entry.last) {
        const last = span("last", entry.last);
        last.dir = "auto";
        appendWords(button, last);
      }
      item.append(button);
      return item;
    }),
  );
}

/** Renders rooms with an optional member count ("3 online") into `list`. */
export function renderPlain(
  list: HTMLElement,
  rooms: { room: string; online?: number }[],
  open: (room: string) => void,
): void {
  list.replaceChildren(
    ...rooms.map(({ room, online }) => {
      const item = document.createElement("li");
      const button = roomButton(room, open);
      if (online !== undefined) appendWords(button, span("count", `${online} online`));
      item.append(button);
      return item;
    }),
  );
}
