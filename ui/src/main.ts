// The Festival Chat UI: renders what the engine reports and calls its commands. It decides
// nothing itself: routes, retries, storage and delivery are the engine's.

import { Announcer } from "./announcer.js";
import { isAppError, showError as showIn } from "./errors.js";
import { type RoomEntry, renderJoined, renderPlain } from "./rooms.js";
import { initPower } from "./power.js";
import { type BarcodeScanner, initScanner } from "./scan.js";
import { initTheme } from "./theme.js";
import { Timeline } from "./timeline.js";
import { lockIcon, verifiedMark } from "./marks.js";
import { MemberDetails } from "./member.js";
import { KeyWarnings, keyWarning } from "./warnings.js";

type Route = "p2p" | "relay" | "poll";
type State = "queued" | "sent" | "failed" | "received";

/** A member as src-tauri sends it: `verified` when this device verified their key in
 * person under this name (the engine tells look-alike names apart; the page does not). */
interface Member {
  device: string;
  name: string;
  verified?: boolean;
}

interface ChatMessage {
  id: string;
  room: string;
  seq: number | null;
  sender: string;
  from: string;
  body: string;
  sent_at: number;
  stored_at: number | null;
  /** Sender verified in person, with this key under this name. */
  verified?: boolean;
  /** The engine's words for a sealed message shown instead of its text ("encrypted message
   * (no key for this room)"): it has no text to show. */
  notice?: string;
  /** Who could read it: `public` (the relay too), `private` (sealed, opened here), or a
   * sealed message shown by its notice. */
  privacy?: "public" | "private" | "no_key" | "unreadable" | "key_changed";
}

/** Whether the engine found the sender's signature: anything but verified is not shown as
 * that person's words. */
type Authenticity = "verified" | "unsigned" | "forged" | "announcement";

interface LocalMessage extends ChatMessage {
  route: Route | null;
  state: State;
  error?: string;
  authenticity?: Authenticity;
}

interface Profile {
  device: string;
  name: string;
  relay_url: string;
}

interface Settings {
  relay_url: string;
  source: "environment" | "saved" | "default";
}

interface RoomView {
  room: string;
  members: Member[];
  history: LocalMessage[];
  private: boolean;
}

interface RoomsView {
  current: string | null;
  joined: {
    room: string;
    favourite: boolean;
    muted: boolean;
    unread: number;
    last: LocalMessage | null;
    private: boolean;
  }[];
  recent: string[];
}

interface InviteLink {
  link: string;
  private: boolean;
}

interface PublicRoom {
  room: string;
  online: number;
}

interface InviteView {
  room: string;
  relay: string | null;
  other_relay: boolean;
  relay_fixed: boolean;
}

interface PeerDiagnostics {
  device: string;
  name: string | null;
  link: "requested" | "connecting" | "open" | null;
  ice: string | null;
  rtt_ms: number | null;
}

interface Stats {
  route: Route | null;
  rtt_ms: number | null;
  p2p_rtt_ms: number | null;
  queued: number;
}

interface Diagnostics {
  stats: Stats;
  peers: PeerDiagnostics[];
}

type EngineEvent =
  | { event: "connected"; name: string }
  | { event: "disconnected"; reason: string; retry_in_ms: number }
  | { event: "route_changed"; route: Route | null }
  | { event: "joined"; room: string; name: string; members: Member[] }
  | { event: "left"; room: string }
  | ({ event: "message"; route: Route; authenticity: Authenticity } & ChatMessage)
  | { event: "presence"; room: string; change: "joined" | "left"; member: Member; online: number }
  | { event: "peer"; device: string; open: boolean; reason?: string }
  | { event: "queued"; id: string; room: string }
  | { event: "acked"; id: string; room: string; seq: number }
  | { event: "failed"; id: string; room: string; reason: string }
  | { event: "error"; code: string; message: string }
  | { event: "storage_failed"; reason: string }
  | { event: "lagged"; missed: number; rooms: { room: string }[] }
  | { event: "key_changed"; room: string; name: string; device: string; was_verified: boolean };

interface Tauri {
  core: { invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(name: string, handler: (event: { payload: T }) => void): Promise<() => void> };
  /** On a phone only: the camera's QR scanner. */
  barcodeScanner?: BarcodeScanner;
}

declare global {
  interface Window {
    __TAURI__: Tauri;
  }
}

