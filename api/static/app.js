// The supervisors' page: plain JavaScript over the same API and keys as every other client.
"use strict";

const LEVEL = { reminder: "催办", warning: "临界预警", overdue: "超时", case_overdue: "办件超时",
  procedure: "程序违规", fee: "超标收费", suspension: "超期暂停", late_report: "迟报", revocation: "撤销",
  escalation: "督办逾期", adjustment: "申诉核销", supervision: "督办", reply: "回告", review: "审核回告",
  appeal: "申诉", decision: "复核", ack: "已处理" };
const COLOUR = { green: "绿", blue: "蓝", yellow: "黄", orange: "橙", red: "红" };
const STATUS = { running: "办理中", on_time: "按时", late: "超时办结", overdue: "已超时", suspended: "暂停" };
const $ = (sel) => document.querySelector(sel);
// Supervisors read Beijing time: every instant the API gives (UTC, RFC 3339) is shown in this zone.
const ZONE = document.documentElement.dataset.zone || "Asia/Shanghai";
const CLOCK = new Intl.DateTimeFormat("zh-CN", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
function when(iso) {
  if (!iso) return "";
  const p = Object.fromEntries(CLOCK.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}
let stream = null;

function filters() {
  const p = new URLSearchParams();
  const agency = $("#agency").value.trim(), item = $("#item").value.trim();
  if (agency) p.set("agency", agency);
  if (item) p.set("item_code", item);
  return p;
}

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: "Bearer " + $("#key").value } });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail; } catch (e) { /* not a problem document */ }
    throw new Error(res.status + " " + detail);
  }
  return res.json();
}

function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }
function badge(kind) { const s = document.createElement("span"); s.className = "level " + kind; s.textContent = LEVEL[kind] || kind; return s; }
function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h ? `${h} 小时 ${m} 分` : `${m} 分 ${seconds % 60} 秒`;
}

function boardRow(kind, caseId, step, agency, handler, limit, when) {
  const tr = document.createElement("tr");
  tr.dataset.case = caseId;
  const level = document.createElement("td"); level.append(badge(kind)); tr.append(level);
  for (const v of [caseId, step || "（办件）", agency, handler, limit, when]) tr.append(cell(v));
  tr.addEventListener("click", () => openCase(caseId));
  return tr;
}

async function loadBoard() {
  const handled = $("#handled").value ? "&handled=" + $("#handled").value : "";
  const page = await api("/v1/overdue?limit=200&" + filters() + handled);
  const body = $("#board tbody");
  body.replaceChildren(...page.items.map((o) => boardRow(o.kind === "case" ? "case_overdue" : "overdue", o.case_id,
    o.step, o.agency_id, o.handler_id, o.limit_seconds ? duration(o.limit_seconds) : "",
    duration(o.overdue_seconds) + (o.handled ? "（已处理）" : ""))));
}

// A revocation withdraws the alarm it names: off the board, struck through in the alert list.
function withdraw(r) {
  for (const el of document.querySelectorAll(`[data-record="${CSS.escape(r.revokes)}"]`)) {
    if (el.tagName === "TR") el.remove(); else el.classList.add("revoked");
  }
}

function showAlert(r) {
  if (r.kind === "revocation") withdraw(r);
  const li = document.createElement("li");
  li.dataset.case = r.case_id;
  li.dataset.record = r.id;
  li.append(badge(r.kind), ` ${r.case_id} ${r.step || ""} · ${r.agency_id} · ${when(r.at)}`);
  li.addEventListener("click", () => openCase(r.case_id));
  $("#alerts").prepend(li);
  while ($("#alerts").children.length > 200) $("#alerts").lastChild.remove();
  if (r.kind === "warning" || r.kind === "overdue" || r.kind === "case_overdue") {
    const row = boardRow(r.kind, r.case_id, r.step, r.agency_id, r.handler_id, "", when(r.at));
    row.dataset.record = r.id;
    $("#board tbody").prepend(row);
  }
}

