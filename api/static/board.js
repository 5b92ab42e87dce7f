// The board: key figures, overdue work and live warnings, the alert list, scorecards, the daily chart, and the
// drill-down from any of them to the records behind it.
"use strict";

const PENALTY_KINDS = ["reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension",
  "late_report", "escalation"];
const liveWarnings = new Map();  // record id -> warning: kept across reloads of the overdue list until withdrawn
let chart = null;

function boardRow({ kind, caseId, step, agency, handler, limit, at, left, record }) {
  const tr = document.createElement("tr");
  tr.dataset.case = caseId;
  tr.dataset.step = step || "";
  if (record) tr.dataset.record = record;
  const level = document.createElement("td"); level.append(badge(kind)); tr.append(level);
  for (const v of [caseId, step ? stepTitle(step) : "（办件）", agencyName(agency), officialName(handler), limit, at, left]) {
    tr.append(cell(v));
  }
  tr.children[3].title = agency || ""; tr.children[4].title = handler || "";  // the codes, on hover
  tr.addEventListener("click", () => openCase(caseId));
  return tr;
}

function warningRow(r) {
  const left = r.limit_seconds != null && r.level_seconds != null ? "剩余 " + duration(r.limit_seconds - r.level_seconds) : "";
  return boardRow({ kind: "warning", caseId: r.case_id, step: r.step, agency: r.agency_id, handler: r.handler_id,
    limit: r.limit_seconds ? duration(r.limit_seconds) : "", at: when(r.at), left, record: r.id });
}

async function loadBoard() {
  const handled = $("#handled").value ? "&handled=" + $("#handled").value : "";
  const page = await api("/v1/overdue?limit=200&" + filters() + handled);
  const now = Date.now();
  const overdue = page.items.map((o) => boardRow({ kind: o.kind === "case" ? "case_overdue" : "overdue",
    caseId: o.case_id, step: o.step, agency: o.agency_id, handler: o.handler_id,
    limit: o.limit_seconds ? duration(o.limit_seconds) : "", at: when(o.deadline),
    left: "超时 " + duration(o.overdue_seconds) + (o.handled ? "（已处理）" : "") }));
  // Running clocks nearest their deadline: time left (working time on the item's calendar), share of the limit used.
  const risk = await api("/v1/at-risk?limit=20&" + filters());
  const soon = risk.items.map((o) => boardRow({ kind: "at_risk", caseId: o.case_id, step: o.step, agency: o.agency_id,
    handler: o.handler_id, limit: o.limit_seconds ? duration(o.limit_seconds) : "", at: when(o.deadline),
    left: "剩余 " + duration(o.left_working_seconds ?? o.left_seconds) +
      (o.used_share != null ? `（已用 ${Math.round(o.used_share * 100)}%）` : "") + (o.paused ? "（暂停中）" : "") }));
  const late = new Set(page.items.map((o) => `${o.case_id}|${o.step || ""}`));
  // A warning stays until its step is overdue (then the overdue row says more) or it is an hour old.
  for (const [id, r] of liveWarnings) {
    if (late.has(`${r.case_id}|${r.step || ""}`) || now - Date.parse(r.at) > 3600e3) liveWarnings.delete(id);
  }
  $("#board tbody").replaceChildren(...[...liveWarnings.values()].map(warningRow), ...overdue, ...soon);
  labelled($("#board"));
}

// A revocation or an upheld appeal withdraws the alarm it names: off the board, struck through in the alert list.
function withdraw(r) {
  liveWarnings.delete(r.revokes);
  for (const el of document.querySelectorAll(`[data-record="${CSS.escape(r.revokes)}"]`)) {
    if (el.tagName === "TR") el.remove(); else el.classList.add("revoked");
  }
}