const tauri = window.__TAURI__;
const invoke = tauri.core.invoke;

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

/** What the screen shows; changed only by events and command results. */
const view = {
  me: null as Profile | null,
  room: null as string | null,
  members: new Map<string, Member>(),
  relayUp: false,
  route: null as Route | null,
  openLinks: new Set<string>(),
  /** The rooms joined, in the switcher's order, with what the lists show of each. */
  rooms: new Map<string, RoomEntry>(),
};

/** The room's messages, windowed; built in `main` once the page is there. */
let timeline: Timeline<LocalMessage>;
let announcer: Announcer;
let details: MemberDetails;
let warnings: KeyWarnings;

function showError(where: "join" | "chat", error: unknown): void {
  showIn($(`${where}-error`), error);
}

function clock(ms: number | null): string {
  if (!ms) return "";
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const STATE_MARK: Record<State, string> = { queued: "…", sent: "✓", failed: "✕", received: "" };
const ROUTE_TEXT: Record<Route, string> = { p2p: "via P2P", relay: "via relay", poll: "via polling" };

function badge(kind: string, mark: string, text: string): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = `badge ${kind}`;
  if (mark) {
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = `${mark} `;
    span.append(icon);
  }
  span.append(text);
  return span;
}

/** The relay sends the organisers' announcements under the nil device, which no member can
 * have: they are never shown as a member's message. */
const ANNOUNCER = "00000000-0000-0000-0000-000000000000";

/** One message: sender (isolated, for right-to-left names), time, and for one's own messages
 * the delivery state; the route it came by; the body in its own direction. An announcement
 * is marked as one, in words and in its own style. */
function renderMessage(message: LocalMessage): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  const mine = view.me?.device === message.sender;
  const announcement = message.sender === ANNOUNCER;
  if (mine) item.classList.add("mine");
  if (announcement) item.classList.add("announcement");
  const meta = document.createElement("p");
  meta.className = "meta";
  const from = document.createElement("strong");
  from.className = "from";
  const name = document.createElement("bdi");
  name.textContent = announcement ? "Announcement from the organisers" : message.from;
  from.append(name);
  if (message.verified && !announcement) from.append(" ", verifiedMark());
  if (mine) from.append(" (you)");
  const at = message.stored_at || message.sent_at;
  const time = document.createElement("time");
  time.dateTime = new Date(at).toISOString();
  time.textContent = clock(at);
  meta.append(from, time);
  if (mine) meta.append(badge(`state ${message.state}`, STATE_MARK[message.state], message.state));
  if (message.route) meta.append(badge(`route ${message.route}`, "", ROUTE_TEXT[message.route]));
  if (message.authenticity === "forged") {
    meta.append(badge("authenticity forged", "⚠", "forged: not from this sender"));
  } else if (message.authenticity === "unsigned") {
    meta.append(badge("authenticity unsigned", "?", "unsigned: sender not proven"));
  }
  // In a private room, words typed without its key went in the clear: the relay read them.
  if (!announcement && message.privacy === "public" && view.rooms.get(message.room)?.private) {
    meta.append(badge("privacy public", "!", "not sealed: the relay could read it"));
  }
  const body = document.createElement("p");
  body.className = "body";
  body.dir = "auto";
  if (message.notice) {
    // A sealed message with no text here: the engine's words for it, styled as a notice.
    body.classList.add("notice");
    body.textContent = message.notice;
  } else {
    body.textContent = message.body;
  }
  item.append(meta, body);
  return item;
}

/** What a message reads as in a list or an announcement: its text, or its notice. */
function said(message: ChatMessage): string {
  return message.notice ?? message.body;
}

function setState(id: string, state: State): void {
  const message = timeline.get(id);
  if (message && message.state !== "sent") timeline.upsert({ ...message, state });
}

/** The members list: each other member is a button that opens their details (safety
 * number, verify); a verified one carries the mark. */
function renderMembers(): void {
  $("online").textContent = String(view.members.size);
  const list = $("members");
  list.replaceChildren(
    ...[...view.members.values()].map((member) => {
      const item = document.createElement("li");
      const name = document.createElement("bdi");
      name.textContent = member.name;
      const mine = member.device === view.me?.device;
      const holder = mine ? document.createElement("span") : document.createElement("button");
      holder.append(name);
      if (member.verified) holder.append(" ", verifiedMark());
      if (mine) holder.append(" (you)");
      if (view.openLinks.has(member.device)) holder.append(" (direct)");
      if (holder instanceof HTMLButtonElement) {
        holder.type = "button";
        holder.addEventListener("click", () => void showMember(member.name));
      }
      item.append(holder);
      return item;
    }),
  );
}