async function loadCards() {
  const days = Number($("#period").value) || 30;
  const until = new Date(), since = new Date(until.getTime() - days * 86400 * 1000);
  const span = `since=${since.toISOString().slice(0, 19)}Z&until=${until.toISOString().slice(0, 19)}Z`;
  const agency = $("#agency").value.trim() ? "&agency=" + encodeURIComponent($("#agency").value.trim()) : "";
  for (const [which, table] of [["agencies", "#agency-cards"], ["handlers", "#handler-cards"]]) {
    const cards = await api(`/v1/scorecards/${which}?${span}${agency}`);
    $(table + " tbody").replaceChildren(...cards.map((c) => {
      const tr = document.createElement("tr");
      const chip = document.createElement("span"); chip.className = "chip " + c.colour; chip.textContent = COLOUR[c.colour];
      const idx = document.createElement("td"); idx.append(chip);
      tr.append(cell(c.key), cell(c.points), cell(c.on_time_rate == null ? "—" : Math.round(c.on_time_rate * 100) + "%"), idx);
      return tr;
    }));
  }
  drawChart(await api(`/v1/stats/daily?${span}${agency}`));
}

function drawChart(rows) {
  const svg = $("#chart"), per = {};
  for (const r of rows) per[r.day] = (per[r.day] || 0) + r.count;
  const days = Object.keys(per).sort(), max = Math.max(1, ...Object.values(per));
  const w = svg.clientWidth || 800, h = 160, bw = Math.max(2, w / Math.max(1, days.length) - 2);
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren(...days.map((d, i) => {
    const bar = document.createElementNS(ns, "rect");
    const bh = (per[d] / max) * (h - 20);
    bar.setAttribute("x", i * (bw + 2)); bar.setAttribute("y", h - bh); bar.setAttribute("width", bw);
    bar.setAttribute("height", bh); bar.setAttribute("fill", "#8b1a1a");
    const title = document.createElementNS(ns, "title"); title.textContent = `${d}: ${per[d]}`; bar.append(title);
    return bar;
  }));
}

// Calendars whose holiday lists run out (or are only provisional): deadlines past them may be days early.
async function loadNotices() {
  const got = await api("/v1/calendars");
  const lines = [];
  for (const c of got.calendars) {
    if (c.covered_until == null) {
      lines.push(`日历 ${c.calendar} 未声明节假日覆盖的年份（covers），到期前无法预警：请在规则包中补充 covers。`);
    } else if (c.days_left <= 60) {
      const next = Number(c.covered_until.slice(0, 4)) + 1;
      const left = c.days_left >= 0 ? `还剩 ${c.days_left} 天` : `已过 ${-c.days_left} 天`;
      lines.push(`日历 ${c.calendar} 的节假日只列到 ${c.covered_until}（${left}）：请补充 ${next} 年节假日与调休` +
        `（approval-monitor rules cn-holidays ${next}），否则此后的截止时间会把节假日算作工作日。`);
    } else if (c.provisional_years.length) {
      lines.push(`日历 ${c.calendar} 的 ${c.provisional_years.join("、")} 年节假日为暂定（按《全国年节及纪念日放假办法》推算，` +
        "未含调休）：国务院通知发布后请替换。");
    }
  }
  for (const c of got.calendars) {
    if (c.clocks_beyond_count) {
      const cases = c.clocks_beyond.map((o) => `${o.case_id}${o.step ? " " + o.step : ""}`).join("、");
      lines.push(`${c.clocks_beyond_count} 个在办时限的截止时间超出日历 ${c.calendar} 的覆盖范围（${c.covered_until} 之后），可能偏早：${cases}`);
    }
  }
  $("#notices").replaceChildren(...lines.map((t) => { const p = document.createElement("p"); p.textContent = t; return p; }));
  $("#notices").hidden = lines.length === 0;
}

