// 督办, 回告, 审核, 申诉, 复核 and 已处理 on the page: what the key's role may do, through the same API as any client.
"use strict";

const PENALTY = new Set(["reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension",
  "late_report", "escalation"]);
const ORDER_STATUS = { open: "待回告", replied: "待审核", closed: "已办结" };
const APPEAL_STATUS = { pending: "待复核", upheld: "申诉成立", rejected: "申诉驳回" };
let me = null;

async function send(path, body) {
  const res = await fetch(path, { method: "POST", body: JSON.stringify(body),
    headers: { ...HEADERS, "Content-Type": "application/json" } });
  let answer = null;
  try { answer = await res.json(); } catch (e) { /* no body */ }
  if (!res.ok) {
    const detail = answer && (answer.detail || answer.title);
    throw new Error(typeof detail === "string" ? detail : `${res.status} ${res.statusText}`);
  }
  return answer;
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.className = "act " + cls; b.textContent = text;
  b.addEventListener("click", (ev) => { ev.stopPropagation(); onClick(); });
  return b;
}

// One dialog for every action: a note, and when asked a due time, an outcome or evidence links.
function ask({ title, noteLabel, due = false, outcomes = null, evidence = false }) {
  const dlg = document.querySelector("#act-dialog");
  dlg.querySelector("h3").textContent = title;
  dlg.querySelector("#act-note-label").firstChild.textContent = noteLabel + " ";
  dlg.querySelector("#act-note").value = "";
  dlg.querySelector("#act-due-row").hidden = !due;
  dlg.querySelector("#act-evidence-row").hidden = !evidence;
  dlg.querySelector("#act-evidence").value = "";
  const box = dlg.querySelector("#act-outcomes");
  box.replaceChildren(...(outcomes || []).map(([value, label], i) => {
    const l = document.createElement("label");
    const r = document.createElement("input");
    r.type = "radio"; r.name = "outcome"; r.value = value; r.checked = i === 0;
    l.append(r, " " + label);
    return l;
  }));
  box.hidden = !outcomes;
  dlg.querySelector("#act-error").textContent = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.onclose = () => {
      if (dlg.returnValue !== "ok") { resolve(null); return; }
      const n = Number(dlg.querySelector("#act-due").value);
      const unit = dlg.querySelector("#act-unit").value;
      const outcome = box.querySelector("input:checked");
      resolve({ note: dlg.querySelector("#act-note").value.trim(),
        due: unit === "days" ? { due_days: Math.round(n) } : { due_hours: n },
        outcome: outcome ? outcome.value : null,
        evidence: dlg.querySelector("#act-evidence").value.split(/\s+/).filter(Boolean) });
    };
  });
}

async function act(what, path, body) {
  try {
    const done = await send(path, body);
    document.querySelector("#status").textContent = `${what}已提交（${done.id.slice(0, 8)}），正在处理…`;
    for (const ms of [1500, 4000, 8000]) setTimeout(() => loadWork().catch(() => {}), ms);  // the pipeline's lag
  } catch (e) {
    document.querySelector("#status").textContent = `${what}未成功：${e.message}`;
  }
}

// Buttons on a record of the case timeline, by role: a supervisor orders and marks handled, an agency appeals.
function recordActions(li, r, c) {
  if (!me || r.revoked_by || !PENALTY.has(r.kind)) return;
  const handled = c.acks && c.acks[r.id];
  if (handled) li.append(` · 已处理（${handled.by}）`);
  if (me.role === "supervisor") {
    li.append(button("督办", "supervise", async () => {
      const got = await ask({ title: `督办 ${r.case_id} ${stepTitle(r.step)}`, noteLabel: "督办要求", due: true });
      if (got) act("督办", "/v1/supervisions", { record_id: r.id, note: got.note, ...got.due });
    }));
    if (!handled) li.append(button("已处理", "ack", async () => {
      const got = await ask({ title: "标记为已处理", noteLabel: "处理情况" });
      if (got) act("标记", `/v1/records/${encodeURIComponent(r.id)}/ack`, { note: got.note });
    }));
  }
  if (me.role === "agency" && r.points > 0) {
    li.append(button("申诉", "appeal", async () => {
      const got = await ask({ title: `申诉：${r.case_id} ${r.step || ""}（扣 ${r.points} 分）`, noteLabel: "申诉理由",
        evidence: true });
      if (got) act("申诉", "/v1/appeals", { record_id: r.id, reason: got.note, evidence: got.evidence });
    }));
  }
}

function row(values, actions) {
  const tr = document.createElement("tr");
  for (const v of values) { const td = document.createElement("td"); td.textContent = v ?? ""; tr.append(td); }
  const td = document.createElement("td"); td.append(...actions); tr.append(td);
  return tr;
}

async function loadWork() {
  me = me || await api("/v1/me");
  const q = document.querySelector("#agency").value.trim();
  const scope = q ? "&agency=" + encodeURIComponent(q) : "";
  const orders = await api("/v1/supervisions?limit=100" + scope);
  document.querySelector("#orders tbody").replaceChildren(...orders.items.map((o) => {
    const acts = [];
    if (me.role === "agency" && o.status === "open") acts.push(button("回告", "reply", async () => {
      const got = await ask({ title: `回告督办 ${o.case_id}`, noteLabel: "办理情况" });
      if (got) act("回告", `/v1/supervisions/${o.id}/reply`, { note: got.note });
    }));
    if (me.role === "supervisor" && o.status === "replied") acts.push(button("审核", "review", async () => {
      const got = await ask({ title: `审核回告 ${o.case_id}`, noteLabel: "审核意见", due: true,
        outcomes: [["accept", "通过（办结）"], ["return", "退回（重新限期）"]] });
      if (got) act("审核", `/v1/supervisions/${o.id}/review`, { outcome: got.outcome, note: got.note,
        ...(got.outcome === "return" ? got.due : {}) });
    }));
    const state = (ORDER_STATUS[o.status] || o.status) + (o.escalated ? "（已逾期升级）" : "");
    const tr = row([o.case_id, agencyName(o.agency_id), when(o.due), state, o.note], acts);
    tr.dataset.order = o.id;
    if (o.escalated && o.status === "open") tr.className = "escalated";
    tr.addEventListener("click", () => openCase(o.case_id));
    return tr;
  }));
  labelled(document.querySelector("#orders"));
  const appeals = await api("/v1/appeals?limit=100" + scope);
  document.querySelector("#appeals tbody").replaceChildren(...appeals.items.map((a) => {
    const acts = [];
    if (me.role === "supervisor" && a.status === "pending") acts.push(button("复核", "decide", async () => {
      const got = await ask({ title: `复核申诉 ${a.case_id}（${LEVEL[a.record_kind] || a.record_kind} 扣 ${a.record_points} 分）`,
        noteLabel: "复核意见", outcomes: [["upheld", "申诉成立（核销扣分）"], ["rejected", "驳回"]] });
      if (got) act("复核", `/v1/appeals/${a.id}/decision`, { outcome: got.outcome, note: got.note });
    }));
    const tr = row([a.case_id, agencyName(a.agency_id), when(a.at), APPEAL_STATUS[a.status] || a.status, a.reason], acts);
    tr.dataset.appeal = a.id;
    tr.addEventListener("click", () => openCase(a.case_id));
    return tr;
  }));
  labelled(document.querySelector("#appeals"));
}

function forgetWho() { me = null; }
