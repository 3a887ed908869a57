// The panel's live parts, in plain JavaScript (no framework, nothing from a CDN):
// - an app page listens to its event stream (server-sent events, admin_web/live.py) and
//   redraws the process table, each service's actual state beside the one asked for, what
//   is not as asked (with Retry), the activity list and the restart history (with crash
//   logs); when the stream is refused or lost it polls the status JSON every POLL_MS
//   instead, and tries the stream again later;
// - the apps list does the same with every app's state;
// - a job card (shown after a click) follows its job: queued -> running -> done/failed,
//   read again at once when the app's stream says one of its jobs changed;
// - the log viewer reads a log (a GET: no job) and, when following, reads it again;
// - forms with data-confirm ask first.
"use strict";

(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const POLL_MS = parseInt(meta("poll-ms"), 10) || 2000;
  const CSRF = meta("csrf-token");

  async function getJSON(url) {
    const response = await fetch(url, {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
    });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function stateClass(state) {
    return "state-" + String(state || "unknown").toLowerCase().replace(/\s+/g, "-");
  }

  function setBadge(element, text) {
    if (!element) return;
    element.textContent = text;
    element.className = element.className.replace(/\bstate-[\w-]+/g, "").trim() + " " + stateClass(text);
  }

  function uptime(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const days = Math.floor(seconds / 86400);
    let rest = seconds % 86400;
    const hours = Math.floor(rest / 3600);
    rest %= 3600;
    const text = `${hours}:${String(Math.floor(rest / 60)).padStart(2, "0")}:${String(rest % 60).padStart(2, "0")}`;
    return days ? `${days}d ${text}` : text;
  }

  function when(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").replace(/\..*$/, "").replace(/\+00:00$/, "");
  }

  // Poll `fn` every POLL_MS until it returns true; a failed request just tries again.
  // `now()` polls at once (again right after, when a poll is under way); `stop()` stops.
  function poll(fn) {
    let stopped = false, busy = false, again = false, timer = null;
    async function tick() {
      if (stopped) return;
      if (busy) { again = true; return; }
      clearTimeout(timer);
      busy = true;
      let done = false;
      try { done = await fn(); } catch (error) { console.warn(error); }
      busy = false;
      if (done) stopped = true;
      if (stopped) return;
      if (again) { again = false; tick(); } else timer = setTimeout(tick, POLL_MS);
    }
    tick();
    return { now: tick, stop() { stopped = true; clearTimeout(timer); } };
  }

  const STREAM_RETRY_MS = 30000;  // a refused stream (503 beyond the cap...) is tried again
  const STREAM_GRACE_MS = 3000;   // a stream reconnecting longer than this: poll meanwhile

  // Follow `url`'s server-sent events with `handlers` ({event name: fn(data)}); while the
  // stream is refused or down, `pollOnce` every POLL_MS instead (the page as before).
  function follow(url, handlers, pollOnce) {
    let source = null, poller = null, graceTimer = null;
    const startPolling = () => { if (!poller) poller = poll(async () => { await pollOnce(); return false; }); };
    const stopPolling = () => { if (poller) { poller.stop(); poller = null; } };
    function connect() {
      if (!url || !window.EventSource) { startPolling(); return; }
      source = new EventSource(url);
      for (const [name, handler] of Object.entries(handlers)) {
        source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
      }
      source.addEventListener("open", () => { clearTimeout(graceTimer); stopPolling(); });
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED) {  // refused: poll, try again later
          source = null;
          startPolling();
          setTimeout(connect, STREAM_RETRY_MS);
        } else {  // reconnecting by itself (the stream's end, a panel restart)
          clearTimeout(graceTimer);
          graceTimer = setTimeout(() => {
            if (source && source.readyState !== EventSource.OPEN) startPolling();
          }, STREAM_GRACE_MS);
        }
      });
    }
    connect();
  }

  // -- the app page ---------------------------------------------------------------------

  function processRow(template, section, process) {
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.process = process.target;
    row.querySelector("[data-name]").textContent = process.name;
    row.querySelector("[data-group]").textContent = process.group !== process.name ? `(${process.group})` : "";
    row.querySelector("[data-kind]").textContent = process.kind;
    const urlTemplate = section.dataset.controlUrl;
    row.querySelectorAll("form[data-action]").forEach((form) => {
      form.action = urlTemplate.replace("__TARGET__", encodeURIComponent(process.target))
        .replace("__ACTION__", form.dataset.action);
      form.querySelector('input[name="csrf_token"]').value = CSRF;
    });
    const link = row.querySelector("[data-log-link]");
    link.href = `${section.dataset.logsUrl}?program=${encodeURIComponent(process.name)}`;
    return row;
  }

  function updateRow(row, process) {
    setBadge(row.querySelector("[data-state]"), process.state);
    row.querySelector("[data-pid]").textContent = process.pid || "—";
    const cell = row.querySelector("[data-uptime]");
    // Statuses are pushed when something changes, not every few seconds: the uptime goes
    // on counting here, from when the status said it was.
    cell.dataset.since = process.uptime === null || process.uptime === undefined
      ? "" : String(Date.now() / 1000 - process.uptime);
    cell.textContent = uptime(process.uptime);
    row.querySelector("[data-description]").textContent = process.description || "";
  }

  setInterval(() => {
    document.querySelectorAll("[data-uptime][data-since]").forEach((cell) => {
      if (!cell.dataset.since) return;
      const seconds = Math.floor(Date.now() / 1000 - parseFloat(cell.dataset.since));
      cell.textContent = uptime(seconds);
      // The runtime's own words for a running process say the same: they go on too.
      const description = cell.closest("tr").querySelector("[data-description]");
      description.textContent = description.textContent.replace(
        /^(pid \d+, uptime ).*$/, (_, head) => head + uptime(seconds));
    });
  }, 1000);

  function renderActivity(list, jobs) {
    if (!list) return;
    list.replaceChildren();
    if (!jobs.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "Nothing yet.";
      list.append(empty);
    }
    for (const job of jobs) {
      const item = document.createElement("li");
      item.dataset.jobId = job.id;
      const badge = document.createElement("span");
      badge.className = "badge";
      setBadge(badge, job.status);
      const title = document.createElement("span");
      title.className = "strong";
      title.textContent = ` ${job.title} `;
      const who = document.createElement("span");
      who.className = "muted small";
      who.textContent = `${(job.actor || "").replace("user:", "")} · ${when(job.created_at)}`;
      item.append(badge, title, who);
      if (job.error) {
        const error = document.createElement("div");
        error.className = "text-error small";
        error.textContent = job.error.split("\n")[0].slice(0, 160);
        item.append(error);
      }
      list.append(item);
    }
  }

  // Desired beside actual: each service's actual badge, and the list of what differs.
  function renderDifferences(status) {
    for (const service of status.services || []) {
      const badge = document.querySelector(`[data-service-actual="${CSS.escape(service.name)}"]`);
      setBadge(badge, service.actual);
    }
    const box = document.querySelector("[data-differences]");
    if (!box) return;
    const apply = status.apply;
    const failed = Boolean(apply && apply.state === "failed");
    const lines = [...(status.differences || [])];
    if (failed && !lines.length) lines.push(`${apply.title}: failed: ${(apply.error || "").split("\n")[0]}`);
    box.querySelector("[data-difference-list]").replaceChildren(...lines.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }));
    const retry = box.querySelector("[data-retry-form]");
    retry.hidden = !failed;
    if (failed) retry.action = box.dataset.retryUrl.replace("__JOB__", encodeURIComponent(apply.job));
    box.hidden = !lines.length;
  }

  // Tenant files the app's runtime set aside, as the template's _notice.html shows them.
  function renderNotices(list, notices) {
    if (!list) return;
    list.hidden = notices.length === 0;
    list.replaceChildren(...notices.map((notice) => {
      const item = document.createElement("li");
      item.className = "text-error small";
      item.dataset.configNotice = "";
      const label = document.createElement("strong");
      label.textContent = "Set aside:";
      const file = document.createElement("code");
      file.textContent = notice.file;
      let where = notice.line ? ` line ${notice.line}` : "";
      if (notice.section) where += ` [${notice.section}]`;
      if (notice.key) where += ` ${notice.key} = ${notice.value}`;
      item.append(label, " ", file, `${where} — ${notice.error}. `,
        "The rest of the app runs; fix the file, then restart or update.");
      return item;
    }));
  }

  // The restart history, newest first (presenters.history_payload); a crash log left open
  // stays open when the list is redrawn.
  function historyRow(template, entry) {
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.key = `${entry.time}|${entry.process}`;
    row.querySelector("[data-at]").textContent = entry.at ? entry.at.replace("T", " ").replace("+00:00", "") : "—";
    row.querySelector("[data-process]").textContent = entry.process || "";
    for (const [selector, state] of [["[data-from]", entry.from], ["[data-to]", entry.to]]) {
      const badge = row.querySelector(selector);
      badge.textContent = state || "—";
      badge.className = `badge ${stateClass(state || "unknown")}`;
    }
    row.querySelector("[data-reason] .kind").textContent = entry.reason || "";
    row.querySelector("[data-description]").textContent = entry.description || "";
    const crash = row.querySelector("[data-crash-log]");
    crash.hidden = !entry.log_tail;
    crash.querySelector("pre").textContent = entry.log_tail || "";
    return row;
  }

  function renderHistory(box, payload) {
    if (!box) return;
    const tbody = box.querySelector("[data-history-rows]");
    const template = document.getElementById("history-row");
    const open = new Set([...tbody.querySelectorAll("tr[data-key]")]
      .filter((row) => row.querySelector("details[open]")).map((row) => row.dataset.key));
    const rows = payload.history.map((entry) => historyRow(template, entry));
    rows.forEach((row) => { if (open.has(row.dataset.key)) row.querySelector("details").open = true; });
    if (!rows.length) {
      const empty = document.createElement("tr");
      empty.className = "empty";
      empty.innerHTML = '<td colspan="5" class="muted center">No restarts recorded yet.</td>';
      rows.push(empty);
    }
    tbody.replaceChildren(...rows);
    const more = box.querySelector("[data-history-more]");
    if (more) more.hidden = !payload.more;
  }

  function watchAppPage(section) {
    const tbody = section.querySelector("[data-process-rows]");
    const template = document.getElementById("process-row");
    const note = section.querySelector("[data-status-note]");
    const headerBadge = document.querySelector("h1 [data-app-state]");
    const activity = document.querySelector("[data-activity]");
    const down = section.querySelector("[data-runtime-down]");
    const history = document.querySelector("[data-history]");
    // A status read (a fetch after a job event) can come back after a newer one from the
    // stream: never draw an older status over a newer one ("updated": when it was written).
    let drawnUpdated = 0;
    const draw = (status) => {
      if (status.updated && status.updated < drawnUpdated) return;
      drawnUpdated = status.updated || drawnUpdated;
      setBadge(headerBadge, status.state);
      const why = status.runtime_state;  // set while the runtime is down: the host's view
      if (note) {
        note.textContent = status.state === "unknown" ? "no status from the host yet"
          : status.runtime === "down" ? (why ? `runtime ${why.state}` : "runtime not answering")
          : `live · ${status.running}/${status.total} running`;
      }
      if (down) {
        down.hidden = !why;
        down.querySelector("[data-runtime-state]").textContent = why ? why.state : "";
        down.querySelector("[data-runtime-cause]").textContent = why ? why.cause : "";
      }
      const existing = new Map([...tbody.querySelectorAll("tr[data-process]")].map((r) => [r.dataset.process, r]));
      const wanted = status.processes.map((p) => p.target);
      const sameSet = wanted.length === existing.size && wanted.every((t) => existing.has(t));
      if (!sameSet) {
        tbody.replaceChildren(...status.processes.map((p) => processRow(template, section, p)));
      }
      for (const process of status.processes) {
        const row = tbody.querySelector(`tr[data-process="${CSS.escape(process.target)}"]`);
        if (row) updateRow(row, process);
      }
      renderDifferences(status);
      renderNotices(section.querySelector("[data-config-notices]"), status.notices || []);
      renderActivity(activity, status.jobs || []);
    };
    const drawHistory = (payload) => renderHistory(history, payload);
    const readStatus = async () => draw(await getJSON(section.dataset.statusUrl));
    follow(section.dataset.eventsUrl, {
      status: draw,
      history: drawHistory,
      // One of the app's jobs changed: its card and the activity list read it now.
      job: () => {
        document.dispatchEvent(new CustomEvent("panel:job"));
        readStatus().catch((error) => console.warn(error));
      },
      // A new CPU/memory sample: the graphs (usage.js) read it; one stream serves both.
      usage: () => document.dispatchEvent(new CustomEvent("panel:usage")),
    }, async () => {
      await readStatus();
      if (history) drawHistory(await getJSON(history.dataset.historyUrl));
    });
  }

  // -- the apps list --------------------------------------------------------------------

  function watchAppsList(grid) {
    const draw = (data) => {
      for (const [id, state] of Object.entries(data.apps)) {
        const card = grid.querySelector(`[data-app-id="${id}"]`);
        if (!card) continue;
        setBadge(card.querySelector("[data-app-state]"), state.state);
        card.querySelector("[data-app-count]").textContent = `${state.running}/${state.total}`;
      }
    };
    follow(grid.dataset.appsEventsUrl, { status: draw },
      async () => draw(await getJSON(grid.dataset.appsStatusUrl)));
  }

  // -- job cards ------------------------------------------------------------------------

  function watchJobCard(card) {
    const badge = card.querySelector("[data-job-status]");
    const detail = card.querySelector("[data-job-detail]");
    const log = card.querySelector("[data-job-log]");
    const poller = poll(async () => {
      const { job } = await getJSON(card.dataset.jobUrl);
      card.querySelector(".jobcard-title").textContent = job.title;
      setBadge(badge, job.status);
      card.classList.toggle("is-done", job.status === "done");
      card.classList.toggle("is-failed", job.status === "failed");
      detail.textContent = {
        queued: "waiting for a worker…",
        running: "running on the host…",
        done: `done at ${when(job.finished_at)}`,
        failed: job.error ? job.error.split("\n")[0] : "failed",
      }[job.status] || job.status;
      if (job.status === "failed" && (job.error || job.log_tail)) {
        log.hidden = false;
        log.textContent = (job.error || "") + (job.log_tail ? `\n\n--- log tail ---\n${job.log_tail}` : "");
      }
      return job.finished;
    });
    document.addEventListener("panel:job", () => poller.now());
  }

  // -- the log viewer -------------------------------------------------------------------

  // Reading is a GET of logs.json (the app's host reads it; no job, no audit record);
  // following reads it again every POLL_MS.
  function watchLogViewer(form) {
    const output = document.querySelector("[data-log-output]");
    const status = form.querySelector("[data-log-status]");
    const follow = form.querySelector("[data-follow]");
    let timer = null;
    let busy = false;

    async function readOnce() {
      if (busy) return;
      busy = true;
      try {
        const query = new URLSearchParams(new FormData(form));
        query.delete("follow");
        const response = await fetch(`${form.dataset.jsonUrl}?${query}`, {
          headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
        });
        const data = await response.json();
        if (!response.ok) {
          status.textContent = (data.error && data.error.message) || `HTTP ${response.status}`;
          return;
        }
        const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 40;
        output.textContent = data.text || "(the log is empty)";
        if (atBottom) output.scrollTop = output.scrollHeight;
        status.textContent = `read at ${new Date().toLocaleTimeString()}`;
      } catch (error) {
        status.textContent = String(error);
      } finally {
        busy = false;
        if (follow.checked) timer = setTimeout(readOnce, POLL_MS);
      }
    }

    follow.addEventListener("change", () => {
      clearTimeout(timer);
      if (follow.checked) readOnce();
    });
    output.scrollTop = output.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    const section = document.querySelector("[data-status-url]");
    if (section) watchAppPage(section);
    const grid = document.querySelector("[data-apps-status-url]");
    if (grid) watchAppsList(grid);
    document.querySelectorAll("[data-job-url].jobcard").forEach(watchJobCard);
    const logForm = document.getElementById("log-form");
    if (logForm) watchLogViewer(logForm);
  });
})();
