// obisgate web view: energy per day, week and month from /api/energy, live values from
// /api/events (server-sent events), read figures from /api/reads, history plots from
// /api/history with uPlot, outputs from /api/gateway. Its only request other than GET is the
// POST of a priority read when a device's "read" button is pressed. Every time is shown in
// the browser's zone, in one style; the API speaks ISO 8601.
"use strict";
(() => {
  const view = {
    plot: null, live: false, batches: 0, outputRefreshes: 0, energyLoads: 0,
    period: "day", range: null, plotted: 0, drawing: 0,
  };
  window.obisgate = view; // for tests and the curious: the current uPlot and counters
  // The gateway shows a reading only once the history has it (durable before visible);
  // a history that is failing or far behind may still lag, hence a margin.
  const STORED_AFTER_MS = 500;

  // -- one style for every time: local time with the zone --------------------------------

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { month: "numeric", day: "numeric" });
  const monthFormat = new Intl.DateTimeFormat(undefined, { month: "short" });
  const longMonth = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });
  const longDay = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
  });
  const tickTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const tickDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const tickMonth = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric" });
  view.zone = zone;

  function localTime(iso) {
    if (iso === null || iso === undefined || iso === "") return "";
    const time = typeof iso === "number" ? new Date(iso) : new Date(iso);
    return isNaN(time) ? String(iso) : timeFormat.format(time);
  }
  view.localTime = localTime;

  function zoneLabel() {
    const part = timeFormat.formatToParts(new Date()).find((p) => p.type === "timeZoneName");
    const short = part ? part.value : "";
    return short && short !== zone ? zone + " (" + short + ")" : zone;
  }

  function showTimes(root) {
    for (const el of root.querySelectorAll("[data-time]")) {
      if (el.tagName !== "TR") el.textContent = localTime(el.dataset.time);
    }
  }

  function age(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function number(value) {
    const size = Math.abs(value);
    const digits = size >= 1000 ? 0 : size >= 100 ? 1 : size >= 10 ? 2 : 3;
    return value.toLocaleString(undefined, { maximumFractionDigits: digits });
  }

  function weekStart() {
    try {
      const locale = new Intl.Locale(navigator.language || "en");
      const info = typeof locale.getWeekInfo === "function" ? locale.getWeekInfo() : locale.weekInfo;
      if (info && info.firstDay >= 1 && info.firstDay <= 7) return info.firstDay;
    } catch (e) { /* an old browser: ISO weeks */ }
    return 1;
  }
  view.weekStart = weekStart();

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  const key = (device, signal) => device + "\u0000" + signal;

  // -- devices and signals, live ---------------------------------------------------------

  const deviceRows = new Map();
  const signalRows = new Map();
  for (const row of document.querySelectorAll("#devices tbody tr")) {
    deviceRows.set(row.dataset.device, row);
  }
  for (const row of document.querySelectorAll("#signals tbody tr")) {
    signalRows.set(key(row.dataset.device, row.dataset.signal), row);
  }

  function cell(row, name) {
    return row.querySelector("td." + name);
  }

  function newRow(tbody, names) {
    const row = document.createElement("tr");
    for (const [name, label] of names) {
      const td = element("td", name);
      if (label) td.dataset.label = label;
      row.appendChild(td);
    }
    tbody.appendChild(row);
    return row;
  }

  function setTime(td, iso) {
    if (iso) td.dataset.time = iso; else delete td.dataset.time;
    td.textContent = localTime(iso);
  }

  function showDevice(d) {
    let row = deviceRows.get(d.device);
    if (!row) {
      row = newRow(document.querySelector("#devices tbody"), [
        ["device", "device"], ["name", "name"], ["status", "status"], ["since", "since"],
        ["last-success", "last success"], ["last-error", "last error"], ["failures", "failures"],
        ["reads", "reads ok"], ["late", "late p95"], ["missed", "missed"], ["ask", ""],
      ]);
      row.dataset.device = d.device;
      cell(row, "device").textContent = d.device;
      cell(row, "name").textContent = d.name;
      deviceRows.set(d.device, row);
    }
    const state = d.up === true ? "ok" : d.up === false ? "down" : "pending";
    row.dataset.state = state;
    const status = cell(row, "status");
    status.textContent = "";
    status.appendChild(element("span", "badge " + state, state === "pending" ? "…" : state));
    if (d.status !== "ok") status.appendChild(document.createTextNode(d.status));
    setTime(cell(row, "since"), d.since);
    setTime(cell(row, "last-success"), d.last_success);
    cell(row, "last-error").textContent =
      d.last_error ? d.last_error + " (" + localTime(d.last_error_time) + ")" : "";
    cell(row, "failures").textContent = String(d.failures);
  }

  function showUpdate(u) {
    let row = signalRows.get(key(u.device, u.signal));
    if (!row) {
      row = newRow(document.querySelector("#signals tbody"),
        [["device"], ["signal"], ["value"], ["unit"], ["quality"], ["age"]]);
      row.dataset.device = u.device;
      row.dataset.signal = u.signal;
      cell(row, "device").textContent = u.device;
      cell(row, "signal").textContent = u.signal;
      signalRows.set(key(u.device, u.signal), row);
    }
    cell(row, "value").textContent = u.value === null ? "—" : String(u.value);
    cell(row, "unit").textContent = u.unit || "";
    const quality = cell(row, "quality");
    quality.textContent = u.quality.join(", ");
    quality.classList.toggle("quality-bad", u.quality.join() !== "valid");
    row.dataset.time = u.time;
    const ageCell = cell(row, "age");
    ageCell.textContent = age(u.time);
    ageCell.title = localTime(u.time);
    energyUpdate(u);
  }

  function refreshAges() {
    for (const row of signalRows.values()) {
      if (row.dataset.time) cell(row, "age").textContent = age(row.dataset.time);
    }
  }

  // -- outputs: their health from /api/gateway, every few seconds ------------------------

  const outputRows = new Map();
  for (const row of document.querySelectorAll("#outputs tbody tr")) {
    outputRows.set(row.dataset.output, row);
  }
  const outputBadge = { running: "ok", starting: "pending", connecting: "pending", closed: "pending" };

  function showOutput(name, h) {
    let row = outputRows.get(name);
    if (!row) {
      row = newRow(document.querySelector("#outputs tbody"), [
        ["output", "output"], ["state", "state"], ["since", "since"], ["address", "address"],
        ["last-error", "last error"], ["counters", "counters"],
      ]);
      row.dataset.output = name;
      cell(row, "output").textContent = name;
      outputRows.set(name, row);
    }
    row.dataset.state = h.state;
    const state = cell(row, "state");
    state.textContent = "";
    state.appendChild(element("span", "badge " + (outputBadge[h.state] || "down"), h.state));
    setTime(cell(row, "since"), h.since);
    cell(row, "address").textContent = h.address || "";
    cell(row, "last-error").textContent = h.last_error || "";
    cell(row, "counters").textContent =
      Object.entries(h.counters).map(([k, v]) => k + " " + v).join(" \u00b7 ");
  }

  async function refreshOutputs() {
    const answer = await fetch("api/gateway");
    if (!answer.ok) return;
    const body = await answer.json();
    for (const [name, health] of Object.entries(body.outputs)) showOutput(name, health);
    view.outputRefreshes += 1;
  }

  // -- read figures from /api/reads, every few seconds ----------------------------

  function share(r) {
    if (!r || !r.scheduled_reads) return "";
    return (100 * r.read_success).toFixed(1) + " % of " + r.scheduled_reads;
  }

  function seconds(v) {
    return v === null || v === undefined ? "" : v.toFixed(2) + " s";
  }

  function showReadsRow(kind, name, r, sessions) {
    const tbody = document.querySelector("#reads tbody");
    let row = Array.from(tbody.rows).find(
      (x) => x.dataset.scope === kind && x.dataset.name === name);
    if (!row) {
      row = newRow(tbody, [
        ["scope", "scope"], ["reads", "reads ok"], ["p50", "late p50"], ["p95", "p95"],
        ["p99", "p99"], ["missed", "missed"], ["priority", "priority reads"],
        ["sessions", "sessions"],
      ]);
      row.dataset.scope = kind;
      row.dataset.name = name;
      cell(row, "scope").textContent = kind + " " + name;
    }
    cell(row, "reads").textContent = share(r);
    cell(row, "p50").textContent = seconds(r.lateness_s.p50);
    cell(row, "p95").textContent = seconds(r.lateness_s.p95);
    cell(row, "p99").textContent = seconds(r.lateness_s.p99);
    cell(row, "missed").textContent = String(r.missed_scans);
    cell(row, "priority").textContent = String(r.priority_reads);
    cell(row, "sessions").textContent = sessions;
  }

  async function refreshReads() {
    const answer = await fetch("api/reads?by=device");
    if (!answer.ok) return;
    const body = await answer.json();
    // The supervisor of run --workers lists each worker's shard (their sum is body.shard).
    for (const s of body.shards || [body.shard]) showReadsRow("shard", s.shard, s, "");
    for (const g of body.groups) {
      const limit = g.max_sessions === null ? "∞" : g.max_sessions;
      showReadsRow("group", g.group, g,
        g.sessions + " open of " + limit + ", " + g.waiting + " waiting, " +
        g.waiting_polls + " waited");
    }
    for (const d of body.devices) {
      const row = deviceRows.get(d.device);
      if (!row || !cell(row, "reads")) continue;
      cell(row, "reads").textContent = share(d);
      cell(row, "late").textContent = seconds(d.lateness_s.p95);
      cell(row, "missed").textContent = String(d.missed_scans);
    }
    view.readRefreshes += 1;
  }
  view.readRefreshes = 0;
  setInterval(() => { refreshReads().catch(() => {}); }, 10000);

  // -- "read" buttons: a priority read of one device ------------------------------

  const readStatus = document.getElementById("read-status");
  document.querySelector("#devices tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button.read");
    if (!button) return;
    const device = button.closest("tr").dataset.device;
    button.disabled = true;
    readStatus.textContent = "reading " + device + "…";
    fetch("api/devices/" + encodeURIComponent(device) + "/read?wait=300", { method: "POST" })
      .then(async (answer) => {
        const body = await answer.json();
        if (answer.status === 200) {
          readStatus.textContent = device + ": " + body.status + " (" + body.updates.length +
            " values)";
        } else if (answer.status === 202) {
          readStatus.textContent = device + ": queued, the values arrive when it is read";
        } else {
          readStatus.textContent = device + ": " + (body.error || answer.statusText);
        }
        view.reads = (view.reads || 0) + 1;
      })
      .catch((err) => { readStatus.textContent = String(err); })
      .finally(() => { button.disabled = false; });
  });

  // -- energy: a card per device, bars per day, week or month ----------------------------

  const cards = new Map(); // device -> card
  const periodNames = { day: "today", week: "this week", month: "this month" };

  function newCard(device, name) {
    const el = element("article", "card");
    el.dataset.device = device;
    const head = element("header");
    head.append(element("h3", "", name), element("span", "alias", device));
    const power = element("p", "power");
    power.hidden = true;
    power.append(element("span", "label", "now"), " ", element("span", "v", "—"), " ",
      element("span", "u"));
    const totals = element("dl", "totals");
    for (const period of ["day", "week", "month"]) {
      const item = element("div");
      item.dataset.period = period;
      item.append(element("dt", "", periodNames[period]), element("dd"));
      totals.appendChild(item);
    }
    const bars = element("div", "bars");
    bars.setAttribute("role", "img");
    el.append(head, power, totals, bars);
    document.getElementById("energy-cards").prepend(el);
    return el;
  }

  function card(el) {
    const found = {
      el, device: el.dataset.device, power: new Map(), registers: new Set(),
      loadedAt: 0, loading: false, timer: null,
    };
    cards.set(found.device, found);
    return found;
  }

  for (const el of document.querySelectorAll("#energy-cards .card")) card(el);

  function figure(value, unit, className) {
    const span = element("span", "figure " + (className || ""));
    span.append(element("span", "v", value === null ? "—" : number(value)), " ",
      element("span", "u", unit || ""));
    return span;
  }

  function barLabel(start, period) {
    const date = new Date(start);
    if (period === "day") return dayFormat.format(date);
    if (period === "week") return dateFormat.format(date);
    return monthFormat.format(date);
  }

  function barTitle(start, period) {
    const date = new Date(start);
    if (period === "day") return longDay.format(date);
    if (period === "week") return "week of " + longDay.format(date);
    return longMonth.format(date);
  }

  function showPower(c, signal, value, unit, time) {
    const entry = c.power.get(signal);
    if (!entry) return;
    entry.value = value;
    entry.unit = unit || entry.unit;
    entry.time = time;
    const p = c.el.querySelector(".power");
    const taken = [...c.power.values()].find((e) => e.direction === "power");
    const given = [...c.power.values()].find((e) => e.direction === "power_export");
    const shown = taken || given;
    if (!shown) return;
    p.hidden = false;
    p.dataset.signal = shown.signal;
    p.querySelector(".v").textContent = typeof shown.value === "number" ? number(shown.value) : "—";
    p.querySelector(".u").textContent = shown.unit || "";
    p.title = shown.time ? "read " + localTime(shown.time) : "";
    let back = p.querySelector(".export");
    if (taken && given && typeof given.value === "number" && given.value > 0) {
      if (!back) { back = element("span", "export"); p.appendChild(back); }
      back.textContent = " \u2191 " + number(given.value) + " " + (given.unit || "");
    } else if (back) {
      back.remove();
    }
  }

  function renderCard(c, body) {
    const imports = body.registers.filter((r) => r.direction === "import");
    const exports = body.registers.filter((r) => r.direction === "export");
    c.registers = new Set(body.registers.map((r) => r.signal));
    c.power = new Map();
    for (const p of body.power) c.power.set(p.signal, { ...p });
    for (const p of body.power) showPower(c, p.signal, p.value, p.unit, p.time);
    const main = imports[0] || exports[0];
    const back = imports.length ? exports[0] : undefined;
    for (const item of c.el.querySelectorAll(".totals > div")) {
      const period = item.dataset.period;
      const dd = item.querySelector("dd");
      dd.textContent = "";
      if (!main) continue;
      const cur = main.current[period];
      const shown = figure(cur.value, main.unit, "import");
      if (cur.partial) shown.title = "the history begins within this period";
      dd.appendChild(shown);
      if (back) {
        const exp = back.current[period];
        const given = figure(exp.value, back.unit, "export");
        given.prepend("\u2191 ");
        given.title = "given back (" + back.signal + ")";
        dd.appendChild(given);
      }
      for (const other of imports.slice(1)) {
        dd.appendChild(figure(other.current[period].value, other.unit, "other"));
      }
    }
    let note = c.el.querySelector(".note");
    if (!note) {
      note = element("p", "note");
      c.el.querySelector(".bars").before(note);
    }
    const begins = main && main.since && main.bars.some((b) => b.partial) ? main.since : null;
    note.hidden = !begins;
    note.textContent = begins ? "history since " + localTime(begins) : "";
    const bars = c.el.querySelector(".bars");
    bars.textContent = "";
    if (!main) {
      bars.textContent = "no energy register is logged";
      return;
    }
    const values = main.bars.map((b) => b.value).concat(back ? back.bars.map((b) => b.value) : []);
    const top = Math.max(0, ...values.filter((v) => typeof v === "number"));
    bars.classList.toggle("empty", top === 0);
    bars.append(element("span", "scale", top > 0 ? number(top) + " " + (main.unit || "") : ""));
    const slots = element("div", "slots");
    main.bars.forEach((bar, i) => {
      const slot = element("div", "slot" + (bar.running ? " running" : ""));
      slot.dataset.start = bar.start;
      const stack = element("div", "stack");
      const parts = [[bar, main, "import"]];
      if (back) parts.push([back.bars[i], back, "export"]);
      const words = [];
      for (const [b, register, direction] of parts) {
        const el = element("div", "bar " + direction);
        const value = b && typeof b.value === "number" ? b.value : null;
        el.dataset.value = value === null ? "" : String(value);
        el.style.height = value !== null && top > 0 ? Math.max(1, (100 * value) / top) + "%" : "0";
        if (value === null) el.classList.add("unknown");
        stack.appendChild(el);
        words.push((direction === "export" ? "\u2191 " : "") +
          (value === null ? "no data" : number(value) + " " + (register.unit || "")));
      }
      slot.title = barTitle(bar.start, body.period) + ": " + words.join(", ") +
        (bar.partial ? " (history begins within it)" : "");
      slot.append(stack, element("span", "tick", barLabel(bar.start, body.period)));
      slots.appendChild(slot);
    });
    bars.appendChild(slots);
    if (back) {
      const legend = element("p", "legend");
      legend.append(element("span", "key import"), "taken", element("span", "key export"),
        "given back");
      legend.title = main.signal + ", " + back.signal;
      bars.appendChild(legend);
    }
    bars.setAttribute("aria-label", main.signal + " per " + body.period);
  }

  async function loadCard(c) {
    if (c.loading) return;
    c.loading = true;
    try {
      const query = new URLSearchParams({
        device: c.device, period: view.period, tz: zone, week_start: String(view.weekStart),
      });
      const answer = await fetch("api/energy?" + query);
      const body = await answer.json();
      if (!answer.ok) {
        c.el.querySelector(".bars").textContent = body.error || answer.statusText;
        return;
      }
      renderCard(c, body);
      c.el.dataset.period = body.period;
      view.energyLoads += 1;
    } finally {
      c.loading = false;
      c.loadedAt = Date.now();
    }
  }

  // Once the cards are filled the plot below them may have moved: fit it to the window again.
  function fitPlot() {
    if (view.plot) view.plot.setSize({ width: Math.max(280, place.clientWidth), height: plotHeight() });
  }

  function loadAll() {
    Promise.all([...cards.values()].map((c) => loadCard(c).catch(() => {}))).then(fitPlot);
  }

  // A new reading of a register: the figures are asked again, at most every 5 s per card,
  // and never at once (the margin above).
  function energyUpdate(u) {
    const c = cards.get(u.device);
    if (!c) return;
    if (c.power.has(u.signal)) showPower(c, u.signal, u.value, u.unit, u.time);
    if (!c.registers.has(u.signal) || c.timer) return;
    const wait = Math.max(STORED_AFTER_MS, 5000 - (Date.now() - c.loadedAt));
    c.timer = setTimeout(() => { c.timer = null; loadCard(c).catch(() => {}); }, wait);
  }

  for (const button of document.querySelectorAll(".periods button")) {
    button.addEventListener("click", () => {
      view.period = button.dataset.period;
      for (const b of document.querySelectorAll(".periods button")) {
        b.setAttribute("aria-pressed", String(b === button));
      }
      loadAll();
    });
  }

  const more = document.getElementById("energy-device");
  if (more) {
    more.addEventListener("change", () => {
      const device = more.value;
      if (!device) return;
      const known = cards.get(device);
      if (known) {
        known.el.scrollIntoView({ block: "nearest" });
        return;
      }
      const name = more.selectedOptions[0].textContent;
      loadCard(card(newCard(device, name))).catch(() => {});
    });
  }

  // -- history plot: several signals, the chosen range, zoomable -------------------------

  const form = document.getElementById("history-form");
  const range = document.getElementById("range");
  const custom = document.getElementById("custom-range");
  const status = document.getElementById("plot-status");
  const place = document.getElementById("plot");
  const summary = document.getElementById("series-summary");
  const resetButton = document.getElementById("reset-zoom");
  const palette = ["#1565c0", "#d84315", "#2e7d32", "#6a1b9a", "#00838f", "#f9a825", "#5d4037", "#ad1457"];

  function choices() {
    return [...document.querySelectorAll("#series-picker input[type=checkbox]")];
  }

  function chosen() {
    return choices().filter((i) => i.checked).map((i) => ({
      device: i.dataset.device, signal: i.dataset.signal, label: i.parentElement.textContent.trim(),
    }));
  }

  function showSummary() {
    const picked = chosen();
    summary.textContent = picked.length === 0 ? "choose signals"
      : picked.length === 1 ? picked[0].label : picked.length + " signals";
  }
  let redraw = null;
  for (const box of choices()) {
    box.addEventListener("change", () => {
      showSummary();
      clearTimeout(redraw); // a few boxes ticked in a row: one plot
      redraw = setTimeout(() => { draw().catch((err) => { status.textContent = String(err); }); }, 400);
    });
  }
  showSummary();

  function localInput(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 19);
  }

  range.addEventListener("change", () => {
    custom.hidden = range.value !== "custom";
    if (!custom.hidden && !document.getElementById("from").value) {
      const now = new Date();
      document.getElementById("from").value = localInput(new Date(now - 86400000));
      document.getElementById("to").value = localInput(now);
    }
    if (range.value !== "custom") draw();
  });

  function chosenRange() {
    if (range.value !== "custom") {
      const to = new Date();
      return [new Date(to - Number(range.value) * 1000), to];
    }
    const from = new Date(document.getElementById("from").value);
    const to = new Date(document.getElementById("to").value);
    return [from, to];
  }

  // The time axis in the page's one style: hours (with the date where it changes), days
  // or months, as the visible span asks.
  function timeTicks(u, splits, axis, space, step) {
    const span = u.scales.x.max - u.scales.x.min;
    let lastDay = "";
    return splits.map((split) => {
      const date = new Date(split * 1000);
      if (span > 120 * 86400) return tickMonth.format(date);
      const day = tickDay.format(date);
      if (step >= 86400) return day;
      const label = tickTime.format(date) + (day !== lastDay ? "\n" + day : "");
      lastDay = day;
      return label;
    });
  }

  // Room for the longest tick label of a value axis (meter readings have many digits).
  function axisWidth(u, values) {
    const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 6;
    return 18 + longest * 7;
  }

  // Around the data, not from zero: a meter reading moves little against its size.
  function valueRange(u, min, max) {
    if (min === null || max === null) return [0, 1];
    const pad = min === max ? Math.max(Math.abs(min) * 0.001, 1) : (max - min) * 0.05;
    return [min - pad, max + pad];
  }

  // A pause in the data longer than three steps is a gap in the line, not a straight jump.
  function withGaps(xs, ys, step) {
    if (xs.length < 3) return [xs, ys];
    let typical = step;
    if (!typical) {
      const steps = xs.slice(1).map((x, i) => x - xs[i]).sort((a, b) => a - b);
      typical = steps[Math.floor(steps.length / 2)];
    }
    const gx = [xs[0]];
    const gy = [ys[0]];
    for (let i = 1; i < xs.length; i++) {
      if (typical > 0 && xs[i] - xs[i - 1] > 3 * typical) {
        gx.push((xs[i] + xs[i - 1]) / 2);
        gy.push(null);
      }
      gx.push(xs[i]);
      gy.push(ys[i]);
    }
    return [gx, gy];
  }

  async function fetchSeries(s, from, to, points) {
    const query = new URLSearchParams({
      device: s.device, signal: s.signal, from: from.toISOString(), to: to.toISOString(),
      points: String(points),
    });
    const answer = await fetch("api/history?" + query);
    const body = await answer.json();
    if (!answer.ok) return { ...s, error: body.error || answer.statusText };
    const xs = [];
    const ys = [];
    for (const row of body.rows) {
      xs.push(Date.parse(row.time) / 1000); // uPlot's x values are Unix seconds
      ys.push(typeof row.value === "number" ? row.value : null);
    }
    const [gx, gy] = withGaps(xs, ys, body.step || 0);
    return { ...s, xs: gx, ys: gy, unit: body.unit || "", count: body.rows.length, step: body.step };
  }

  function zoomed() {
    const u = view.plot;
    if (!u || !view.range) return false;
    const x = u.scales.x;
    return Math.abs(x.min - view.range[0]) > 1 || Math.abs(x.max - view.range[1]) > 1;
  }

  function wholeRange() {
    if (view.plot && view.range) view.plot.setScale("x", { min: view.range[0], max: view.range[1] });
  }
  resetButton.addEventListener("click", wholeRange);

  // Tall enough to read, short enough that the first screen shows it whole (with its legend).
  function plotHeight() {
    if (window.innerWidth < 600) return 240;
    const top = place.getBoundingClientRect().top + window.scrollY;
    return Math.round(Math.max(220, Math.min(360, window.innerHeight - top - 56)));
  }

  // Only the newest request draws: an older one that answers later is dropped.
  let generation = 0;

  async function draw() {
    clearTimeout(redraw); // this one draws what a pending redraw would
    const mine = ++generation;
    view.drawing += 1;
    try {
      await drawAs(mine);
    } finally {
      view.drawing -= 1;
    }
  }

  async function drawAs(mine) {
    const series = chosen();
    if (series.length === 0) {
      status.textContent = choices().length ? "choose signals to plot"
        : "no signal keeps history (set log = 1 on a signal)";
      return;
    }
    const [from, to] = chosenRange();
    if (isNaN(from) || isNaN(to) || from >= to) {
      status.textContent = "choose a range: from before to";
      return;
    }
    status.textContent = "loading…";
    const width = Math.max(280, place.clientWidth || 800);
    const points = Math.max(100, Math.min(2000, Math.round(width)));
    const found = await Promise.all(series.map((s) => fetchSeries(s, from, to, points)));
    if (mine !== generation) return; // the choice changed meanwhile
    const shown = found.filter((f) => !f.error);
    const failed = found.filter((f) => f.error);
    if (view.plot) { view.plot.destroy(); view.plot = null; }
    if (shown.length === 0) {
      status.textContent = failed.map((f) => f.label + ": " + f.error).join("; ");
      return;
    }
    const units = [...new Set(shown.map((s) => s.unit))];
    const scales = { x: { time: true } };
    const axes = [{ values: timeTicks }];
    units.forEach((unit, i) => {
      scales["u" + i] = { range: valueRange };
      axes.push({
        scale: "u" + i, side: i % 2 === 0 ? 3 : 1, size: axisWidth, label: unit || undefined,
        labelSize: unit ? 18 : 0, grid: { show: i === 0 },
      });
    });
    const tables = shown.map((s) => [s.xs, s.ys]);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const opts = {
      width,
      height: plotHeight(),
      scales,
      axes,
      series: [
        { value: (u, v) => (v === null || v === undefined ? "—" : localTime(v * 1000)) },
        ...shown.map((s, i) => ({
          label: s.label,
          scale: "u" + units.indexOf(s.unit),
          stroke: palette[i % palette.length],
          width: 2,
          spanGaps: false,
          value: (u, v) => (v === null || v === undefined ? "—" : number(v) + (s.unit ? " " + s.unit : "")),
        })),
      ],
      cursor: {
        drag: { x: true, y: false },
        bind: { dblclick: () => () => { wholeRange(); return null; } },
      },
      hooks: { setScale: [(u, scale) => { if (scale === "x") resetButton.hidden = !zoomed(); }] },
    };
    view.range = [from.getTime() / 1000, to.getTime() / 1000];
    view.plot = new uPlot(opts, data, place);
    wholeRange(); // the range chosen, not the data's span
    view.plotted += 1;
    const count = shown.reduce((n, s) => n + s.count, 0);
    const averaged = shown.some((s) => s.step);
    status.textContent = count + " values" + (averaged ? " (averaged to the plot's width)" : "") +
      (failed.length ? "; " + failed.map((f) => f.label + ": " + f.error).join("; ") : "");
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    draw().catch((err) => { status.textContent = String(err); });
  });

  if (typeof ResizeObserver === "function") {
    let lastWidth = place.clientWidth;
    new ResizeObserver(() => {
      const width = place.clientWidth;
      if (view.plot && width && width !== lastWidth) {
        lastWidth = width;
        view.plot.setSize({ width: Math.max(280, width), height: plotHeight() });
      }
    }).observe(place);
  }

  // -- start -----------------------------------------------------------------------------

  function setLive(on) {
    view.live = on;
    const badge = document.getElementById("live");
    badge.className = "live " + (on ? "on" : "off");
    badge.textContent = on ? "live" : "reconnecting…";
  }

  function take(event, fn) {
    const data = JSON.parse(event.data);
    data.devices.forEach(showDevice);
    data.updates.forEach(showUpdate);
    fn();
  }

  document.getElementById("zone").textContent = zoneLabel();
  showTimes(document);
  refreshAges();
  setInterval(refreshAges, 1000);
  setInterval(() => { refreshOutputs().catch(() => {}); }, 5000);
  setInterval(loadAll, 60000); // a new day begins, a slow meter's figures move on
  loadAll();
  draw().catch((err) => { status.textContent = String(err); });

  const events = new EventSource("api/events");
  events.addEventListener("snapshot", (e) => take(e, () => setLive(true)));
  events.addEventListener("batch", (e) => take(e, () => { view.batches += 1; }));
  events.addEventListener("error", () => setLive(false));
})();