function showAlert(r) {
  if (r.revokes) withdraw(r);
  if (!PENALTY_KINDS.includes(r.kind) && !["index_alarm", "revocation", "adjustment"].includes(r.kind)) {
    if (typeof loadWork === "function") loadWork().catch(() => {});  // a 督办, reply, appeal …: the panel moves
    return;
  }
  const li = document.createElement("li");
  li.dataset.case = r.case_id;
  li.dataset.record = r.id;
  const text = r.kind === "index_alarm" ? ` ${agencyName(r.agency_id)} 本月指数转为${COLOUR[r.colour] || r.colour}` :
    ` ${r.case_id} ${stepTitle(r.step)} · ${agencyName(r.agency_id)}`;
  li.append(badge(r.kind), text + ` · ${when(r.at)}`);
  if (!r.case_id.startsWith("index:")) li.addEventListener("click", () => openCase(r.case_id));
  $("#alerts").prepend(li);
  while ($("#alerts").children.length > 200) $("#alerts").lastChild.remove();
  if (r.kind === "warning") {
    liveWarnings.set(r.id, r);
    $("#board tbody").prepend(warningRow(r));
  } else if (r.kind === "overdue" || r.kind === "case_overdue") {
    for (const tr of document.querySelectorAll("#board tbody tr")) {  // the same step is shown once
      if (tr.dataset.case === r.case_id && tr.dataset.step === (r.step || "")) tr.remove();
    }
    const late = Math.max(0, Math.round((Date.now() - Date.parse(r.at)) / 1000));
    $("#board tbody").prepend(boardRow({ kind: r.kind, caseId: r.case_id, step: r.step, agency: r.agency_id,
      handler: r.handler_id, limit: r.limit_seconds ? duration(r.limit_seconds) : "", at: when(r.at),
      left: "超时 " + duration(late), record: r.id }));
  }
  labelled($("#board"));
  loadKpis().catch(() => {});
}

async function loadKpis() {
  const k = await api("/v1/summary?" + filters());
  const show = (id, n) => { $(id).textContent = n > 1000 ? "1000+" : String(n); };
  show("#kpi-overdue", k.overdue); show("#kpi-unhandled", k.overdue_unhandled); show("#kpi-red", k.red_today);
  show("#kpi-yellow", k.yellow_today); show("#kpi-orders", k.open_supervisions);
  show("#kpi-late-orders", k.overdue_supervisions); show("#kpi-appeals", k.pending_appeals);
  $("#kpis").dataset.today = k.today_since;
}

function percent(rate) { return rate == null ? "—" : Math.round(rate * 100) + "%"; }

async function loadCards() {
  for (const [which, table, by] of [["agencies", "#agency-cards", "agency"], ["handlers", "#handler-cards", "handler_id"]]) {
    // Worst first; the long tail of clean units folds behind a row that shows it.
    const cards = (await api(`/v1/scorecards/${which}?${span()}${scope()}`)).sort((a, b) => b.points - a.points);
    const shown = $(table).dataset.all ? cards : cards.slice(0, 15);
    $(table + " tbody").replaceChildren(...shown.map((c) => {
      const tr = document.createElement("tr");
      const chip = document.createElement("span"); chip.className = "chip " + c.colour; chip.textContent = COLOUR[c.colour];
      const idx = document.createElement("td"); idx.append(chip);
      tr.append(cell(by === "agency" ? agencyName(c.key) : officialName(c.key)), cell(c.points),
        cell(percent(c.on_time_rate)), idx);
      tr.dataset.key = c.key;
      tr.children[0].title = c.key;
      tr.className = "drillable";
      tr.addEventListener("click", () => drill(`${which === "agencies" ? "机构" : "经办人"} ${tr.children[0].textContent} 的扣分记录`,
        `${by}=${encodeURIComponent(c.key)}&${span()}&` + PENALTY_KINDS.map((k) => "kind=" + k).join("&")));
      return tr;
    }));
    if (shown.length < cards.length) {
      const more = document.createElement("tr");
      const td = cell(`另有 ${cards.length - shown.length} 个，点此全部显示`); td.colSpan = 4; more.append(td);
      more.addEventListener("click", () => { $(table).dataset.all = "1"; loadCards(); });
      $(table + " tbody").append(more);
    }
    labelled($(table));
  }
  drawChart(await api(`/v1/stats/daily?${span()}${scope()}`));
}

