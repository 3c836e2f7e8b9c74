// What a screen reader hears of incoming messages: one message is read out, a burst becomes
// one summary ("240 new messages"), never 1,000 announcements in a row. A warning ("Bob's key
// changed") is said at once.

/** How long messages are gathered before one announcement. */
const GATHER_MS = 1500;
/** Longest message body read out whole. */
const READ_CHARS = 140;

export class Announcer {
  private count = 0;
  private last = "";
  private timer: number | null = null;
  private urgent = "";

  /** `region` is a polite live region (`role="status"`), visually hidden. */
  constructor(private readonly region: HTMLElement) {}

  message(from: string, body: string): void {
    this.count += 1;
    const short = body.length > READ_CHARS ? `${body.slice(0, READ_CHARS)}…` : body;
    this.last = `${from}: ${short}`;
    this.timer ??= window.setTimeout(() => this.flush(), GATHER_MS);
  }

  /** Says `text` now (a warning, not a message): ahead of the messages gathered so far,
   * which are said with it. */
  say(text: string): void {
    this.urgent = text;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.flush();
  }

  private flush(): void {
    const messages = this.count === 0 ? "" : this.count === 1 ? this.last : `${this.count} new messages`;
    this.region.textContent = [this.urgent, messages].filter(Boolean).join(". ");
    this.urgent = "";
    this.count = 0;
    this.timer = null;
  }
}
