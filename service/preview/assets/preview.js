// Clinician preview: builds a real CDS Hooks call from a scenario patient or a pasted Bundle,
// sends it to this service (same origin) and renders the cards as an EHR would.
// Safety rule: data is only ever put in the page through textContent / DOM nodes (never
// innerHTML); markdown is parsed here into DOM nodes, links only for http(s) URLs.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { scenarios: [], services: [], lastRequest: null, serviceId: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function safeUrl(url) {
  try {
    const u = new URL(url, window.location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

function link(text, url) {
  const href = safeUrl(url);
  return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text) : text;
}

// --- a tiny, safe markdown renderer (the subset card details use) -------------------------
const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))|(https?:\/\/[^\s)]+)/g;

function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const t = m[0];
    if (m[1]) out.push(el("code", {}, t.slice(1, -1)));
    else if (m[2]) out.push(el("strong", {}, inline(t.slice(2, -2))));
    else if (m[3]) out.push(el("em", {}, inline(t.slice(1, -1))));
    else if (m[4]) {
      const [, label, url] = t.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      out.push(link(label, url));
    } else out.push(link(t, t));
    last = m.index + t.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function renderMarkdown(md) {
  const root = document.createDocumentFragment();
  const blocks = String(md || "").replace(/\r\n?/g, "\n").split(/\n\s*\n/);
  for (const block of blocks) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    if (!lines.length) continue;
    const heading = lines[0].match(/^(#{1,6})\s+(.*)$/);
    if (heading && lines.length === 1) {
      root.append(el("h" + Math.min(6, heading[1].length + 2), {}, inline(heading[2])));
    } else if (lines.every((l) => /^\s*[-*+]\s+/.test(l))) {
      root.append(el("ul", {}, lines.map((l) => el("li", {}, inline(l.replace(/^\s*[-*+]\s+/, ""))))));
    } else if (lines.every((l) => /^\s*\d+[.)]\s+/.test(l))) {
      root.append(el("ol", {}, lines.map((l) => el("li", {}, inline(l.replace(/^\s*\d+[.)]\s+/, ""))))));
    } else {
      root.append(el("p", {}, inline(lines.join(" "))));
    }
  }
  return root;
}
window.renderMarkdown = renderMarkdown; // exposed for the browser tests

// --- building the hook call ----------------------------------------------------------------
function parseJson(text, what) {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(what + " is not valid JSON: " + e.message);
  }
}