function scope() { return $("#agency").value.trim() ? "&agency=" + encodeURIComponent($("#agency").value.trim()) : ""; }

const SERIES = [["red", "红牌", ["overdue", "case_overdue", "escalation"], "#c62828"], ["yellow", "黄牌", ["warning"], "#f9a825"],
  ["other", "其他扣分", ["procedure", "fee", "suspension", "late_report"], "#6a1b9a"], ["reminder", "催办", ["reminder"], "#1e6fd9"]];

// Records per day with axes, dates and values (Apache ECharts, bundled under /static/vendor: no CDN).
function drawChart(rows) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const per = Object.fromEntries(SERIES.map(([id]) => [id, Object.fromEntries(days.map((d) => [d, 0]))]));
  for (const r of rows) for (const [id, , kinds] of SERIES) if (kinds.includes(r.kind)) per[id][r.day] += r.count;
  if (!chart) {
    chart = echarts.init($("#chart"), null, { renderer: "svg" });
    chart.on("click", (p) => {
      const kinds = SERIES.find(([, name]) => name === p.seriesName)[2];
      const next = new Date(p.name + "T00:00:00Z"); next.setUTCDate(next.getUTCDate() + 1);
      drill(`${p.name} 的${p.seriesName}记录`, `since=${p.name}&until=${next.toISOString().slice(0, 10)}${scope()}&` +
        kinds.map((k) => "kind=" + k).join("&"));
    });
    window.addEventListener("resize", () => chart.resize());
  }
  chart.setOption({
    tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 12, top: 32, bottom: 28 },
    xAxis: { type: "category", data: days }, yAxis: { type: "value", minInterval: 1, name: "条" },
    series: SERIES.map(([id, name, , color]) => ({ name, type: "bar", stack: "all", color,
      data: days.map((d) => per[id][d]),
      label: { show: days.length <= 14, position: "inside", formatter: (p) => (p.value ? String(p.value) : "") } })),
  }, true);
}
function clearChart() { if (chart) chart.clear(); }

// The records behind a scorecard row, a chart bar or a tile.
async function drill(title, query) {
  const got = await api("/v1/records?limit=500&" + query);
  $("#drill-title").textContent = `${title}（${got.items.length}${got.next_cursor ? "+" : ""} 条）`;
  $("#drill tbody").replaceChildren(...got.items.map((r) => {
    const tr = document.createElement("tr");
    const kind = document.createElement("td"); kind.append(badge(r.kind));
    tr.append(cell(when(r.at)), kind, cell(r.case_id), cell(stepTitle(r.step)), cell(agencyName(r.agency_id)),
      cell(officialName(r.handler_id)),
      cell(r.revoked_by ? "0（已撤销）" : r.points));
    if (r.revoked_by) tr.classList.add("revoked");
    tr.addEventListener("click", () => openCase(r.case_id));
    return tr;
  }));
  labelled($("#drill"));
  $("#drill-section").hidden = false;
  $("#drill-section").scrollIntoView();
}

for (const tile of document.querySelectorAll(".kpi")) {
  tile.addEventListener("click", () => {
    const today = $("#kpis").dataset.today;
    const k = tile.dataset.kpi;
    if (k === "overdue" || k === "unhandled") {
      $("#handled").value = k === "unhandled" ? "false" : "";
      saveFilters(); loadBoard(); $("#board-section").scrollIntoView();
    } else if (k === "red" || k === "yellow") {
      const kinds = k === "red" ? ["overdue", "case_overdue", "escalation"] : ["warning"];
      drill(`今日${k === "red" ? "红牌" : "黄牌"}`, `since=${today}${scope()}&` + kinds.map((x) => "kind=" + x).join("&"));
    } else {
      $("#work-section").scrollIntoView();
    }
  });
}
$("#drill-close").addEventListener("click", () => { $("#drill-section").hidden = true; });
