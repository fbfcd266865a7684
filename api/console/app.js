// The console: a thin client of the public HTTP API (/v1), nothing else.
// The API key lives in sessionStorage for this tab only and is sent as a Bearer header;
// it never appears in a URL. Pictures are fetched with the key and shown as blob URLs.
"use strict";

const KEY_STORE = "preflight.apiKey";
const $ = (id) => document.getElementById(id);
const state = { me: null, templates: [], template: null, artwork: null, file: null,
  image: null, guide: null, job: null, placement: null, queueCursor: null, blobs: [] };

// --- API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORE) || ""}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) {
    let code = "http-" + response.status, message = response.statusText;
    try { const e = (await response.json()).error; code = e.code; message = e.message; } catch (_) {}
    throw new ApiError(response.status, code, message);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

async function blobUrl(path) {
  const blob = await (await api(path, { raw: true })).blob();
  const url = URL.createObjectURL(blob);
  state.blobs.push(url);
  return url;
}

async function showImage(img, path) {
  img.src = await blobUrl(path);
  await img.decode().catch(() => {});
}

async function download(path, fallbackName) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url; a.download = match ? match[1] : fallbackName;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function show(el, text) { el.textContent = text; el.hidden = !text; }
function errorText(e) { return e instanceof ApiError ? `${e.message} (${e.code})` : String(e); }

// --- sign in ---------------------------------------------------------------------------

async function signIn(key) {
  sessionStorage.setItem(KEY_STORE, key);
  try {
    state.me = await api("/v1/me");
  } catch (e) {
    sessionStorage.removeItem(KEY_STORE);
    throw e;
  }
  $("signin").hidden = true;
  $("who").hidden = false;
  $("who-text").textContent = state.me.partner
    ? `${state.me.partner} (${state.me.role})` : state.me.role;
  state.templates = await api("/v1/templates");
  if (state.me.role === "partner" || state.me.role === "order-service") startPartner();
  if (state.me.role === "production" || state.me.role === "admin") startProduction();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  show($("signin-error"), "");
  try { await signIn($("api-key").value.trim()); $("api-key").value = ""; }
  catch (e) { show($("signin-error"), `Could not sign in: ${errorText(e)}`); }
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  state.blobs.forEach(URL.revokeObjectURL);
  location.reload();
});

// --- partner: artwork and device --------------------------------------------------------

function startPartner() {
  $("partner").hidden = false;
  renderDevices("");
  $("device-search").focus();
}

function renderDevices(filter) {
  const list = $("device-list");
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  list.replaceChildren();
  for (const t of state.templates) {
    const text = `${t.name} ${t.id} ${(t.skus || []).join(" ")}`.toLowerCase();
    if (!words.every((w) => text.includes(w))) continue;
    const option = new Option(`${t.name} (${t.id})`, t.id);
    option.selected = state.template && state.template.id === t.id;
    list.add(option);
  }
  if (!list.options.length) list.add(new Option("No device matches", "", false, false));
}

$("device-search").addEventListener("input", (e) => renderDevices(e.target.value));
$("device-search").addEventListener("keydown", (e) => {
  if (e.key === "ArrowDown") { e.preventDefault(); $("device-list").focus(); }
});
$("device-list").addEventListener("change", (e) => selectDevice(e.target.value));

async function selectDevice(id) {
  const template = state.templates.find((t) => t.id === id);
  if (!template) return;
  state.template = template;
  $("device-caption").textContent =
    `${template.name}: ${template.trim_width_mm} × ${template.trim_height_mm} mm, ` +
    `artwork at least ${template.min_artwork_px.width} × ${template.min_artwork_px.height} px`;
  try {
    await showImage($("device-image"), `/v1/templates/${template.id}/guide.svg`);
    $("device-image").alt = `Template of the ${template.name}`;
    $("device-image").hidden = false;
  } catch (e) { $("device-image").hidden = true; }
  updateUploadButton();
}

function chooseFile(file) {
  state.file = file || null;
  $("file-name").textContent = file ? `${file.name}, ${(file.size / 1e6).toFixed(1)} MB` : "";
  updateUploadButton();
}

function updateUploadButton() { $("upload").disabled = !(state.file && state.template); }

$("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
});

