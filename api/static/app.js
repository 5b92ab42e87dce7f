// The supervisors' page: plain JavaScript over the same API and keys as every other client.
// This file: helpers, filters kept in the URL, the case timeline, calendar notices, the live stream, refresh.
"use strict";

const LEVEL = { reminder: "催办", warning: "临界预警", overdue: "超时", case_overdue: "办件超时",
  procedure: "程序违规", fee: "超标收费", suspension: "超期暂停", late_report: "迟报", revocation: "撤销",
  escalation: "督办逾期", adjustment: "申诉核销", supervision: "督办", reply: "回告", review: "审核回告",
  appeal: "申诉", decision: "复核", ack: "已处理", index_alarm: "指数预警", at_risk: "临近时限" };
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
// Names for codes (GET /v1/directory): agencies, officials, items and steps; a code without a name shows as itself.
let NAMES = { agencies: {}, officials: {}, items: {}, steps: {} };
const agencyName = (id) => (id && NAMES.agencies[id]) || id || "";
const officialName = (id) => (id && NAMES.officials[id]) || id || "";
const stepTitle = (code) => (code && NAMES.steps[code]) || code || "";

// -- filters: kept in the URL (never the key), so a view can be shared -------------------------------
const KEPT = ["agency", "item", "period", "since", "until", "handled"];
function saveFilters() {
  const p = new URLSearchParams();
  for (const id of KEPT) if ($("#" + id).value) p.set(id, $("#" + id).value);
  history.replaceState(null, "", p.toString() ? "?" + p : location.pathname);
}
function loadFilters() {
  const p = new URLSearchParams(location.search);
  for (const id of KEPT) if (p.has(id)) $("#" + id).value = p.get(id);
  $("#custom-period").hidden = $("#period").value !== "custom";
}
function filters() {
  const p = new URLSearchParams();
  const agency = $("#agency").value.trim(), item = $("#item").value.trim();
  if (agency) p.set("agency", agency);
  if (item) p.set("item_code", item);
  return p;
}
// The period as an API query: local dates go as they are (the API reads them in the display zone).
function span() {
  if ($("#period").value === "custom" && $("#since").value && $("#until").value) {
    const end = new Date($("#until").value + "T00:00:00Z");
    end.setUTCDate(end.getUTCDate() + 1);  // through the last day chosen
    return `since=${$("#since").value}&until=${end.toISOString().slice(0, 10)}`;
  }
  const days = Number($("#period").value) || 30;
  const until = new Date(), since = new Date(until.getTime() - days * 86400 * 1000);
  return `since=${since.toISOString().slice(0, 19)}Z&until=${until.toISOString().slice(0, 19)}Z`;
}

// The page holds no key: it signs in once (POST /v1/session) and the HTTP-only session cookie does the rest.
const HEADERS = { "X-Requested-With": "approval-monitor" };
let signedIn = false;

async function api(path) {
  const res = await fetch(path, { headers: HEADERS });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail; } catch (e) { /* not a problem document */ }
    const err = new Error(res.status === 401 ? "登录已过期或密钥无效，请重新登录" : res.status + " " + detail);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }
function badge(kind) { const s = document.createElement("span"); s.className = "level " + kind; s.textContent = LEVEL[kind] || kind; return s; }
function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d} 天 ${h} 小时`;
  return h ? `${h} 小时 ${m} 分` : `${m} 分 ${seconds % 60} 秒`;
}
// On a phone each table row becomes a card: every cell carries its column's name.
function labelled(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, i) => { if (names[i]) td.dataset.label = names[i]; });
  }
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
  let name = (s.title || stepTitle(s.step)) + (s.cycle > 1 ? `（第 ${s.cycle} 轮）` : "");
  if (s.extensions) name += `（延期 ${s.extensions.length} 次）`;
  if (s.handled_by) name += "（已处理）";
  return name;
}

async function openCase(caseId) {
  const c = await api("/v1/cases/" + encodeURIComponent(caseId));
  const kind = c.suspended_kind ? `（${c.suspended_kind}）` : "";
  const limit = c.limit_days ? ` · 时限 ${limitText(c)}` : "";
  $("#case-title").textContent = `${c.case_id} · ${c.item_name || c.item_code} · ${agencyName(c.agency_id)} · ${STATUS[c.status] || c.status}${kind}${limit}`;
  $("#case-steps tbody").replaceChildren(...c.steps.map((s) => {
    const tr = document.createElement("tr");
    const deadline = when(s.deadline) + (s.deadline_beyond_calendar ? "（超出日历）" : s.deadline_provisional ? "（暂定日历）" : "");
    for (const v of [stepName(s), when(s.started_at), when(s.completed_at), limitText(s), deadline, duration(s.counted_seconds), STATUS[s.status] || s.status]) tr.append(cell(v));
    tr.className = s.status;
    return tr;
  }));
  labelled($("#case-steps"));
  // Suspensions (补正, expert review …) and fees belong to the timeline too.
  const facts = (c.suspensions || []).map(([a, b]) => ({ kind: "suspended", at: a, text: `暂停 ${when(a)} 至 ${when(b)}` }));
  if (c.suspended_since) facts.push({ kind: "suspended", at: c.suspended_since, text: `暂停中，自 ${when(c.suspended_since)}${kind}` });
  if (c.fees_yuan && c.fees_yuan !== "0") facts.push({ kind: "fee", at: "", text: `已收费 ${c.fees_yuan} 元` });
  $("#case-records").replaceChildren(...facts.map((f) => {
    const li = document.createElement("li"); li.className = "fact"; li.textContent = f.text; return li;
  }), ...c.records.map((r) => {
    const li = document.createElement("li");
    const who = r.by ? ` · ${r.by}` + (r.note ? `：${r.note}` : "") : "";
    li.append(badge(r.kind), ` ${stepTitle(r.step)} ${when(r.at)} ` + (r.revoked_by ? "已撤销，不扣分" : `扣分 ${r.points}`) + who);
    li.dataset.record = r.id;
    if (r.revoked_by) li.classList.add("revoked");
    if (typeof recordActions === "function") recordActions(li, r, c);
    return li;
  }));
  $("#case-section").hidden = false;
  $("#case-section").scrollIntoView();
}

// Server-sent events over fetch, with the session cookie (nothing in the URL); resumes with Last-Event-ID.
async function follow() {
  if (stream) stream.abort();
  const ctl = new AbortController(); stream = ctl;
  let last = null;
  while (!ctl.signal.aborted) {
    try {
      const headers = { ...HEADERS };
      if (last) headers["Last-Event-ID"] = last;
      const res = await fetch("/v1/alerts/stream?" + filters(), { headers, signal: ctl.signal });
      if (res.status === 401 || res.status === 403) { signedOut("登录已过期或密钥无效，请重新登录"); return; }
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

// A wrong or expired key shows nothing of what an earlier key saw, and stops the stream.
function signedOut(message) {
  signedIn = false;
  if (stream) { stream.abort(); stream = null; }
  $("#signin").hidden = false; $("#who").hidden = true; $("#signout").hidden = true;
  for (const sel of ["#board tbody", "#alerts", "#orders tbody", "#appeals tbody", "#agency-cards tbody",
    "#handler-cards tbody", "#drill tbody", "#case-records", "#case-steps tbody"]) $(sel).replaceChildren();
  for (const b of document.querySelectorAll(".kpi b")) b.textContent = "—";
  $("#case-section").hidden = true; $("#drill-section").hidden = true;
  if (typeof clearChart === "function") clearChart();
  $("#status").textContent = message;
}

function showWho(me) {
  const roles = { supervisor: "监察员", agency: "部门", admin: "管理员", ingest: "接入" };
  $("#who").textContent = `${me.name}（${roles[me.role] || me.role}${me.scope ? " · " + me.scope : ""}）`;
  $("#signin").hidden = true; $("#who").hidden = false; $("#signout").hidden = false;
  signedIn = true;
}

async function signIn(key) {
  const res = await fetch("/v1/session", { method: "POST", body: JSON.stringify({ key }),
    headers: { ...HEADERS, "Content-Type": "application/json" } });
  $("#key").value = "";
  if (!res.ok) { signedOut("密钥无效：请检查后重新输入"); return; }
  showWho(await res.json());
  refresh();
}

async function refresh() {
  if (!signedIn) return;
  saveFilters();
  try {
    if (typeof forgetWho === "function") forgetWho();
    NAMES = await api("/v1/directory");
    // The agency picker: the tree the key may see, each agency under its parent, named.
    $("#agency-tree").replaceChildren(...Object.keys(NAMES.agencies).sort().map((id) => {
      const o = document.createElement("option");
      o.value = id;
      o.label = "\u3000".repeat(id.split("/").length - 1) + NAMES.agencies[id];
      return o;
    }));
    await Promise.all([loadBoard(), loadKpis(), loadCards(), loadNotices().catch(() => {}), loadWork()]);
    $("#status").textContent = "已更新 " + when(new Date().toISOString()).slice(11);
    follow();
  } catch (e) {
    if (e.status === 401 || e.status === 403) signedOut(e.message); else $("#status").textContent = "错误：" + e.message;
  }
}

$("#controls").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
$("#signin").addEventListener("submit", (ev) => { ev.preventDefault(); if ($("#key").value) signIn($("#key").value); });
$("#signout").addEventListener("click", async () => {
  await fetch("/v1/session", { method: "DELETE", headers: HEADERS });
  signedOut("已退出登录");
});
$("#period").addEventListener("change", () => { $("#custom-period").hidden = $("#period").value !== "custom"; });
$("#case-search").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && $("#case-search").value.trim()) {
    ev.preventDefault();
    openCase($("#case-search").value.trim()).catch((e) => { $("#status").textContent = "找不到办件：" + e.message; });
  }
});
$("#case-close").addEventListener("click", () => { $("#case-section").hidden = true; });
$("#wall").addEventListener("click", () => {
  document.body.classList.toggle("wall");
  if (document.body.classList.contains("wall")) document.documentElement.requestFullscreen?.().catch(() => {});
  else if (document.fullscreenElement) document.exitFullscreen();
});
loadFilters();
// A phone shows the figures first: the filters fold away unless the view narrows to something.
if (window.matchMedia("(max-width: 760px)").matches && !["agency", "item", "handled"].some((id) => $("#" + id).value)) {
  $("#filters-box").open = false;
}
api("/v1/me").then((me) => { showWho(me); refresh(); }).catch(() => { $("#status").textContent = "请输入密钥登录"; });
setInterval(() => {
  if (signedIn) { loadBoard().catch(() => {}); loadKpis().catch(() => {}); loadWork().catch(() => {}); }
}, 30000);
