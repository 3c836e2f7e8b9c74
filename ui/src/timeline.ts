// The message list, windowed: every message is kept in memory, but at most `windowSize` of
// them are in the DOM at once, so a room with 10,000 messages scrolls as fast as one with 50.
// The window moves when the reader nears its top or bottom, and keeps what is on screen where
// it was. New messages follow the reader down only when the reader is already at the bottom;
// otherwise a pill counts them and jumps down when pressed.

/** What the list needs of a message: a stable id (updates replace the message in place). */
export interface Keyed {
  id: string;
}

/** How close to an edge (in px) counts as being at it. */
const EDGE = 48;

export class Timeline<T extends Keyed> {
  private readonly order: string[] = [];
  private readonly items = new Map<string, T>();
  /** The rendered nodes, by message id: exactly `order[start..end)`. */
  private readonly nodes = new Map<string, HTMLElement>();
  private start = 0;
  private end = 0;
  /** The reader is at the bottom: new messages scroll into view. */
  private stick = true;
  private unseen = 0;
  private frame: number | null = null;
  /** Asked for older messages when the reader reaches the top of all it holds. */
  private older: (() => void) | null = null;

  constructor(
    private readonly scroller: HTMLElement,
    private readonly list: HTMLElement,
    private readonly pill: HTMLButtonElement,
    private readonly render: (item: T) => HTMLElement,
    private readonly windowSize = 200,
    private readonly step = 60,
  ) {
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    pill.addEventListener("click", () => this.jumpToEnd());
    // A panel opening, a banner or a turned phone resize the list: a follower stays at the end.
    new ResizeObserver(() => {
      if (this.stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    }).observe(scroller);
  }

  /** Forgets every message (another room opens). */
  clear(): void {
    this.order.length = 0;
    this.items.clear();
    this.nodes.clear();
    this.start = 0;
    this.end = 0;
    this.stick = true;
    this.unseen = 0;
    this.list.replaceChildren();
    this.pill.hidden = true;
  }

  /** Calls `older` whenever the reader reaches the oldest message held: it may `prepend`. */
  onReachTop(older: () => void): void {
    this.older = older;
  }

  /** The oldest message held. */
  first(): T | undefined {
    return this.order.length ? this.items.get(this.order[0]) : undefined;
  }

  /** Adds older messages (oldest first) above all held ones; the ones on screen stay where
   * they are. Messages already held are skipped. */
  prepend(older: T[]): void {
    const fresh = older.filter((item) => !this.items.has(item.id));
    if (!fresh.length) return;
    for (const item of fresh) this.items.set(item.id, item);
    this.order.unshift(...fresh.map((item) => item.id));
    this.start += fresh.length;
    this.end += fresh.length;
    if (this.start === fresh.length) this.extendUp();
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  /** Adds a message at the end, or redraws a known one where it is. */
  upsert(item: T): void {
    const known = this.items.has(item.id);
    this.items.set(item.id, item);
    if (known) {
      const old = this.nodes.get(item.id);
      if (old) {
        const fresh = this.render(item);
        old.replaceWith(fresh);
        this.nodes.set(item.id, fresh);
      }
      return;
    }
    // Counted here, not in the next frame or scroll event: a webview that is not painting (a
    // hidden or occluded window) runs neither, and the reader must still find the count.
    this.noticeReaderMoved();
    this.order.push(item.id);
    if (!this.stick) {
      this.unseen += 1;
      this.showPill();
    }
    // Draw once per frame, however many messages arrived in it.
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  /** Shows the newest messages and follows new ones again. */
  jumpToEnd(): void {
    this.start = Math.max(0, this.order.length - this.windowSize);
    this.end = this.start;
    this.nodes.clear();
    this.list.replaceChildren();
    this.appendUpTo(this.order.length);
    this.stick = true;
    this.unseen = 0;
    this.pill.hidden = true;
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private flush(): void {
    this.frame = null;
    this.noticeReaderMoved();
    if (this.unseen > 0 && !this.stick) this.showPill();
    if (!this.stick || this.end === this.order.length) return;
    if (this.order.length - this.end > this.windowSize) {
      this.jumpToEnd();
      return;
    }
    this.appendUpTo(this.order.length);
    this.trimTop();
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private onScroll(): void {
    if (this.stick && this.atBottom()) {
      // Still following: what arrived since the last frame is drawn with the next one.
      if (this.end < this.order.length) this.frame ??= requestAnimationFrame(() => this.flush());
      return;
    }
    const { scrollTop, clientHeight } = this.scroller;
    if (scrollTop < clientHeight && this.start > 0) {
      this.extendUp();
    } else if (scrollTop < clientHeight && this.start === 0) {
      this.older?.();
    } else if (this.atBottom() && this.end < this.order.length) {
      this.appendUpTo(Math.min(this.order.length, this.end + this.step));
      this.trimTop();
    }
    // Following stops when the reader moves up, and starts again only at the very end.
    this.stick = this.atBottom() && this.end === this.order.length;
    if (this.stick) {
      this.unseen = 0;
      this.pill.hidden = true;
    }
  }

  /** Stops following if the reader moved up since the last scroll event was handled (it
   * may not be yet): what is held but not drawn becomes unseen. */
  private noticeReaderMoved(): void {
    if (!this.stick || this.atBottom()) return;
    this.stick = false;
    this.unseen += this.order.length - this.end;
  }

  private atBottom(): boolean {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < EDGE;
  }

  private appendUpTo(to: number): void {
    const fresh: HTMLElement[] = [];
    for (const id of this.order.slice(this.end, to)) {
      const node = this.render(this.items.get(id) as T);
      this.nodes.set(id, node);
      fresh.push(node);
    }
    this.list.append(...fresh);
    this.end = to;
  }

  /** Draws earlier messages above, keeping the ones on screen where they are. */
  private extendUp(): void {
    const from = Math.max(0, this.start - this.step);
    const fresh: HTMLElement[] = [];
    for (const id of this.order.slice(from, this.start)) {
      const node = this.render(this.items.get(id) as T);
      this.nodes.set(id, node);
      fresh.push(node);
    }
    const before = this.scroller.scrollHeight;
    this.list.prepend(...fresh);
    this.start = from;
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
    while (this.end - this.start > this.windowSize) {
      this.end -= 1;
      this.nodes.get(this.order[this.end])?.remove();
      this.nodes.delete(this.order[this.end]);
    }
  }

  /** Drops nodes above the window, keeping the ones on screen where they are. */
  private trimTop(): void {
    const before = this.scroller.scrollHeight;
    let dropped = false;
    while (this.end - this.start > this.windowSize) {
      this.nodes.get(this.order[this.start])?.remove();
      this.nodes.delete(this.order[this.start]);
      this.start += 1;
      dropped = true;
    }
    if (dropped) this.scroller.scrollTop -= before - this.scroller.scrollHeight;
  }

  private showPill(): void {
    const arrow = document.createElement("span");
    arrow.setAttribute("aria-hidden", "true");
    arrow.textContent = " ↓";
    this.pill.replaceChildren(`${this.unseen} new ${this.unseen === 1 ? "message" : "messages"}`, arrow);
    this.pill.hidden = false;
  }
}