$("upload").addEventListener("click", async () => {
  show($("upload-error"), ""); show($("upload-warning"), "");
  const form = new FormData();
  form.append("file", state.file, state.file.name);
  form.append("template_id", state.template.id);
  $("upload").disabled = true;
  $("upload").textContent = "Uploading...";
  try {
    state.artwork = await api("/v1/artworks", { method: "POST", form });
  } catch (e) {
    show($("upload-error"), `The file was not accepted: ${errorText(e)}`);
    return;
  } finally {
    $("upload").textContent = "Upload and check the size";
    updateUploadButton();
  }
  const facts = state.artwork.quick_facts;
  if (facts && !facts.meets_minimum) show($("upload-warning"), facts.message);
  state.image = new Image();
  state.image.src = URL.createObjectURL(state.file);
  await state.image.decode().catch(() => {});
  state.guide = $("device-image").hidden ? null : $("device-image");
  resetPlacement();
  $("step-place").hidden = false;
  $("step-result").hidden = true;
  $("step-place").scrollIntoView({ behavior: "smooth" });
});

// --- partner: placement and live preview --------------------------------------------------

const controls = ["angle", "scale", "cx", "cy"];

function readPlacement() {
  return {
    fit: document.querySelector("input[name=fit]:checked").value,
    rotate_deg: Number($("angle").value),
    scale: Number($("scale").value),
    center: [Number($("cx").value), Number($("cy").value)],
  };
}

function resetPlacement() {
  document.querySelector("input[name=fit][value=cover]").checked = true;
  $("angle").value = 0; $("scale").value = 1; $("cx").value = 0.5; $("cy").value = 0.5;
  drawPreview();
}

function normaliseAngle(a) { return ((a + 180) % 360 + 360) % 360 - 180; }

$("rotate-left").addEventListener("click", () => {
  $("angle").value = normaliseAngle(Number($("angle").value) - 90); drawPreview();
});
$("rotate-right").addEventListener("click", () => {
  $("angle").value = normaliseAngle(Number($("angle").value) + 90); drawPreview();
});
$("reset-placement").addEventListener("click", resetPlacement);
for (const id of controls) $(id).addEventListener("input", drawPreview);
for (const r of document.querySelectorAll("input[name=fit]")) r.addEventListener("change", drawPreview);

// The same maths as preflight.geometry.resolve_placement: the fit is computed on the
// bounding box of the rotated artwork; rotation is clockwise on a y-down canvas.
function drawPreview() {
  const p = readPlacement();
  $("angle-out").textContent = p.rotate_deg;
  $("scale-out").textContent = p.scale.toFixed(2);
  $("cx-out").textContent = p.center[0].toFixed(2);
  $("cy-out").textContent = p.center[1].toFixed(2);
  const t = state.template, a = state.artwork;
  if (!t || !a) return;
  const canvas = $("preview"), ctx = canvas.getContext("2d");
  const cw = t.canvas_px.width, ch = t.canvas_px.height;
  const view = Math.min(640 / ch, 420 / cw);
  canvas.width = Math.round(cw * view); canvas.height = Math.round(ch * view);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const theta = p.rotate_deg * Math.PI / 180;
  const aw = a.width_px, ah = a.height_px;
  const rw = Math.abs(aw * Math.cos(theta)) + Math.abs(ah * Math.sin(theta));
  const rh = Math.abs(aw * Math.sin(theta)) + Math.abs(ah * Math.cos(theta));
  const fit = (p.fit === "cover" ? Math.max : Math.min)(cw / rw, ch / rh);
  const scale = fit * p.scale;
  ctx.save();
  ctx.scale(view, view);
  ctx.translate(p.center[0] * cw, p.center[1] * ch);
  ctx.rotate(theta);
  ctx.scale(scale, scale);
  if (state.image && state.image.complete) ctx.drawImage(state.image, -aw / 2, -ah / 2, aw, ah);
  ctx.restore();
  if (state.guide) {  // the template guide on top, half transparent: lines and cutouts show
    ctx.globalAlpha = 0.45;
    ctx.drawImage(state.guide, 0, 0, canvas.width, canvas.height);
    ctx.globalAlpha = 1;
  }
}

$("submit").addEventListener("click", async () => {
  state.placement = readPlacement();
  $("submit").disabled = true;
  show($("job-error"), ""); $("approved").hidden = true;
  try {
    state.job = await api("/v1/jobs", { method: "POST", json: {
      artwork_id: state.artwork.id, template_id: state.template.id, placement: state.placement } });
    $("step-result").hidden = false;
    $("step-result").scrollIntoView({ behavior: "smooth" });
    await followJob();
  } catch (e) {
    show($("job-error"), `The check could not run: ${errorText(e)}`);
    $("step-result").hidden = false;
  } finally {
    $("submit").disabled = false;
  }
});

// --- partner: verdict ------------------------------------------------------------------

const STATUS_TEXT = { queued: "Waiting for a worker...", running: "Checking...",
  done: "Checked.", failed: "The check failed." };

