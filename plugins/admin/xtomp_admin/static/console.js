// xtomp console: polls /stats once a second and draws what it says. No framework, no build step,
// nothing fetched but this page's own files and /stats. Destination names come from clients,
// so every text goes in through textContent, never as HTML.
"use strict";

const POLL_MS = 1000;
const HISTORY_SECONDS = 120;
const MAX_ROWS = 500;

// Destination columns: key in Destination.stats() (plus the rates /stats adds), title, kind.
const COLUMNS = [
  ["dest", "Destination", "name"],
  ["type", "Type", "text"],
  ["sz", "Subscribers", "int"],
  ["q", "Depth", "int"],
  ["rate_in", "In/s", "rate"],
  ["rate_out", "Out/s", "rate"],
  ["Σ", "Accepted", "int"],
  ["delivered", "Delivered", "int"],
  ["dropped", "Dropped", "warn"],
];
const KNOWN = new Set(COLUMNS.map((column) => column[0]));
const SKIPPED_TOP = new Set(["cc", "broker", "destinations", "rates"]);

const state = {
  history: [],          // {t, in, out}
  sortKey: "dest",
  sortDir: 1,
  filter: "",
  previousCpu: null,    // {cpu, uptime}
  columns: COLUMNS,
  last: null,
};

const $ = (id) => document.getElementById(id);

// -- formatting -------------------------------------------------------------------------------

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 0 });

function formatInt(value) {
  return typeof value === "number" ? integer.format(value) : "–";
}

function formatRate(value) {
  if (typeof value !== "number") return "–";
  if (value === 0) return "0";
  return value < 10 ? decimal.format(value) : integer.format(value);
}