function resourcesOf(bundle) {
  if (!bundle) return [];
  if (bundle.resourceType !== "Bundle") return [bundle];
  return (bundle.entry || []).map((e) => e && e.resource).filter((r) => r && r.resourceType);
}

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Every prefetch key the service declares is answered from the record: reads of the Patient and
// searchsets with all resources of the searched type (a superset; the logic filters by code).
function buildPrefetch(descriptor, resources, patientId) {
  const prefetch = {};
  for (const [key, template] of Object.entries(descriptor.prefetch || {})) {
    const type = template.split(/[?/]/)[0];
    if (/^[A-Za-z]+\/\{\{/.test(template)) {
      prefetch[key] = resources.find((r) => r.resourceType === type && (type !== "Patient" || r.id === patientId)) || null;
    } else {
      prefetch[key] = {
        resourceType: "Bundle",
        type: "searchset",
        entry: resources.filter((r) => r.resourceType === type).map((resource) => ({ resource })),
      };
    }
  }
  return prefetch;
}

function buildRequest() {
  const hook = $("hook").value;
  const descriptor = state.services.find((s) => s.id === $("service").value && s.hook === hook);
  if (!descriptor) throw new Error(`service ${$("service").value} does not answer ${hook}`);
  const resources = resourcesOf(parseJson($("bundle").value, "The patient record"));
  const patient = resources.find((r) => r.resourceType === "Patient");
  const patientId = $("patient-id").value.trim() || (patient && patient.id);
  if (!patientId) throw new Error("the record has no Patient and no patient id was given");
  const context = { userId: "Practitioner/preview-clinician", patientId };
  if (hook !== "patient-view") {
    context.draftOrders = parseJson($("drafts").value, "The draft orders") || { resourceType: "Bundle", type: "collection", entry: [] };
    if (hook === "order-select") {
      const typed = $("selections").value.split(",").map((s) => s.trim()).filter(Boolean);
      context.selections = typed.length ? typed : resourcesOf(context.draftOrders).map((r) => `${r.resourceType}/${r.id}`);
    }
  }
  return {
    serviceId: descriptor.id,
    body: { hook, hookInstance: uuid4(), context, prefetch: buildPrefetch(descriptor, resources, patientId) },
  };
}

// --- rendering cards -----------------------------------------------------------------------
function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "hint error" : "hint";
}

function renderSource(source) {
  if (!source) return null;
  const topic = source.topic ? ` · topic: ${source.topic.display || source.topic.code}` : "";
  return el("div", { class: "source" }, "Source: ", source.url ? link(source.label, source.url) : source.label, topic);
}

function renderEvidence(evidence) {
  if (!evidence || !evidence.length) return null;
  return el("div", { class: "evidence" },
    el("strong", {}, "Evidence from this patient's record"),
    el("ul", {}, evidence.map((e) => el("li", {}, e.display || e.reference, e.reference ? el("span", { class: "hint" }, ` (${e.reference})`) : null))));
}

function renderSuggestion(card, s) {
  const actions = (s.actions || []).map((a) =>
    el("li", {},
      `${a.type}: ${a.description}`,
      a.resource ? el("span", { class: "hint" }, ` — ${a.resource.resourceType}${a.resource.id ? "/" + a.resource.id : ""}`) : null,
      a.resourceId ? el("span", { class: "hint" }, ` — ${a.resourceId}`) : null,
      a.resource ? el("details", {}, el("summary", {}, "Proposed resource"), el("pre", {}, JSON.stringify(a.resource, null, 2))) : null));
  const accept = el("button", { type: "button", class: "accept", "data-suggestion-uuid": s.uuid, disabled: !s.uuid || !card.uuid },
    "Accept");
  accept.addEventListener("click", () => sendFeedback(card, { outcome: "accepted", acceptedSuggestions: [{ id: s.uuid }] }));
  return el("div", { class: "suggestion" + (s.isRecommended ? " recommended" : ""), "data-suggestion-uuid": s.uuid },
    el("span", { class: "label" }, s.label), s.isRecommended ? el("span", { class: "hint" }, " (recommended)") : null,
    el("ul", {}, actions), accept);
}

function renderCard(card, evidence) {
  const node = el("article", { class: `card ${card.indicator}`, "data-card-uuid": card.uuid, "data-indicator": card.indicator },
    el("div", {}, el("span", { class: "indicator" }, card.indicator), el("span", { class: "summary" }, card.summary)),
    renderSource(card.source));
  if (card.detail) node.append(el("div", { class: "detail" }, renderMarkdown(card.detail)));
  node.append(renderEvidence(evidence) || "");
  const suggestions = card.suggestions || [];
  if (suggestions.length) {
    node.append(el("div", { class: "hint" }, `Suggestions (choose ${card.selectionBehavior === "any" ? "any" : "at most one"}):`));
    suggestions.forEach((s) => node.append(renderSuggestion(card, s)));
  }
  if ((card.links || []).length) {
    node.append(el("ul", { class: "links" }, card.links.map((l) => el("li", {}, link(l.label, l.url), l.type === "smart" ? " (SMART app)" : ""))));
  }
  const reasons = card.overrideReasons || [];
  const select = el("select", { class: "override-reason", "aria-label": "Override reason" },
    el("option", { value: "" }, "— no reason —"),
    reasons.map((r, i) => el("option", { value: String(i) }, r.display || r.code)));
  const comment = el("input", { class: "override-comment", placeholder: "comment (optional)", "aria-label": "Override comment" });
  const override = el("button", { type: "button", class: "override", disabled: !card.uuid }, "Override");
  override.addEventListener("click", () => {
    const fb = { outcome: "overridden" };
    const reason = select.value === "" ? null : reasons[Number(select.value)];
    if (reason || comment.value.trim()) {
      fb.overrideReason = {};
      if (reason) fb.overrideReason.reason = reason;
      if (comment.value.trim()) fb.overrideReason.userComment = comment.value.trim();
    }
    sendFeedback(card, fb);
  });
  node.append(el("div", { class: "actions-row" }, reasons.length ? select : null, comment, override,
    el("span", { class: "feedback-state", role: "status" })));
  return node;
}

async function sendFeedback(card, fields) {
  const item = { card: card.uuid, ...fields, outcomeTimestamp: new Date().toISOString() };
  const node = document.querySelector(`.card[data-card-uuid="${CSS.escape(card.uuid)}"] .feedback-state`);
  try {
    const resp = await fetch(`/cds-services/${encodeURIComponent(state.serviceId)}/feedback`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ feedback: [item] }),
    });
    const ok = resp.ok;
    if (node) node.textContent = ok ? `Feedback stored: ${item.outcome}` : `Feedback refused (${resp.status})`;
    $("feedback-log").append(el("li", { "data-status": resp.status }, `${resp.status} ${JSON.stringify(item)}`));
  } catch (e) {
    if (node) node.textContent = "Feedback failed: " + e.message;
  }
}