async function followJob() {
  for (const img of ["overlay", "proof", "color-shift"]) $(img).removeAttribute("src");
  $("verdict").hidden = true; $("findings").replaceChildren(); $("highlight").hidden = true;
  $("approve").hidden = true;
  let job = state.job;
  // Long-poll: the page updates as the job moves on, without reloading.
  while (job.status === "queued" || job.status === "running") {
    $("job-status").textContent = STATUS_TEXT[job.status];
    job = await api(`/v1/jobs/${job.id}?wait=20`);
  }
  state.job = job;
  $("job-status").textContent = STATUS_TEXT[job.status];
  if (job.status === "failed") {
    show($("job-error"), `${job.error.message} (${job.error.code})`);
    return;
  }
  const report = await api(`/v1/jobs/${job.id}/report`);
  state.report = report;
  const verdict = $("verdict");
  verdict.className = `verdict ${job.verdict}`;
  verdict.textContent = { pass: "Ready to print", warn: "Warnings: check before approving",
    fail: "Errors: fix before printing" }[job.verdict];
  verdict.hidden = false;
  renderFindings($("findings"), report, $("overlay"), $("highlight"));
  await Promise.all([
    showImage($("overlay"), `/v1/jobs/${job.id}/overlay`),
    showImage($("proof"), `/v1/jobs/${job.id}/proof`),
    showImage($("color-shift"), `/v1/jobs/${job.id}/color-shift`),
  ]);
  $("approve").hidden = job.verdict === "fail";
}

const ICONS = { error: "!", warning: "!", info: "i" };

function renderFindings(list, report, overlayImg, highlight) {
  list.replaceChildren();
  if (!report.findings.length) {
    const li = document.createElement("li"); li.textContent = "No findings: nothing to fix.";
    list.appendChild(li); return;
  }
  for (const f of report.findings) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    button.dataset.code = f.code;
    const icon = document.createElement("span");
    icon.className = `icon sev-${f.severity}`; icon.textContent = ICONS[f.severity];
    icon.setAttribute("aria-label", f.severity);
    const text = document.createElement("span");
    const code = document.createElement("span"); code.className = "code"; code.textContent = ` [${f.code}]`;
    text.append(document.createTextNode(f.message), code);
    button.append(icon, text);
    button.addEventListener("click", () => {
      for (const b of list.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-pressed", "true");
      highlightRegion(f, report, overlayImg, highlight);
    });
    li.appendChild(button); list.appendChild(li);
  }
}

// A finding's region is in canvas px; the overlay picture's scale maps it (report.pictures).
function highlightRegion(finding, report, img, box) {
  if (!finding.region || !img.naturalWidth) { box.hidden = true; return; }
  const scale = report.pictures.overlay.scale * (img.clientWidth / img.naturalWidth);
  const [x, y, w, h] = finding.region.px;
  Object.assign(box.style, { left: `${x * scale}px`, top: `${y * scale}px`,
    width: `${Math.max(4, w * scale)}px`, height: `${Math.max(4, h * scale)}px` });
  box.hidden = false;
}

$("approve").addEventListener("click", async () => {
  try {
    state.job = await api(`/v1/jobs/${state.job.id}/approve`, { method: "POST" });
    show($("approved"), "Approved: the warnings are signed off and the job goes to production.");
    $("approve").hidden = true;
  } catch (e) { show($("job-error"), errorText(e)); }
});
$("adjust").addEventListener("click", () => { $("step-place").scrollIntoView({ behavior: "smooth" }); });
$("restart").addEventListener("click", () => {
  state.artwork = null; state.job = null; chooseFile(null); $("file").value = "";
  show($("upload-warning"), ""); show($("upload-error"), "");
  $("step-place").hidden = true; $("step-result").hidden = true;
  $("step-upload").scrollIntoView({ behavior: "smooth" }); $("file").focus();
});

// --- production -------------------------------------------------------------------------

function startProduction() {
  $("production").hidden = false;
  const ids = $("device-ids");
  for (const t of state.templates) ids.appendChild(new Option(t.name, t.id));
  loadQueue(false);
}

function queueQuery() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("filters"))) {
    if (!value) continue;
    params.set(name, name.startsWith("created_") ? `${value}T00:00:00Z` : value);
  }
  if (params.has("created_before")) {  // "to" includes the whole day
    const end = new Date(params.get("created_before")); end.setUTCDate(end.getUTCDate() + 1);
    params.set("created_before", end.toISOString());
  }
  params.set("limit", "50");
  return params;
}