/** Opens a member's details in place of the members list. */
async function showMember(name: string): Promise<void> {
  if (!view.room || !(await details.open(view.room, name))) return;
  toggle("");
  $("member-panel").hidden = false;
  $("member-panel").focus();
}

function renderStatus(stats?: Stats): void {
  const banner = $("offline");
  if (view.relayUp) {
    banner.hidden = true;
  } else {
    banner.hidden = false;
    const direct = view.openLinks.size;
    banner.classList.toggle("direct", direct > 0);
    banner.textContent =
      direct > 0
        ? `Relay unreachable: chatting directly with ${direct}.`
        : "Offline: messages wait on this phone and go out when the relay is back.";
  }
  $("route-label").textContent = `route: ${view.route ?? "none"}`;
  if (stats) {
    const rtt = stats.route === "p2p" ? stats.p2p_rtt_ms : stats.rtt_ms;
    $("latency").textContent = rtt == null || stats.route == null ? "" : `${rtt.toFixed(1)} ms`;
    $("queued-label").textContent = `${stats.queued} queued`;
  }
}

function renderMesh(diagnostics: Diagnostics): void {
  const svg = $("mesh");
  const people = [
    { device: view.me?.device ?? "", name: view.me?.name ?? "me" },
    ...[...view.members.values()].filter((m) => m.device !== view.me?.device),
  ];
  const cx = 150;
  const cy = 110;
  const at = (i: number) => {
    if (i === 0) return { x: cx, y: cy };
    const angle = (2 * Math.PI * (i - 1)) / Math.max(1, people.length - 1);
    return { x: cx + 100 * Math.cos(angle), y: cy + 80 * Math.sin(angle) };
  };
  const ns = "http://www.w3.org/2000/svg";
  const parts: SVGElement[] = [];
  people.forEach((person, i) => {
    if (i === 0) return;
    const peer = diagnostics.peers.find((p) => p.device === person.device);
    if (peer?.link !== "open") return;
    const line = document.createElementNS(ns, "line");
    const a = at(0);
    const b = at(i);
    const rtt = peer.rtt_ms ?? 0;
    const colour = rtt < 20 ? "#3ddc84" : rtt < 100 ? "#ffb020" : "#ff5a5a";
    line.setAttribute("x1", String(a.x));
    line.setAttribute("y1", String(a.y));
    line.setAttribute("x2", String(b.x));
    line.setAttribute("y2", String(b.y));
    line.setAttribute("stroke", colour);
    line.setAttribute("stroke-width", "4");
    parts.push(line);
  });
  people.forEach((person, i) => {
    const { x, y } = at(i);
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", String(x));
    dot.setAttribute("cy", String(y));
    dot.setAttribute("r", "12");
    dot.setAttribute("fill", i === 0 ? "#ffcc00" : "#c9c2e0");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(x));
    label.setAttribute("y", String(y + 26));
    label.setAttribute("text-anchor", "middle");
    label.textContent = person.name;
    parts.push(dot, label);
  });
  svg.replaceChildren(...parts);
}

async function refresh(): Promise<void> {
  if (!view.room) return;
  try {
    const diagnostics = await invoke<Diagnostics>("diagnostics");
    renderStatus(diagnostics.stats);
    if (!$("mesh-panel").hidden) renderMesh(diagnostics);
    if (!$("debug-panel").hidden) {
      $("debug-info").textContent = JSON.stringify(diagnostics, null, 2);
    }
  } catch (error) {
    showError("chat", error);
  }
}

