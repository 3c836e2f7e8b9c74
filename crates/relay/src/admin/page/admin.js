// The mesh dashboard: reads /admin/api/ with the admin token (kept for this tab only),
// follows /admin/api/events (server-sent events, read with fetch so that the token goes in a
// header, never in a URL), and draws with plain SVG: a small force layout for the topology,
// polylines for the charts. No library, no build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KEY = "festival-admin-token";
const MAX_POINTS = 1800;
const $ = (id) => document.getElementById(id);

let token = null;
let series = [];
const positions = new Map();

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(ms) {
  return ms == null ? "–" : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

function pct(ratio) {
  return ratio == null ? "–" : `${Math.round(ratio * 100)} %`;
}

function status(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", bad);
}

async function api(path, options = {}) {
  const answer = await fetch(`/admin/api/${path}`, {
    ...options,
    headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (answer.status === 401) throw new Error("unauthorised");
  return answer;
}

function showLogin(message) {
  $("dashboard").hidden = true;
  $("login").hidden = false;
  status(message, true);
}

function drawCards(o) {
  $("users").textContent = o.users;
  $("p2p-active").textContent = o.p2p_active_users;
  $("links").textContent = o.p2p_links;
  $("success").textContent = pct(o.link_success_rate);
  $("relay-latency").textContent = `${fmt(o.relay_latency.avg)} / ${fmt(o.relay_latency.p95)}`;
  $("p2p-latency").textContent = `${fmt(o.p2p_latency.avg)} / ${fmt(o.p2p_latency.p95)}`;
}

function drawRoutes(o) {
  const box = $("routes");
  box.replaceChildren();
  const share = o.route_share || { p2p: 0, relay: 0, poll: 0 };
  for (const [route, label] of [["p2p", "P2P"], ["relay", "Relay"], ["poll", "Long-poll"]]) {
    const row = document.createElement("div");
    row.className = `bar ${route}`;
    row.id = `share-${route}`;
    row.dataset.share = share[route];
    const name = document.createElement("span");
    name.textContent = label;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = `${(share[route] * 100).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.textContent = `${pct(o.route_share ? share[route] : null)} (${o.messages[route]})`;
    row.append(name, track, value);
    box.append(row);
  }
}

// A few steps of a force layout each update: links pull, nodes push apart, the centre holds.
function layout(nodes, edges) {
  const W = 400, H = 300;
  for (const [id] of positions) if (!nodes.some((n) => n.id === id)) positions.delete(id);
  nodes.forEach((n, i) => {
    if (!positions.has(n.id)) {
      const angle = (i / Math.max(nodes.length, 1)) * 2 * Math.PI;
      positions.set(n.id, { x: W / 2 + 90 * Math.cos(angle), y: H / 2 + 90 * Math.sin(angle) });
    }
  });
  const ideal = Math.max(30, Math.min(90, 600 / Math.sqrt(nodes.length + 1)));
  for (let step = 0; step < 40; step++) {
    const force = new Map(nodes.map((n) => [n.id, { x: 0, y: 0 }]));
    for (let i = 0; i < nodes.length; i++) {
      const a = positions.get(nodes[i].id);
      for (let j = i + 1; j < nodes.length; j++) {
        const b = positions.get(nodes[j].id);
        let dx = a.x - b.x, dy = a.y - b.y;
        const d2 = Math.max(dx * dx + dy * dy, 1);
        const push = (ideal * ideal) / d2;
        dx *= push / Math.sqrt(d2); dy *= push / Math.sqrt(d2);
        force.get(nodes[i].id).x += dx; force.get(nodes[i].id).y += dy;
        force.get(nodes[j].id).x -= dx; force.get(nodes[j].id).y -= dy;
      }
    }
    for (const e of edges) {
      const a = positions.get(e.a), b = positions.get(e.b);
      if (!a || !b) continue;
      const dx = b.x - a.x, dy = b.y - a.y;
      const d = Math.max(Math.sqrt(dx * dx + dy * dy), 1);
      const pull = (d - ideal) / d / 2;
      force.get(e.a).x += dx * pull; force.get(e.a).y += dy * pull;
      force.get(e.b).x -= dx * pull; force.get(e.b).y -= dy * pull;
    }
    for (const n of nodes) {
      const p = positions.get(n.id), f = force.get(n.id);
      f.x += (W / 2 - p.x) * 0.02; f.y += (H / 2 - p.y) * 0.02;
      p.x = Math.min(W - 20, Math.max(20, p.x + Math.max(-8, Math.min(8, f.x))));
      p.y = Math.min(H - 20, Math.max(20, p.y + Math.max(-8, Math.min(8, f.y))));
    }
  }
}

function drawTopology(graph) {
  const svg = $("topology");
  layout(graph.nodes, graph.edges);
  svg.replaceChildren();
  for (const e of graph.edges) {
    const a = positions.get(e.a), b = positions.get(e.b);
    if (!a || !b) continue;
    const line = el("line", {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y,
      "data-a": e.a, "data-b": e.b, "data-state": e.state,
      class: e.state === "open" ? "open" : "connecting",
    });
    line.append(el("title", {}, `${e.state}${e.rtt_ms != null ? `, ${fmt(e.rtt_ms)}` : ""}`));
    svg.append(line);
  }
  for (const n of graph.nodes) {
    const p = positions.get(n.id);
    const dot = el("circle", { cx: p.x, cy: p.y, r: 7, "data-device": n.id, class: n.p2p ? "p2p" : "" });
    dot.append(el("title", {}, `${n.name} (${n.id})`));
    svg.append(dot);
    if (graph.nodes.length <= 40) svg.append(el("text", { x: p.x + 9, y: p.y + 4 }, n.name));
  }
  $("topology-note").textContent = graph.hidden
    ? `${graph.hidden} more devices without direct links are not drawn.`
    : "";
}

function chart(svg, lines, max) {
  svg.replaceChildren();
  const W = 400, H = 120, top = 8, bottom = 110;
  svg.append(el("line", { x1: 30, y1: bottom, x2: W, y2: bottom, class: "axis" }));
  svg.append(el("text", { x: 0, y: top + 6 }, String(Math.round(max))));
  svg.append(el("text", { x: 0, y: bottom }, "0"));
  if (series.length < 2) return;
  const t0 = series[0].at, t1 = series[series.length - 1].at;
  const x = (t) => 30 + ((t - t0) / Math.max(t1 - t0, 1)) * (W - 30);
  const y = (v) => bottom - (v / max) * (bottom - top);
  for (const [cls, pick] of lines) {
    const points = series
      .filter((s) => pick(s) != null)
      .map((s) => `${x(s.at).toFixed(1)},${y(pick(s)).toFixed(1)}`);
    if (points.length) svg.append(el("polyline", { points: points.join(" "), class: cls }));
  }
  const minutes = Math.round((t1 - t0) / 60000);
  svg.append(el("text", { x: 32, y: H - 1 }, minutes ? `last ${minutes} min` : "last minute"));
}

function drawCharts() {
  chart($("chart-success"), [["success", (s) => (s.link_success_rate == null ? null : s.link_success_rate * 100)]], 100);
  const peak = Math.max(10, ...series.flatMap((s) => [s.relay_avg_ms || 0, s.p2p_avg_ms || 0]));
  chart($("chart-latency"), [["relay", (s) => s.relay_avg_ms], ["p2p", (s) => s.p2p_avg_ms]], peak * 1.1);
}

function drawRooms(rooms) {
  const body = $("rooms");
  body.replaceChildren();
  for (const r of rooms) {
    const row = document.createElement("tr");
    for (const v of [r.room, r.users, r.p2p_active_users, r.p2p_links]) {
      const cell = document.createElement("td");
      cell.textContent = v;
      row.append(cell);
    }
    body.append(row);
  }
  const names = rooms.map((r) => r.room);
  const list = $("room-names");
  list.replaceChildren(...names.map((n) => Object.assign(document.createElement("option"), { value: n })));
  const select = $("announce-room");
  const chosen = select.value;
  select.replaceChildren(Object.assign(document.createElement("option"), { value: "", textContent: "Every room" }),
    ...names.map((n) => Object.assign(document.createElement("option"), { value: n, textContent: n })));
  select.value = names.includes(chosen) ? chosen : "";
}

function drawRelay(relay, graph) {
  const box = $("relay");
  box.replaceChildren();
  const rows = [
    ["Connections", relay.connections], ["Long-poll sessions", relay.poll_sessions],
    ["Rooms", relay.rooms], ["Members", relay.members], ["Messages stored", relay.messages_stored],
    ["Chat frames sent", relay.messages_delivered], ["Sequenced notices", relay.messages_sequenced],
    ["Mesh reports", relay.mesh_reports],
  ];
  for (const [k, v] of rows) {
    box.append(Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v }));
  }
  const select = $("remove-device");
  const chosen = select.value;
  select.replaceChildren(...graph.nodes.map((n) =>
    Object.assign(document.createElement("option"), { value: n.id, textContent: `${n.name} (${n.id.slice(0, 8)})` })));
  if (graph.nodes.some((n) => n.id === chosen)) select.value = chosen;
}

function show(live) {
  const o = live.overall;
  drawCards(o);
  drawRoutes(o);
  drawTopology(live.graph);
  drawRooms(live.busiest_rooms);
  drawRelay(live.relay, live.graph);
  series.push({
    at: live.at,
    link_success_rate: o.link_success_rate,
    relay_avg_ms: o.relay_latency.avg,
    p2p_avg_ms: o.p2p_latency.avg,
  });
  if (series.length > MAX_POINTS) series = series.slice(-MAX_POINTS);
  drawCharts();
  document.body.dataset.updated = String(live.at);
}

async function loadAudit() {
  const entries = await (await api("audit")).json();
  $("audit").replaceChildren(...entries.map((e) => Object.assign(document.createElement("li"), {
    textContent: `${new Date(e.at).toLocaleTimeString()} ${e.action} ${e.target}: ${e.outcome} (token ${e.token}, ${e.ip})`,
  })));
}

// Server-sent events over fetch: each `data:` block is one live view.
async function follow() {
  for (;;) {
    try {
      const answer = await api("events", { headers: { Accept: "text/event-stream" } });
      status("Live");
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
          if (data) show(JSON.parse(data));
        }
      }
    } catch (e) {
      if (e.message === "unauthorised") return showLogin("Wrong or missing token");
    }
    status("Connection lost; trying again", true);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function act(path, body, question) {
  if (!window.confirm(question)) return;
  const result = $("action-result");
  try {
    const answer = await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const reply = await answer.json();
    result.classList.toggle("error", !answer.ok);
    result.textContent = answer.ok ? `Done: ${JSON.stringify(reply)}` : `Refused: ${reply.message}`;
    await loadAudit();
  } catch (e) {
    result.classList.add("error");
    result.textContent = e.message === "unauthorised" ? "Wrong or missing token" : `Failed: ${e.message}`;
  }
}

async function start() {
  try {
    const history = await (await api("history")).json();
    series = history.map((s) => ({ at: s.at, link_success_rate: s.link_success_rate, relay_avg_ms: s.relay_avg_ms, p2p_avg_ms: s.p2p_avg_ms }));
    await loadAudit();
  } catch (e) {
    return showLogin(e.message === "unauthorised" ? "Wrong or missing token" : `The relay did not answer: ${e.message}`);
  }
  sessionStorage.setItem(KEY, token);
  $("login").hidden = true;
  $("dashboard").hidden = false;
  follow();
}

document.addEventListener("DOMContentLoaded", () => {
  // A link may carry the token after '#': the fragment never reaches a server or a log.
  const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fragment) history.replaceState(null, "", location.pathname);
  token = fragment || sessionStorage.getItem(KEY);
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    start();
  });
  $("announce").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = $("announce-body").value.trim();
    const room = $("announce-room").value || null;
    act("announce", { body, room }, `Announce to ${room || "every room"}:\n\n${body}`);
  });
  $("clear").addEventListener("submit", (e) => {
    e.preventDefault();
    const room = $("clear-room").value.trim();
    act("clear", { room }, `Delete the whole history of ${room}?`);
  });
  $("remove").addEventListener("submit", (e) => {
    e.preventDefault();
    const room = $("remove-room").value.trim();
    const device = $("remove-device").value;
    const minutes = Number($("remove-minutes").value);
    act("remove", { room, device, minutes }, `Remove ${device} from ${room} for ${minutes} minutes?`);
  });
  if (token) start(); else showLogin("Enter the admin token");
});