async function loadQueue(more) {
  show($("queue-error"), "");
  const params = queueQuery();
  if (more && state.queueCursor) params.set("cursor", state.queueCursor);
  let page;
  try { page = await api(`/v1/jobs?${params}`); }
  catch (e) { show($("queue-error"), errorText(e)); return; }
  const body = $("queue").tBodies[0];
  if (!more) body.replaceChildren();
  for (const job of page.jobs) body.appendChild(queueRow(job));
  state.queueCursor = page.next_cursor;
  $("more").hidden = !page.next_cursor;
  $("queue-empty").hidden = body.rows.length > 0;
}

function queueRow(job) {
  const tr = document.createElement("tr");
  const check = document.createElement("input");
  check.type = "checkbox"; check.value = job.id; check.setAttribute("aria-label", `Select ${job.id}`);
  check.disabled = job.production_status !== "approved";
  const open = document.createElement("button");
  open.type = "button"; open.className = "link"; open.textContent = job.id;
  open.addEventListener("click", () => openJob(job.id));
  const cells = [check, open, job.partner, job.template_id, job.status, job.verdict || "-",
    job.production_status || "-", new Date(job.created_at).toLocaleString()];
  for (const c of cells) {
    const td = document.createElement("td");
    if (typeof c === "string") td.textContent = c; else td.appendChild(c);
    tr.appendChild(td);
  }
  return tr;
}

$("filters").addEventListener("submit", (e) => { e.preventDefault(); loadQueue(false); });
$("more").addEventListener("click", () => loadQueue(true));

$("download-zip").addEventListener("click", async () => {
  const ids = [...$("queue").querySelectorAll("tbody input:checked")].map((c) => c.value);
  if (!ids.length) { $("zip-status").textContent = "Select approved jobs first."; return; }
  const params = new URLSearchParams(); for (const id of ids) params.append("job_id", id);
  $("zip-status").textContent = `Preparing ${ids.length} print file(s)...`;
  try {
    await download(`/v1/production/batch?${params}`, "print-batch.zip");
    $("zip-status").textContent = `Downloaded ${ids.length} job(s).`;
  } catch (e) { $("zip-status").textContent = errorText(e); }
});

async function openJob(id) {
  const job = await api(`/v1/jobs/${id}?history=true`);
  state.openJob = job;
  $("job-page").hidden = false;
  $("job-title").textContent = `Job ${job.id}`;
  $("job-summary").textContent = `${job.partner}, ${job.template_id}: ${job.status}` +
    (job.verdict ? `, verdict ${job.verdict}` : "") +
    (job.production_status ? `, ${job.production_status}` : "") +
    (job.partner_signed_off_at ? ", warnings signed off by the partner" : "");
  $("job-history").replaceChildren(...(job.history || []).map((h) => {
    const li = document.createElement("li");
    li.textContent = `${new Date(h.at).toLocaleString()}: ${h.action} by ${h.actor}` +
      (h.detail && h.detail.reason ? ` (${h.detail.reason})` : "");
    return li;
  }));
  $("job-report").textContent = "";
  $("job-findings").replaceChildren();
  $("job-message").textContent = "";
  for (const img of ["job-proof", "job-overlay"]) $(img).removeAttribute("src");
  if (job.status === "done") {
    const report = await api(`/v1/jobs/${id}/report`);
    $("job-report").textContent = JSON.stringify(report, null, 2);
    renderFindings($("job-findings"), report, $("job-overlay"), document.createElement("div"));
    await Promise.all([showImage($("job-proof"), `/v1/jobs/${id}/proof`),
      showImage($("job-overlay"), `/v1/jobs/${id}/overlay`)]);
  } else if (job.error) {
    $("job-report").textContent = `${job.error.code}: ${job.error.message}`;
  }
  $("job-page").scrollIntoView({ behavior: "smooth" });
}

async function decide(approve) {
  const job = state.openJob;
  const reason = $("reason").value.trim();
  try {
    await api(`/v1/jobs/${job.id}/${approve ? "approve" : "reject"}`,
      { method: "POST", json: reason ? { reason } : {} });
    await openJob(job.id);
    $("job-message").textContent = approve ? "Approved for printing." : "Rejected.";
    loadQueue(false);
  } catch (e) { $("job-message").textContent = errorText(e); }
}

$("job-approve").addEventListener("click", () => decide(true));
$("job-reject").addEventListener("click", () => decide(false));
$("job-download").addEventListener("click", async () => {
  try { await download(`/v1/jobs/${state.openJob.id}/print-file`, `${state.openJob.id}.tif`); }
  catch (e) { $("job-message").textContent = errorText(e); }
});

// --- start -------------------------------------------------------------------------------

(async () => {
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) {
    try { await signIn(key); } catch (_) { sessionStorage.removeItem(KEY_STORE); }
  }
})();