function onEvent(event: EngineEvent): void {
  switch (event.event) {
    case "connected":
      view.relayUp = true;
      break;
    case "disconnected":
      view.relayUp = false;
      break;
    case "route_changed":
      view.route = event.route;
      if (event.route === "relay" || event.route === "poll") view.relayUp = true;
      if (event.route === null) view.relayUp = false;
      void refresh();
      break;
    case "key_changed":
      warnings.add(event.room, event.name);
      announcer.say(`${keyWarning(event.name)} (in ${event.room})`);
      if (event.room === view.room) void reloadRoom(event.room);
      break;
    case "joined":
      if (event.room === view.room) {
        view.members = new Map(event.members.map((m) => [m.device, m]));
        renderMembers();
      }
      break;
    case "presence":
      if (event.room === view.room) {
        if (event.change === "joined") view.members.set(event.member.device, event.member);
        else view.members.delete(event.member.device);
        renderMembers();
      }
      break;
    case "peer":
      if (event.open) view.openLinks.add(event.device);
      else view.openLinks.delete(event.device);
      renderMembers();
      break;
    case "message":
      noteMessage(event);
      if (event.room === view.room) {
        const mine = event.sender === view.me?.device;
        const known = timeline.get(event.id);
        if (!known && !mine) announcer.message(event.from, said(event));
        timeline.upsert({
          ...event,
          route: known?.route ?? event.route,
          state: mine ? "sent" : "received",
        });
      }
      break;
    case "queued":
      setState(event.id, "queued");
      void refresh();
      break;
    case "acked":
      setState(event.id, "sent");
      void refresh();
      break;
    case "failed":
      setState(event.id, "failed");
      break;
    case "error":
      showError("chat", event.message);
      break;
    case "storage_failed":
      showError("chat", `This phone could not save: ${event.reason}`);
      break;
    case "left":
      break;
    case "lagged":
      if (view.room && event.rooms.some((missed) => missed.room === view.room)) {
        void reloadRoom(view.room);
      }
      break;
  }
  renderStatus();
}

/** The engine went on while the page was busy, and said so: what it missed is in the store. */
async function reloadRoom(room: string): Promise<void> {
  try {
    const history = await invoke<LocalMessage[]>("history", { room });
    const members = await invoke<Member[]>("members", { room });
    if (room !== view.room) return;
    history.forEach((message) => timeline.upsert(message));
    view.members = new Map(members.map((m) => [m.device, m]));
    renderMembers();
    await refresh();
  } catch (error) {
    showError("chat", error);
  }
}

async function openRoom(room: string): Promise<void> {
  // Events for the room may arrive before the join call returns: take them from now on, by
  // the name as the engine normalises it (trimmed, spaces collapsed, NFC).
  view.room = room.trim().replace(/\s+/g, " ").normalize("NFC");
  view.members.clear();
  timeline.clear();
  olderDone.clear();
  $("history-start").hidden = true;
  const opened = await invoke<RoomView>("join", { room });
  view.room = opened.room;
  for (const member of opened.members) view.members.set(member.device, member);
  opened.history.forEach((message) => timeline.upsert(message));
  $("room-title").textContent = opened.room;
  $("room-lock").replaceChildren(...(opened.private ? [lockIcon()] : []));
  $("room-lock").hidden = !opened.private;
  renderMembers();
  warnings.show(opened.room);
  const entry = view.rooms.get(opened.room) ?? {
    room: opened.room,
    favourite: false,
    muted: false,
    unread: 0,
    last: null,
    private: opened.private,
  };
  entry.unread = 0;
  entry.private = opened.private;
  const newest = opened.history[opened.history.length - 1];
  if (newest) entry.last = `${newest.from}: ${said(newest)}`;
  view.rooms.set(opened.room, entry);
  $("favourite").setAttribute("aria-pressed", String(entry.favourite));
  $("mute").setAttribute("aria-pressed", String(entry.muted));
  renderRooms();
  $("join-screen").hidden = true;
  $("chat-screen").hidden = false;
  timeline.jumpToEnd();
  $<HTMLInputElement>("message").focus();
  await loadInvite(opened.room);
  await refresh();
}

/** The room's invite: link, QR and code. Read again each time the panel opens: a private
 * room's link carries its current key (after the #), which changes when the owner removes
 * someone, and whoever has the link reads the room. */
async function loadInvite(room: string): Promise<void> {
  const invite = await invoke<InviteLink>("invite_link", { room });
  const qr = await invoke<string>("qr_svg", { text: invite.link });
  if (room !== view.room) return;
  $<HTMLInputElement>("invite-link").value = invite.link;
  $("invite-private").hidden = !invite.private;
  $("invite-code").textContent = room;
  $("qr").innerHTML = qr;
}

/** A message for any room: the lists show it as the room's last, and count it unread when
 * its room is not the one on screen. */
function noteMessage(message: ChatMessage): void {
  const entry = view.rooms.get(message.room);
  if (!entry) return;
  entry.last = `${message.from}: ${said(message)}`;
  const onScreen = message.room === view.room && !$("chat-screen").hidden;
  if (!onScreen && message.sender !== view.me?.device) entry.unread += 1;
  renderRooms();
}