function limitText(s) {
  if (s.limit_days) return `${s.limit_days} ${s.day_count === "natural" ? "日（自然日）" : "个工作日"}`;
  return s.limit_seconds == null ? "" : duration(s.limit_seconds);
}

function stepName(s) {
  let name = s.step + (s.cycle > 1 ? `（第 ${s.cycle} 轮）` : "");
  if (s.extensions) name += `（延期 ${s.extensions.length} 次）`;
  return name;
}

async function openCase(caseId) {
  const c = await api("/v1/cases/" + encodeURIComponent(caseId));
  const kind = c.suspended_kind ? `（${c.suspended_kind}）` : "";
  const limit = c.limit_days ? ` · 时限 ${limitText(c)}` : "";
  $("#case-title").textContent = `${c.case_id} · ${c.item_name || c.item_code} · ${c.agency_id} · ${STATUS[c.status] || c.status}${kind}${limit}`;
  $("#case-steps tbody").replaceChildren(...c.steps.map((s) => {
    const tr = document.createElement("tr");
    const deadline = when(s.deadline) + (s.deadline_beyond_calendar ? "（超出日历）" : s.deadline_provisional ? "（暂定日历）" : "");
    for (const v of [stepName(s), when(s.started_at), when(s.completed_at), limitText(s), deadline, duration(s.counted_seconds), STATUS[s.status] || s.status]) tr.append(cell(v));
    tr.className = s.status;
    return tr;
  }));
  $("#case-records").replaceChildren(...c.records.map((r) => {
    const li = document.createElement("li");
    const who = r.by ? ` · ${r.by}` + (r.note ? `：${r.note}` : "") : "";
    li.append(badge(r.kind), ` ${r.step || ""} ${when(r.at)} ` + (r.revoked_by ? "已撤销，不扣分" : `扣分 ${r.points}`) + who);
    li.dataset.record = r.id;
    if (r.revoked_by) li.classList.add("revoked");
    if (typeof recordActions === "function") recordActions(li, r, c);
    return li;
  }));
  $("#case-section").hidden = false;
  $("#case-section").scrollIntoView();
}

// Server-sent events over fetch, so the key travels in a header, never in a URL; resumes with Last-Event-ID.
async function follow() {
  if (stream) stream.abort();
  const ctl = new AbortController(); stream = ctl;
  let last = null;
  while (!ctl.signal.aborted) {
    try {
      const headers = { Authorization: "Bearer " + $("#key").value };
      if (last) headers["Last-Event-ID"] = last;
      const res = await fetch("/v1/alerts/stream?" + filters(), { headers, signal: ctl.signal });
      if (!res.ok) throw new Error("stream " + res.status);
      $("#status").textContent = "实时推送已连接";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const msg = buf.slice(0, end); buf = buf.slice(end + 2);
          let event = "message", data = "";
          for (const line of msg.split("\n")) {
            if (line.startsWith("id:")) last = line.slice(3).trim();
            else if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (event === "record" && data) showAlert(JSON.parse(data));
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      $("#status").textContent = "推送中断，重连中… " + e.message;
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

async function refresh() {
  localStorage.setItem("approval-monitor-key", $("#key").value);
  try {
    if (typeof forgetWho === "function") forgetWho();
    await Promise.all([loadBoard(), loadCards(), loadNotices().catch(() => {}), loadWork()]);
    $("#status").textContent = "已更新 " + new Date().toLocaleTimeString("zh-CN");
    follow();
  } catch (e) {
    $("#status").textContent = "错误：" + e.message;
  }
}

$("#controls").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
$("#case-close").addEventListener("click", () => { $("#case-section").hidden = true; });
$("#key").value = localStorage.getItem("approval-monitor-key") || "";
if ($("#key").value) refresh();
setInterval(() => { if ($("#key").value) { loadBoard().catch(() => {}); loadWork().catch(() => {}); } }, 30000);