async function explain(serviceId, body) {
  try {
    const resp = await fetch("/preview/api/explain", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ serviceId, request: body }),
    });
    if (!resp.ok) return {};
    const data = await resp.json();
    const byTitle = {};
    for (const a of data.actions || []) byTitle[a.title] = a.evidence;
    return byTitle;
  } catch (e) {
    return {};
  }
}

async function callService() {
  let req;
  try {
    req = buildRequest();
  } catch (e) {
    setStatus(e.message, true);
    return;
  }
  state.serviceId = req.serviceId;
  $("request-json").textContent = JSON.stringify(req.body, null, 2);
  $("cards").replaceChildren();
  $("card-count").textContent = "";
  setStatus(`Calling POST /cds-services/${req.serviceId} …`);
  const started = performance.now();
  let resp, data;
  try {
    resp = await fetch(`/cds-services/${encodeURIComponent(req.serviceId)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(req.body),
    });
    data = await resp.json();
  } catch (e) {
    setStatus("The call failed: " + e.message, true);
    return;
  }
  const ms = Math.round(performance.now() - started);
  $("response-json").textContent = JSON.stringify(data, null, 2);
  if (!resp.ok) {
    const issues = (data.issue || []).map((i) => i.diagnostics).join("; ");
    setStatus(`HTTP ${resp.status} in ${ms} ms: ${issues}`, true);
    return;
  }
  const evidence = await explain(req.serviceId, req.body);
  const cards = data.cards || [];
  $("card-count").textContent = `(${cards.length})`;
  cards.forEach((c) => $("cards").append(renderCard(c, evidence[c.summary])));
  const systemActions = data.systemActions || [];
  $("system-actions-panel").hidden = !systemActions.length;
  $("system-actions").replaceChildren(...systemActions.map((a) => el("li", {},
    `${a.type}: ${a.description}`,
    a.resource ? ` — ${a.resource.resourceType}${a.resource.id ? "/" + a.resource.id : ""}` : "",
    a.resourceId ? ` — ${a.resourceId}` : "")));
  if (!cards.length) $("cards").append(el("p", { class: "hint" }, "No card: the guideline has nothing to say for this patient in this hook."));
  setStatus(`HTTP ${resp.status} in ${ms} ms: ${cards.length} card(s)`);
}

// --- scenario picking --------------------------------------------------------------------------
function pickScenario() {
  const s = state.scenarios.find((x) => x.slug === $("scenario").value);
  if (!s) {
    $("scenario-note").textContent = "";
    return;
  }
  $("hook").value = s.hook;
  syncServices();
  $("patient-id").value = s.patientId;
  $("bundle").value = JSON.stringify(s.bundle, null, 2);
  $("drafts").value = s.context.draftOrders ? JSON.stringify(s.context.draftOrders, null, 2) : "";
  $("selections").value = (s.context.selections || []).join(", ");
  const expect = s.expectedActions.length ? `expected: ${s.expectedActions.join(", ")}` : "expected: no card from the rows named";
  const params = Object.keys(s.parameters || {});
  const caveat = params.length
    ? ` (this scenario overrides CQL parameters ${params.join(", ")}; a hook call cannot, so the service uses their defaults)`
    : "";
  $("scenario-note").textContent = `${s.rows.join(", ")} · ${s.kind} · ${s.name} — ${expect}${caveat}`;
}

function syncServices() {
  const hook = $("hook").value;
  const current = $("service").value;
  const ids = state.services.filter((s) => s.hook === hook).map((s) => s.id);
  $("service").replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
  if (ids.includes(current)) $("service").value = current;
  const orders = hook !== "patient-view";
  $("drafts").disabled = !orders;
  $("selections").disabled = hook !== "order-select";
}

async function init() {
  $("call").addEventListener("click", callService);
  $("scenario").addEventListener("change", pickScenario);
  $("hook").addEventListener("change", syncServices);
  try {
    const [discResp, scen] = await Promise.all([
      fetch("/cds-services"),
      fetch("/preview/api/scenarios").then((r) => r.json()),
    ]);
    const disc = discResp.ok ? await discResp.json() : { services: [] };
    if (!discResp.ok) setStatus(`GET /cds-services answered HTTP ${discResp.status}: no service can be called from this page`, true);
    state.services = disc.services || [];
    state.scenarios = scen.scenarios || [];
  } catch (e) {
    setStatus("Could not load services or scenarios: " + e.message, true);
  }
  for (const s of state.scenarios) {
    $("scenario").append(el("option", { value: s.slug }, `${s.rows.join(",")} ${s.kind}: ${s.name}`));
  }
  syncServices();
  document.body.dataset.ready = "true";
}

init();