let roomsFrame = 0;

/** Redraws the room lists, at most once a frame (a burst is many messages). */
function renderRooms(): void {
  if (roomsFrame) return;
  roomsFrame = requestAnimationFrame(() => {
    roomsFrame = 0;
    const entries = [...view.rooms.values()];
    entries.sort((a, b) => Number(b.favourite) - Number(a.favourite));
    const current = $("chat-screen").hidden ? null : view.room;
    renderJoined($("my-rooms"), entries, current, (room) => void switchTo(room));
    renderJoined($("switcher"), entries, current, (room) => void switchTo(room));
    $("my-rooms-section").hidden = entries.length === 0;
  });
}

/** Reads the joined and recent rooms from the app (after a start, a restart, a leave). */
async function loadRooms(): Promise<RoomsView> {
  const rooms = await invoke<RoomsView>("rooms");
  const known = view.rooms;
  view.rooms = new Map(
    rooms.joined.map((r) => [
      r.room,
      {
        room: r.room,
        favourite: r.favourite,
        muted: r.muted,
        // Counted in the store when the app starts; from then on as events arrive.
        unread: known.get(r.room)?.unread ?? r.unread,
        last: r.last ? `${r.last.from}: ${said(r.last)}` : null,
        private: r.private,
      },
    ]),
  );
  renderRooms();
  renderPlain($("recent-rooms"), rooms.recent.map((room) => ({ room })), (room) => void switchTo(room));
  $("recent-section").hidden = rooms.recent.length === 0;
  return rooms;
}

/** Lists the relay's public rooms with their counts (nothing when the relay has none or
 * cannot be reached: the rest of the screen works without them). */
async function loadPublic(): Promise<void> {
  try {
    const rooms = await invoke<PublicRoom[]>("public_rooms");
    renderPlain($("public-rooms"), rooms, (room) => void switchTo(room));
    $("public-section").hidden = rooms.length === 0;
  } catch {
    $("public-section").hidden = true;
  }
}

/** Starts the engine with the name typed (or the saved one), if it does not run as that name. */
async function ensureStarted(): Promise<void> {
  const name = $<HTMLInputElement>("name").value.trim();
  if (!view.me || (name && view.me.name !== name)) {
    view.me = await invoke<Profile>("start", { name: name || null });
    $<HTMLInputElement>("name").value = view.me.name;
  }
}

/** Opens a room from a list, the join form, an invite or a new code; errors where the
 * person is. `before` runs once the engine runs, before the room is joined (making it
 * private, taking an invite's key). */
async function switchTo(room: string, before?: () => Promise<unknown>): Promise<void> {
  const where = $("chat-screen").hidden ? "join" : "chat";
  try {
    showError(where, "");
    await ensureStarted();
    if (before) await before();
    toggle("");
    await openRoom(room);
  } catch (error) {
    showError(where, error);
  }
}

/** The room list on screen (the rooms stay joined), focus in the room field: where the next
 * step is, not lost on the page. */
async function showHome(): Promise<void> {
  view.room = null;
  warnings.show(null);
  toggle("");
  $("chat-screen").hidden = true;
  $("join-screen").hidden = false;
  $<HTMLInputElement>("room").focus();
  await invoke("show_list").catch(() => undefined);
  await loadRooms().catch((error) => showError("join", error));
  void loadPublic();
}

let pendingInvite: { invite: InviteView; link: string } | null = null;

/** Joins an invite's room, taking the room's key first when the link carries one. */
async function joinInvite(room: string, link: string): Promise<void> {
  await switchTo(room, () => invoke<string>("accept_invite", { link }));
}

/** An invite opened before a name was chosen: Join opens it (with its key) once there is one. */
let awaitingName: { room: string; link: string } | null = null;

/** Whether the join form asks for a private room; the box is cleared once read, so that the
 * next room joined from the form is not made private by a tick left from before. */
function takePrivateChoice(): boolean {
  const box = $<HTMLInputElement>("private");
  const chosen = box.checked;
  box.checked = false;
  return chosen;
}

/** The room whose older history is being read, or whose store has nothing older. */
let olderBusy: string | null = null;
const olderDone = new Set<string>();

/** The reader reached the oldest message shown: reads the page before it (from this
 * phone's store, then the relay's history) and puts it above, where scrolling up continues. */