function formatBytes(bytes) {
  if (typeof bytes !== "number") return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

function formatDuration(seconds) {
  if (typeof seconds !== "number") return "–";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function title(key) {
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function setText(id, text) {
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

// -- cards --------------------------------------------------------------------------------------

function renderCards(stats) {
  const broker = stats.broker || {};
  const destinations = stats.destinations || [];
  setText("version", broker.version ? `v${broker.version}` : "");
  setText("uptime", formatDuration(broker.uptime));
  setText("connections", formatInt(broker.connections));
  const transports = Object.entries(broker.transports || {}).map(([name, count]) => `${name} ${count}`);
  setText("transports", transports.length ? transports.join(" · ") : "none open");
  setText("sessions", formatInt(broker.sessions));
  setText("accepted", `${formatInt(broker.connections_accepted)} accepted since start`);
  setText("rate-in", formatRate(broker.rate_in));
  setText("rate-out", formatRate(broker.rate_out));
  setText("messages", formatInt(broker.messages));
  const delivered = destinations.reduce((sum, d) => sum + (typeof d.delivered === "number" ? d.delivered : 0), 0);
  setText("delivered", formatInt(delivered));
  setText("memory", formatBytes(broker.rss));
  const cpu = (broker.cpu_user || 0) + (broker.cpu_system || 0);
  const previous = state.previousCpu;
  if (previous && broker.uptime > previous.uptime) {
    const percent = (100 * (cpu - previous.cpu)) / (broker.uptime - previous.uptime);
    setText("cpu", `${Math.max(0, percent).toFixed(1)}%`);
  }
  state.previousCpu = { cpu, uptime: broker.uptime };
  setText("cpu-time", `${cpu.toFixed(2)} s used`);
}

// -- chart --------------------------------------------------------------------------------------

function record(stats) {
  const broker = stats.broker || {};
  if (typeof broker.rate_in !== "number") return;
  const now = Date.now();
  state.history.push({ t: now, in: broker.rate_in, out: broker.rate_out });
  const oldest = now - HISTORY_SECONDS * 1000;
  while (state.history.length && state.history[0].t < oldest) state.history.shift();
}

// A y-axis: a round step (1, 2 or 5 times a power of ten) and up to five gridlines.
function axis(peak) {
  if (peak <= 4) return { step: 1, top: 4 };
  const rough = peak / 4;
  const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
  return { step, top: Math.ceil(peak / step) * step };
}

function drawChart() {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const styles = getComputedStyle(document.documentElement);
  const colour = (name) => styles.getPropertyValue(name).trim();
  const left = 52;
  const right = 12;
  const top = 10;
  const bottom = 24;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const history = state.history;
  const peak = history.reduce((max, point) => Math.max(max, point.in, point.out), 0);
  const { step, top: yMax } = axis(peak);
  const now = Date.now();
  const x = (t) => left + plotWidth * (1 - (now - t) / (HISTORY_SECONDS * 1000));
  const y = (v) => top + plotHeight * (1 - v / yMax);

  context.font = "12px system-ui, sans-serif";
  context.lineWidth = 1;
  context.strokeStyle = colour("--line");
  context.fillStyle = colour("--muted");
  context.textAlign = "right";
  context.textBaseline = "middle";
  for (let value = 0; value <= yMax + step / 2; value += step) {
    const py = Math.round(y(value)) + 0.5;
    context.beginPath();
    context.moveTo(left, py);
    context.lineTo(width - right, py);
    context.stroke();
    context.fillText(formatRate(value), left - 8, py);
  }
  context.textAlign = "center";
  context.textBaseline = "top";
  for (const seconds of [120, 90, 60, 30, 0]) {
    const px = x(now - seconds * 1000);
    context.fillText(seconds ? `−${seconds}s` : "now", Math.min(Math.max(px, left + 14), width - right - 14), height - bottom + 7);
  }
  for (const [key, name] of [["in", "--in"], ["out", "--out"]]) {
    if (history.length === 0) break;
    context.strokeStyle = colour(name);
    context.lineWidth = 2;
    context.lineJoin = "round";
    context.beginPath();
    history.forEach((point, index) => {
      const px = x(point.t);
      const py = y(point[key]);
      if (index === 0) context.moveTo(px, py);
      else context.lineTo(px, py);
    });
    context.stroke();
  }
  canvas.dataset.points = String(history.length);
  canvas.dataset.max = String(yMax);
}

// -- destinations table ---------------------------------------------------------------------

function columnsFor(destinations) {
  const extra = new Set();
  for (const destination of destinations) {
    for (const [key, value] of Object.entries(destination)) {
      if (!KNOWN.has(key) && typeof value === "number") extra.add(key);
    }
  }
  return COLUMNS.concat([...extra].sort().map((key) => [key, title(key), "int"]));
}

function renderHead(columns) {
  const row = $("destination-head");
  const signature = columns.map((column) => column[0]).join("\u0000") + `|${state.sortKey}|${state.sortDir}`;
  if (row.dataset.signature === signature) return;
  row.dataset.signature = signature;
  row.replaceChildren(
    ...columns.map(([key, heading, kind]) => {
      const th = document.createElement("th");
      th.textContent = heading;
      th.dataset.key = key;
      th.scope = "col";
      if (kind === "name" || kind === "text") th.className = "text";
      if (key === state.sortKey) th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
      th.addEventListener("click", () => {
        if (state.sortKey === key) state.sortDir = -state.sortDir;
        else {
          state.sortKey = key;
          state.sortDir = kind === "name" || kind === "text" ? 1 : -1;
        }
        if (state.last) renderDestinations(state.last);
      });
      return th;
    }),
  );
}

function compare(a, b) {
  const key = state.sortKey;
  const left = a[key];
  const right = b[key];
  if (typeof left === "number" || typeof right === "number") {
    return ((typeof left === "number" ? left : -1) - (typeof right === "number" ? right : -1)) * state.sortDir;
  }
  return String(left ?? "").localeCompare(String(right ?? "")) * state.sortDir;
}

function cell(destination, [key, , kind]) {
  const td = document.createElement("td");
  const value = destination[key];
  td.dataset.key = key;
  if (kind === "name" || kind === "text") {
    td.className = kind;
    td.textContent = value ?? "";
    if (kind === "name") td.title = value ?? "";
  } else if (kind === "rate") {
    td.textContent = formatRate(value);
    if (!value) td.className = "zero";
  } else {
    td.textContent = formatInt(value);
    if (kind === "warn" && value > 0) td.className = "warn";
    else if (value === 0) td.className = "zero";
  }
  return td;
}

function renderDestinations(stats) {
  const destinations = stats.destinations || [];
  const columns = columnsFor(destinations);
  renderHead(columns);
  const filter = state.filter.toLowerCase();
  const shown = destinations.filter((d) => !filter || String(d.dest).toLowerCase().includes(filter)).sort(compare);
  const rows = shown.slice(0, MAX_ROWS).map((destination) => {
    const tr = document.createElement("tr");
    tr.dataset.dest = destination.dest;
    tr.append(...columns.map((column) => cell(destination, column)));
    return tr;
  });
  $("destination-rows").replaceChildren(...rows);
  const count = destinations.length;
  let summary = `${count}`;
  if (shown.length !== count) summary = `${shown.length} of ${count}`;
  if (shown.length > MAX_ROWS) summary += `, first ${MAX_ROWS} shown`;
  setText("destination-count", `(${summary})`);
  $("no-destinations").hidden = count > 0;
}

// -- plugin figures -------------------------------------------------------------------------

function flatten(prefix, value, out) {
  if (typeof value === "number" || typeof value === "boolean") out.push([prefix, value]);
  else if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(`${prefix}.${key}`, inner, out);
  }
}

function renderOther(stats) {
  const figures = [];
  for (const [key, value] of Object.entries(stats)) {
    if (!SKIPPED_TOP.has(key)) flatten(key, value, figures);
  }
  $("other-panel").hidden = figures.length === 0;
  $("other").replaceChildren(
    ...figures.map(([name, value]) => {
      const row = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = typeof value === "number" ? formatRate(value) : String(value);
      row.append(dt, dd);
      return row;
    }),
  );
}

// -- polling --------------------------------------------------------------------------------

function setStatus(live) {
  const pill = $("status");
  pill.dataset.state = live ? "live" : "offline";
  pill.textContent = live ? "live" : "offline";
}

async function poll() {
  try {
    const response = await fetch("stats", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const stats = await response.json();
    state.last = stats;
    record(stats);
    renderCards(stats);
    renderDestinations(stats);
    renderOther(stats);
    setStatus(true);
    setText("updated", new Date().toLocaleTimeString());
  } catch (error) {
    setStatus(false);
  }
  drawChart();
  setTimeout(poll, POLL_MS);
}

$("filter").addEventListener("input", (event) => {
  state.filter = event.target.value;
  if (state.last) renderDestinations(state.last);
});
window.addEventListener("resize", drawChart);
poll();
