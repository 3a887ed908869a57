// The app page's CPU and memory graphs (templates/apps/_usage.html), drawn with the vendored
// uPlot (static/vendor/uplot): the app's total and each program, for the last hour or the
// last day, from usage.json (hosting.usage). Restart marks are drawn as vertical lines at
// their times (the reason shows on hover) and listed beside the charts.
// The data is fetched again on each `usage` event of the app's event stream
// (GET /apps/<id>/events) and, where the stream is not there, every 10 s.
"use strict";

(function () {
  const section = document.querySelector("[data-usage]");
  if (!section || typeof uPlot === "undefined") return;
  const POLL_MS = 10000;
  const HEIGHT = 190;
  const APP_COLOR = "#1f2330";
  const COLORS = ["#4f46e5", "#0891b2", "#ca8a04", "#db2777", "#16a34a", "#9333ea", "#ea580c", "#0d9488"];
  // A transition into one of these is an exit nobody asked for (drawn red); others amber.
  const CRASHES = new Set(["EXITED", "BACKOFF", "FATAL"]);
  // Memory ticks at round binary sizes (1, 2, 5, 10, 20, 50... KiB, MiB, GiB).
  const BYTE_TICKS = [1024, 1024 ** 2, 1024 ** 3].flatMap((unit) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * unit));
  const KINDS = {
    cpu: { format: (v) => (v === null || v === undefined ? "—" : `${v.toFixed(1)} %`), floor: 5 },
    memory: { format: bytes, floor: 16 * 1024 * 1024, incrs: BYTE_TICKS },
  };
  // An app sampled for a short while only: its charts start a little before its first
  // sample instead of squeezing it against the right edge of a mostly empty range.
  const MIN_SPAN = { hour: 120, day: 3600 };
  const charts = {}; // kind -> {plot, names}
  let range = "hour";
  let step = 10; // seconds a point stands for: the x axis ends where the last one does
  let marks = [];
  let loading = false;

  function bytes(value) {
    if (value === null || value === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let index = 0;
    while (value >= 1024 && index < units.length - 1) { value /= 1024; index += 1; }
    return `${value.toFixed(value >= 100 || index === 0 ? 0 : 1)} ${units[index]}`;
  }

  function clock(seconds, withDate) {
    const date = new Date(seconds * 1000);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    return withDate ? `${date.toLocaleDateString()} ${time}` : time;
  }

  function markText(mark) {
    return `${clock(mark.time, range === "day")} ${mark.process}: ${mark.from || "—"} → ${mark.to} (${mark.reason || "no reason"})`;
  }

  // Draws the marks on the chart's canvas and lays a hover target (with the reason as its
  // title) over each, in uPlot's own overlay.
  function marksPlugin() {
    return {
      hooks: {
        draw: [(plot) => {
          const ctx = plot.ctx;
          const { left, top, width, height } = plot.bbox;
          ctx.save();
          ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1);
          ctx.setLineDash([5, 4]);
          plot.over.querySelectorAll(".usage-mark").forEach((node) => node.remove());
          for (const mark of marks) {
            const x = Math.round(plot.valToPos(mark.time, "x", true));
            if (x < left || x > left + width) continue;
            ctx.strokeStyle = CRASHES.has(mark.to) ? "#dc2626" : "#d97706";
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            const handle = document.createElement("div");
            handle.className = "usage-mark" + (CRASHES.has(mark.to) ? " crash" : "");
            handle.style.left = `${plot.valToPos(mark.time, "x") - 4}px`;
            handle.title = markText(mark);
            plot.over.appendChild(handle);
          }
          ctx.restore();
        }],
      },
    };
  }

  // Outside a hover, the legend shows the latest values rather than dashes.
  function latestInLegend() {
    let busy = false;
    return {
      hooks: {
        setLegend: [(plot) => {
          if (busy || plot.cursor.idx !== null && plot.cursor.idx !== undefined) return;
          const values = plot.data[1];
          let last = values.length - 1;
          while (last >= 0 && values[last] === null) last -= 1;
          if (last < 0) return;
          busy = true;
          plot.setLegend({ idx: last });
          busy = false;
        }],
      },
    };
  }

  // The grid from a little before the first sample, or all of it.
  function window_(payload) {
    const series = [payload.app.cpu, payload.app.memory, ...Object.values(payload.processes).map((p) => p.memory)];
    let first = payload.t.length;
    for (const values of series) {
      const index = values.findIndex((v) => v !== null);
      if (index >= 0) first = Math.min(first, index);
    }
    const keep = Math.ceil(MIN_SPAN[payload.range] / payload.step);
    return Math.max(0, Math.min(first - 1, payload.t.length - keep));
  }

  function options(kind, names, width) {
    const format = KINDS[kind].format;
    const series = [{ value: (plot, t) => (t === null ? "—" : clock(t, range === "day")) }];
    series.push({ label: "app", stroke: APP_COLOR, width: 2, value: (plot, v) => format(v) });
    names.forEach((name, index) => {
      series.push({ label: name, stroke: COLORS[index % COLORS.length], width: 1.25, value: (plot, v) => format(v) });
    });
    return {
      width,
      height: HEIGHT,
      series,
      scales: { x: { time: true, range: (plot, low, high) => [low, high + step] }, y: { range: (plot, low, high) => [0, Math.max(KINDS[kind].floor, (high || 0) * 1.15)] } },
      axes: [{}, { values: (plot, splits) => splits.map(format), size: 70, incrs: KINDS[kind].incrs }],
      plugins: [marksPlugin(), latestInLegend()],
      cursor: { drag: { x: false, y: false } },
    };
  }

  function draw(kind, payload) {
    const element = section.querySelector(`[data-usage-chart="${kind}"]`);
    const names = Object.keys(payload.processes);
    const from = window_(payload);
    const columns = [payload.t, payload.app[kind], ...names.map((name) => payload.processes[name][kind])]
      .map((values) => values.slice(from));
    let chart = charts[kind];
    if (chart && chart.names.join("\n") !== names.join("\n")) { // programs came or went
      chart.plot.destroy();
      chart = null;
    }
    if (!chart) {
      element.textContent = "";
      chart = charts[kind] = { names, plot: new uPlot(options(kind, names, element.clientWidth || 600), columns, element) };
    } else {
      chart.plot.setData(columns);
    }
    element.dataset.series = String(columns.length - 1);
    element.dataset.points = String(payload.app[kind].filter((v) => v !== null).length);
  }

  function listMarks() {
    const list = section.querySelector("[data-usage-marks]");
    list.textContent = "";
    for (const mark of marks.slice().reverse()) {
      const item = document.createElement("li");
      item.className = "small" + (CRASHES.has(mark.to) ? " text-error" : "");
      item.dataset.usageMark = "";
      item.textContent = markText(mark);
      list.appendChild(item);
    }
    if (!marks.length) {
      const item = document.createElement("li");
      item.className = "muted small";
      item.textContent = "None in this range.";
      list.appendChild(item);
    }
    section.dataset.marks = String(marks.length);
  }

  async function refresh() {
    if (loading) return;
    loading = true;
    const note = section.querySelector("[data-usage-note]");
    try {
      const url = `${section.dataset.usageUrl}?range=${encodeURIComponent(range)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      const payload = await response.json();
      marks = payload.marks || [];
      step = payload.step;
      draw("cpu", payload);
      draw("memory", payload);
      listMarks();
      const sampled = payload.app.memory.some((v) => v !== null);
      const every = payload.step >= 60 ? `${payload.step / 60} min averages` : `a point every ${payload.step} s`;
      note.textContent = sampled ? `The last ${payload.range}, ${every}; gaps: no sample (the app was down or not sampled).`
        : "No samples yet: the host samples each app every few seconds.";
      section.dataset.loaded = payload.range;
    } catch (error) {
      console.warn(error);
      note.textContent = "Could not load the graphs; trying again.";
    } finally {
      loading = false;
    }
  }

  section.querySelectorAll("[data-usage-range]").forEach((button) => {
    button.addEventListener("click", () => {
      range = button.dataset.usageRange;
      section.querySelectorAll("[data-usage-range]").forEach((other) => {
        other.classList.toggle("active", other === button);
        other.setAttribute("aria-pressed", String(other === button));
      });
      refresh();
    });
  });

  window.addEventListener("resize", () => {
    for (const kind of Object.keys(charts)) {
      const element = section.querySelector(`[data-usage-chart="${kind}"]`);
      charts[kind].plot.setSize({ width: element.clientWidth, height: HEIGHT });
    }
  });

  // Fetch again on each usage event of the app's stream (panel.js follows it and passes
  // them on as "panel:usage", so the page holds one stream); with no event for POLL_MS (no
  // stream, or it is refused), fetch anyway: a little longer than the sampler's round, so
  // that with a live stream the timer never fires.
  function follow() {
    const quietMs = POLL_MS + 5000;
    let timer = setTimeout(tick, quietMs);
    function tick() {
      clearTimeout(timer);
      refresh();
      timer = setTimeout(tick, quietMs);
    }
    document.addEventListener("panel:usage", tick);
  }

  refresh();
  follow();
})();