async function loadOlder(): Promise<void> {
  const room = view.room;
  const oldest = timeline.first();
  if (!room || olderBusy === room || olderDone.has(room) || oldest?.seq == null) return;
  olderBusy = room;
  try {
    const page = await invoke<{ messages: LocalMessage[]; more: boolean }>("history_before", {
      room,
      before: oldest.seq,
    });
    if (room !== view.room) return;
    if (!page.more) {
      olderDone.add(room);
      $("history-start").hidden = false;
    }
    timeline.prepend(page.messages);
  } catch (error) {
    showError("chat", error);
  } finally {
    olderBusy = null;
  }
}

/** An invite link from a click (deep link), the launch, or the invite field: opens its room,
 * on its relay; asks first when that relay is not the one in use. */
async function openInvite(link: string): Promise<void> {
  try {
    showError("join", "");
    const invite = await invoke<InviteView>("read_invite", { link });
    $<HTMLInputElement>("room").value = invite.room;
    if (!view.me && !$<HTMLInputElement>("name").value.trim()) {
      awaitingName = { room: invite.room, link };
      showError("join", `Choose a name, then Join to open ${invite.room}.`);
      return;
    }
    if (invite.other_relay && invite.relay_fixed) {
      showError("join", `This invite is for the relay ${invite.relay}; this run is fixed to another one.`);
      return;
    }
    if (invite.other_relay) {
      pendingInvite = { invite, link };
      if ($("join-screen").hidden) await showHome();
      $("relay-question-text").textContent =
        `The invite to ${invite.room} is for the relay ${invite.relay}. You use ${view.me?.relay_url ?? "another one"}.`;
      $("relay-question").hidden = false;
      $("switch-relay").focus();
      return;
    }
    await joinInvite(invite.room, link);
  } catch (error) {
    showError("join", error);
  }
}

const PANELS = ["members", "invite", "mesh", "debug"];

/** Opens one panel (closing the others and a member's details), or closes it; its button
 * says which. */
function toggle(panel: string): void {
  $("member-panel").hidden = true;
  for (const name of PANELS) {
    const shown = name === panel && $(`${name}-panel`).hidden;
    $(`${name}-panel`).hidden = !shown;
    $(`${name}-button`).setAttribute("aria-expanded", String(shown));
    if (shown && name === "invite" && view.room) {
      loadInvite(view.room).catch((error) => showError("chat", error));
    }
  }
  void refresh();
}

