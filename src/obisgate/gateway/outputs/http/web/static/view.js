// obisgate web view: live values from /api/events (server-sent events) and history plots
// from /api/history with uPlot. Read-only: it never sends anything but GET requests.
"use strict";
(() => {
  const view = { plot: null, live: false, batches: 0 };
  window.obisgate = view; // for tests and the curious: the current uPlot and counters

  const key = (device, signal) => device + "\u0000" + signal;
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
    for (const name of names) {
      const td = document.createElement("td");
      td.className = name;
      row.appendChild(td);
    }
    tbody.appendChild(row);
    return row;
  }

  function localTime(iso) {
    if (!iso) return "";
    const time = new Date(iso);
    return isNaN(time) ? iso : time.toLocaleString();
  }

  function age(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function showDevice(d) {
    let row = deviceRows.get(d.device);
    if (!row) {
      row = newRow(document.querySelector("#devices tbody"),
        ["device", "name", "status", "since", "last-success", "last-error", "failures"]);
      row.dataset.device = d.device;
      cell(row, "device").textContent = d.device;
      cell(row, "name").textContent = d.name;
      deviceRows.set(d.device, row);
    }
    const state = d.up === true ? "ok" : d.up === false ? "down" : "pending";
    row.dataset.state = state;
    const status = cell(row, "status");
    status.textContent = "";
    const badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.textContent = state === "pending" ? "…" : state;
    status.appendChild(badge);
    if (d.status !== "ok") status.appendChild(document.createTextNode(d.status));
    cell(row, "since").textContent = localTime(d.since);
    cell(row, "last-success").textContent = localTime(d.last_success);
    cell(row, "last-error").textContent =
      d.last_error ? d.last_error + " (" + localTime(d.last_error_time) + ")" : "";
    cell(row, "failures").textContent = String(d.failures);
  }

  function showUpdate(u) {
    let row = signalRows.get(key(u.device, u.signal));
    if (!row) {
      row = newRow(document.querySelector("#signals tbody"),
        ["device", "signal", "value", "unit", "quality", "age"]);
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
    cell(row, "age").textContent = age(u.time);
  }

  // -- outputs: their health from /api/gateway, every few seconds ----------------

  const outputRows = new Map();
  for (const row of document.querySelectorAll("#outputs tbody tr")) {
    outputRows.set(row.dataset.output, row);
    const td = cell(row, "since");
    if (td.dataset.time) td.textContent = localTime(td.dataset.time);
  }
  const outputBadge = { running: "ok", starting: "pending", connecting: "pending", closed: "pending" };

  function showOutput(name, h) {
    let row = outputRows.get(name);
    if (!row) {
      row = newRow(document.querySelector("#outputs tbody"),
        ["output", "state", "since", "address", "last-error", "counters"]);
      row.dataset.output = name;
      cell(row, "output").textContent = name;
      outputRows.set(name, row);
    }
    row.dataset.state = h.state;
    const state = cell(row, "state");
    state.textContent = "";
    const badge = document.createElement("span");
    badge.className = "badge " + (outputBadge[h.state] || "down");
    badge.textContent = h.state;
    state.appendChild(badge);
    cell(row, "since").textContent = localTime(h.since);
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
  view.outputRefreshes = 0;
  setInterval(() => { refreshOutputs().catch(() => {}); }, 5000);

  function refreshAges() {
    for (const row of signalRows.values()) {
      if (row.dataset.time) cell(row, "age").textContent = age(row.dataset.time);
    }
  }

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

  // Times on the page are local; rendered server-side as ISO 8601 in UTC.
  for (const row of deviceRows.values()) {
    for (const name of ["since", "last-success"]) {
      const td = cell(row, name);
      if (td.dataset.time) td.textContent = localTime(td.dataset.time);
    }
  }
  refreshAges();
  setInterval(refreshAges, 1000);

  const events = new EventSource("api/events");
  events.addEventListener("snapshot", (e) => take(e, () => setLive(true)));
  events.addEventListener("batch", (e) => take(e, () => { view.batches += 1; }));
  events.addEventListener("error", () => setLive(false));

  // -- history plot ----------------------------------------------------------

  const form = document.getElementById("history-form");
  const range = document.getElementById("range");
  const custom = document.getElementById("custom-range");
  const status = document.getElementById("plot-status");
  const place = document.getElementById("plot");

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

  // Room for the longest tick label of the value axis (meter readings have many digits).
  function yAxisWidth(u, values) {
    const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 6;
    return 24 + longest * 7;
  }

  // Around the data, not from zero: a meter reading moves little against its size.
  function valueRange(u, min, max) {
    if (min === null || max === null) return [0, 1];
    const pad = min === max ? Math.max(Math.abs(min) * 0.001, 1) : (max - min) * 0.05;
    return [min - pad, max + pad];
  }

  async function plot() {
    const option = document.getElementById("series").selectedOptions[0];
    if (!option) {
      status.textContent = "no signal keeps history (set log = 1 on a signal)";
      return;
    }
    const [from, to] = chosenRange();
    if (isNaN(from) || isNaN(to)) {
      status.textContent = "choose both ends of the range";
      return;
    }
    const query = new URLSearchParams({
      device: option.dataset.device,
      signal: option.dataset.signal,
      from: from.toISOString(),
      to: to.toISOString(),
    });
    status.textContent = "loading…";
    const answer = await fetch("api/history?" + query);
    const body = await answer.json();
    if (!answer.ok) {
      status.textContent = body.error || answer.statusText;
      return;
    }
    const xs = [];
    const ys = [];
    for (const row of body.rows) {
      xs.push(Date.parse(row.time) / 1000); // uPlot's x values are Unix seconds
      ys.push(typeof row.value === "number" ? row.value : null);
    }
    if (view.plot) view.plot.destroy();
    const label = option.textContent + (body.unit ? " [" + body.unit + "]" : "");
    view.plot = new uPlot(
      {
        width: Math.max(320, place.clientWidth || 800),
        height: 320,
        scales: { x: { time: true }, y: { range: valueRange } },
        axes: [{}, { size: yAxisWidth }],
        series: [{}, { label: label, stroke: "#1565c0", width: 2, spanGaps: false }],
      },
      [xs, ys],
      place,
    );
    status.textContent = body.rows.length + " values" + (body.truncated ? " (the newest only)" : "");
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    plot().catch((err) => { status.textContent = String(err); });
  });
})();