async function main(): Promise<void> {
  initTheme([...document.querySelectorAll<HTMLButtonElement>(".theme-toggle")]);
  timeline = new Timeline($("scroller"), $("messages"), $<HTMLButtonElement>("new-messages"), renderMessage);
  announcer = new Announcer($("announcer"));
  warnings = new KeyWarnings($("key-warnings"), {
    check: (name) => void showMember(name),
    dismissed: () => $<HTMLInputElement>("message").focus(),
  });
  details = new MemberDetails(invoke, (room) => {
    const shown = details.shownName();
    if (shown) warnings.forget(room, shown);
    void reloadRoom(room);
  });
  $("member-close").addEventListener("click", () => {
    toggle("members");
    $("members-panel").focus();
  });
  timeline.onReachTop(() => void loadOlder());
  await tauri.event.listen<EngineEvent>("festival://event", (e) => onEvent(e.payload));
  const settings = await invoke<Settings>("settings");
  const relay = $<HTMLInputElement>("relay");
  relay.value = settings.relay_url;
  relay.disabled = settings.source === "environment";
  $("relay-source").textContent =
    settings.source === "environment" ? "Set by FESTIVAL_RELAY_URL for this run." : "";
  await tauri.event.listen<string>("festival://invite", (e) => void openInvite(e.payload));
  // A notification clicked (the app brought its window to the front): its room, opened as a
  // tap on it in the room list opens it.
  await tauri.event.listen<string>("festival://open-room", (e) => void switchTo(e.payload));
  await initPower(tauri, (error) => showError("chat", error));
  const inviteField = $<HTMLInputElement>("invite");
  await initScanner(tauri, $<HTMLButtonElement>("scan-invite"), inviteField, openInvite, (problem) =>
    showError("join", problem),
  );
  let reopen: string | null = null;
  try {
    view.me = await invoke<Profile>("start", {});
    $<HTMLInputElement>("name").value = view.me.name;
    reopen = (await loadRooms()).current;
  } catch (error) {
    // No saved name yet: the join form asks for one. Anything else is said.
    if (!isAppError(error) || error.code !== "no_name") showError("join", error);
  }
  void loadPublic();

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const room = $<HTMLInputElement>("room").value.trim();
    const invite = awaitingName?.room === room ? awaitingName : null;
    awaitingName = null;
    if (invite) void joinInvite(invite.room, invite.link);
    else if (takePrivateChoice()) void switchTo(room, () => invoke("make_private", { room }));
    else void switchTo(room);
  });
  $("new-room").addEventListener("click", async () => {
    try {
      showError("join", "");
      await ensureStarted();
      const room = await invoke<string>("create_room");
      if (takePrivateChoice()) await invoke("make_private", { room });
      await openRoom(room);
      // The code is what people pass on: show it with the QR at once.
      toggle("invite");
    } catch (error) {
      showError("join", error);
    }
  });
  $("invite-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void openInvite(inviteField.value.trim());
  });
  $("switch-relay").addEventListener("click", async () => {
    const pending = pendingInvite;
    pendingInvite = null;
    $("relay-question").hidden = true;
    const invite = pending?.invite;
    if (!pending || !invite?.relay) return;
    try {
      await invoke<Settings>("set_relay_url", { url: invite.relay });
      relay.value = invite.relay;
      view.me = await invoke<Profile>("profile");
      await joinInvite(invite.room, pending.link);
    } catch (error) {
      showError("join", error);
    }
  });
  $("keep-relay").addEventListener("click", () => {
    pendingInvite = null;
    $("relay-question").hidden = true;
    $<HTMLInputElement>("room").focus();
  });
  $("relay-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await invoke<Settings>("set_relay_url", { url: relay.value });
      showError("join", "");
    } catch (error) {
      showError("join", error);
    }
  });
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>("message");
    const body = input.value;
    if (!body.trim() || !view.room || !view.me) return;
    try {
      const id = await invoke<string>("send", { room: view.room, body });
      input.value = "";
      showError("chat", "");
      timeline.jumpToEnd();
      if (!timeline.has(id)) {
        timeline.upsert({
          id,
          room: view.room,
          seq: null,
          sender: view.me.device,
          from: view.me.name,
          body,
          sent_at: Date.now(),
          stored_at: null,
          route: null,
          state: "queued",
        });
      }
    } catch (error) {
      showError("chat", error);
    }
  });
  $("back").addEventListener("click", () => void showHome());
  $("leave").addEventListener("click", async () => {
    const room = view.room;
    if (room) {
      await invoke("leave", { room }).catch((error) => showError("join", error));
      view.rooms.delete(room);
    }
    await showHome();
  });
  for (const [id, command, key] of [
    ["favourite", "set_favourite", "favourite"],
    ["mute", "set_muted", "muted"],
  ] as const) {
    $(id).addEventListener("click", async () => {
      const entry = view.room ? view.rooms.get(view.room) : undefined;
      if (!entry) return;
      const on = !entry[key];
      try {
        await invoke(command, { room: entry.room, on });
        entry[key] = on;
        $(id).setAttribute("aria-pressed", String(on));
        renderRooms();
      } catch (error) {
        showError("chat", error);
      }
    });
  }
  for (const name of PANELS) $(`${name}-button`).addEventListener("click", () => toggle(name));
  $("upgrade").addEventListener("click", () =>
    invoke("p2p_upgrade", { room: view.room }).catch((e) => showError("chat", e)),
  );
  $("reset").addEventListener("click", () =>
    invoke("reset_breakers").catch((e) => showError("chat", e)),
  );
  $("reconnect").addEventListener("click", () =>
    invoke("reconnect").catch((e) => showError("chat", e)),
  );
  $<HTMLSelectElement>("route-choice").addEventListener("change", (e) => {
    const route = (e.target as HTMLSelectElement).value;
    invoke("set_route", { route }).catch((error) => showError("chat", error));
  });
  window.setInterval(() => void refresh(), 2000);
  // The public rooms' counts, live while the list is on screen.
  window.setInterval(() => {
    if (!$("join-screen").hidden) void loadPublic();
  }, 5000);

  const launched = await invoke<string | null>("launch_invite");
  if (launched) await openInvite(launched);
  else if (reopen) await switchTo(reopen);
}

void main();

export {};
