// The ganc demo: a lens translated live, a sketch canvas, a latency-budget slider, teacher vs compressed.
// Plain script, no build step: it talks to the gateway's public API (/v1/models, /v1/translate/{family}).
"use strict";

const BUDGETS = [5, 10, 20, 30, 50, 100, 200, 500, 1000, null]; // slider positions; the last is "no budget"
const LENS = 96; // lens side in image pixels
const MAX_SIDE = 512; // photos are scaled down to this for the page

const $ = (id) => document.getElementById(id);
const state = {
  families: {}, family: null, source: null, modelInput: null,
  lens: null, inFlight: false, dirty: false, lastVariant: null,
  touched: false, // the visitor picked something: the opening example stops where it is
};
const OPENING_SAMPLE = "astronaut";

function budget() { return BUDGETS[Number($("budget").value)]; }

function kind(task) {
  if (/^edges|sketch/.test(task)) return "sketch";
  if (task === "sr4x") return "restore-sr";
  if (task === "gray2color") return "restore-gray";
  return "photo";
}

async function loadModels() {
  const response = await fetch("/v1/models");
  const body = await response.json();
  const select = $("family");
  select.innerHTML = "";
  for (const family of body.families) {
    state.families[family.family] = family;
    select.add(new Option(family.family, family.family));
  }
  if (!body.families.length) { say("No family is served yet."); return; }
  // The page opens on a photo family, a sample already translated, teacher and compressed side by side.
  const photos = body.families.find((f) => kind(f.variants[0].task) !== "sketch");
  setFamily((photos || body.families[0]).family);
  if (photos) await openWithAnExample();
}

async function openWithAnExample() {
  const untouched = () => !state.touched;
  const response = await fetch(`/demo/static/samples/${OPENING_SAMPLE}.jpg`);
  if (!response.ok || state.touched) return;
  await loadImage(await response.blob(), untouched);
  if (untouched()) await compare();
}

function task() { return state.families[state.family].variants[0].task; }

function setFamily(name) {
  state.family = name;
  $("family").value = name;
  const k = kind(task());
  $("family-task").textContent = `task: ${task()}, ${state.families[name].variants.length} variants`;
  $("sketch-mode").hidden = k !== "sketch";
  $("photo-mode").hidden = k === "sketch";
  $("degraded-toggle").hidden = !k.startsWith("restore");
  if (k === "sketch") clearSketch();
  else if (state.source) prepareInput();
}

// --- photos: sources, degradation, view ---------------------------------------------------------

async function loadImage(blob, current = () => true) {
  const bitmap = await createImageBitmap(blob);
  if (!current()) return;
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  state.source = canvas;
  state.lens = { x: canvas.width / 2, y: canvas.height / 2 };
  await prepareInput();
}

function scaled(canvas, width, height) {
  const out = document.createElement("canvas");
  out.width = width; out.height = height;
  const context = out.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(canvas, 0, 0, width, height);
  return out;
}

async function degrade(canvas) {
  // What the model was trained on: sr4x is 4x down, JPEG at the low resolution, back up; gray2color is gray.
  const k = kind(task());
  if (k === "restore-gray") {
    const out = scaled(canvas, canvas.width, canvas.height);
    const context = out.getContext("2d");
    const pixels = context.getImageData(0, 0, out.width, out.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const y = 0.299 * pixels.data[i] + 0.587 * pixels.data[i + 1] + 0.114 * pixels.data[i + 2];
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = y;
    }
    context.putImageData(pixels, 0, 0);
    return out;
  }
  if (k !== "restore-sr") return canvas;
  const small = scaled(canvas, Math.max(1, Math.round(canvas.width / 4)), Math.max(1, Math.round(canvas.height / 4)));
  const jpeg = await new Promise((resolve) => small.toBlob(resolve, "image/jpeg", 0.7));
  return scaled(await createImageBitmap(jpeg), canvas.width, canvas.height);
}

async function prepareInput() {
  state.modelInput = await degrade(state.source);
  drawView();
  placeLens();
  translateLens();
}

function drawView() {
  const view = $("view");
  const shown = $("show-degraded").checked ? state.modelInput : state.source;
  view.width = shown.width; view.height = shown.height;
  view.getContext("2d").drawImage(shown, 0, 0);
}

// --- the lens -------------------------------------------------------------------------------------

function lensBox() {
  const side = Math.min(LENS, state.source.width, state.source.height);
  const clamp = (v, max) => Math.max(0, Math.min(Math.round(v - side / 2), max - side));
  return { x: clamp(state.lens.x, state.source.width), y: clamp(state.lens.y, state.source.height), side };
}

function placeLens() {
  const view = $("view"), lens = $("lens");
  const scale = view.getBoundingClientRect().width / view.width;
  const box = lensBox();
  Object.assign(lens.style, { left: `${box.x * scale}px`, top: `${box.y * scale}px`,
                              width: `${box.side * scale}px`, height: `${box.side * scale}px` });
  lens.hidden = false;
}

function moveLensTo(event) {
  const view = $("view");
  const rect = view.getBoundingClientRect();
  state.lens = { x: (event.clientX - rect.left) * view.width / rect.width,
                 y: (event.clientY - rect.top) * view.height / rect.height };
  placeLens();
  translateLens();
}

function crop(canvas, box) {
  const out = document.createElement("canvas");
  out.width = out.height = box.side;
  out.getContext("2d").drawImage(canvas, box.x, box.y, box.side, box.side, 0, 0, box.side, box.side);
  return out;
}

function translateLens() {
  if (!state.modelInput) return;
  throttled(() => crop(state.modelInput, lensBox()), $("lens-result"));
}

// --- requests: at most one in flight; the latest input goes next ----------------------------------

function throttled(input, target) {
  if (state.inFlight) { state.dirty = () => throttled(input, target); return; }
  state.inFlight = true;
  state.dirty = false;
  translate(input(), {}).then((answer) => {
    if (answer) { draw(answer.bitmap, target); say(describe(answer)); state.lastVariant = answer.variant; }
  }).finally(() => {
    state.inFlight = false;
    if (state.dirty) state.dirty();
  });
}

async function translate(canvas, params) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const query = new URLSearchParams(params);
  if (budget() !== null && !params.variant) query.set("budget_ms", budget());
  const response = await fetch(`/v1/translate/${encodeURIComponent(state.family)}?${query}`, {
    method: "POST", headers: { "Content-Type": "image/png" }, body: blob,
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ error: response.statusText }));
    say(`The gateway refused: ${problem.error}`);
    return null;
  }
  const h = response.headers;
  return {
    bitmap: await createImageBitmap(await response.blob()),
    variant: h.get("X-Ganc-Variant"), backend: h.get("X-Ganc-Backend"),
    latency: Number(h.get("X-Ganc-Latency-Ms")), met: h.get("X-Ganc-Budget-Met"),
  };
}

function draw(bitmap, canvas) {
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
}

function macs(variant) {
  const v = state.families[state.family].variants.find((x) => x.variant === variant);
  return v ? `${(v.macs / 1e9).toFixed(2)} GMACs` : "";
}

function agreement(variant) {
  const v = state.families[state.family].variants.find((x) => x.variant === variant);
  return v && v.quality.psnr !== undefined ? ` · PSNR ${v.quality.psnr.toFixed(1)} dB` : "";
}

function describe(a) {
  const met = a.met === null ? "" : a.met === "true" ? ", budget met" : ", budget missed";
  return `${a.variant} on ${a.backend} · ${macs(a.variant)} · ${a.latency.toFixed(1)} ms${met}${agreement(a.variant)}`;
}

function say(text) { $("answer").textContent = text; }

// --- sketches -------------------------------------------------------------------------------------

function clearSketch() {
  const canvas = $("sketch"), context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
}

function sketchPoint(event) {
  const canvas = $("sketch"), rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
}

function translateSketch() { throttled(() => $("sketch"), $("sketch-result")); }

// --- teacher and compressed, side by side ---------------------------------------------------------

async function compare() {
  const variants = state.families[state.family].variants;
  const students = variants.filter((v) => v.variant !== "teacher");
  if (!students.length || !variants.some((v) => v.variant === "teacher")) { say("This family has no teacher and student pair."); return; }
  const student = students.some((v) => v.variant === state.lastVariant)
    ? state.lastVariant : students.reduce((a, b) => (a.macs < b.macs ? a : b)).variant;
  const input = kind(task()) === "sketch" ? $("sketch") : state.modelInput && crop(state.modelInput, lensBox());
  if (!input) { say("Pick a photo first."); return; }
  for (const [variant, canvas, info] of [["teacher", "compare-teacher", "compare-teacher-info"],
                                         [student, "compare-student", "compare-student-info"]]) {
    const answer = await translate(input, { variant });
    if (!answer) return;
    draw(answer.bitmap, $(canvas));
    $(info).textContent = describe(answer);
  }
}

// --- a job's report ---------------------------------------------------------------------------------

async function openReport(event) {
  event.preventDefault();
  const id = $("report-job").value.trim();
  // The route wants the token in a header, which a link cannot carry: fetched here, shown from memory.
  const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}/report`, {
    headers: { Authorization: `Bearer ${$("report-token").value.trim()}` },
  });
  if (!response.ok) {
    $("report-answer").textContent = (await response.json()).error;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  $("report-answer").innerHTML = "";
  const link = Object.assign(document.createElement("a"), { href: url, target: "_blank", id: "report-link" });
  link.textContent = `the report of job ${id}`;
  $("report-answer").append("Open ", link);
  window.open(url, "_blank");
}

// --- wiring ---------------------------------------------------------------------------------------

function wire() {
  for (const id of ["family", "budget", "upload", "stage", "sketch"]) {
    for (const event of ["change", "input", "pointerdown", "keydown", "drop"]) {
      $(id).addEventListener(event, () => { state.touched = true; });
    }
  }
  for (const button of document.querySelectorAll("[data-sample], #compare")) {
    button.addEventListener("click", () => { state.touched = true; });
  }
  $("family").addEventListener("change", (e) => setFamily(e.target.value));
  $("budget").addEventListener("input", () => {
    const b = budget();
    $("budget-value").textContent = b === null ? "none" : `${b} ms`;
    $("budget").setAttribute("aria-valuetext", b === null ? "no budget" : `${b} milliseconds`);
    if (kind(task()) === "sketch") translateSketch(); else translateLens();
  });
  $("show-degraded").addEventListener("change", () => state.source && drawView());
  $("upload").addEventListener("change", (e) => e.target.files[0] && loadImage(e.target.files[0]));
  for (const button of document.querySelectorAll("[data-sample]")) {
    button.addEventListener("click", async () => {
      const response = await fetch(`/demo/static/samples/${button.dataset.sample}.jpg`);
      await loadImage(await response.blob());
    });
  }
  const stage = $("stage");
  stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("dragover"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("dragover"));
  stage.addEventListener("drop", (e) => {
    e.preventDefault();
    stage.classList.remove("dragover");
    if (e.dataTransfer.files[0]) loadImage(e.dataTransfer.files[0]);
  });
  stage.addEventListener("pointerdown", (e) => { if (state.source) { stage.setPointerCapture(e.pointerId); moveLensTo(e); } });
  stage.addEventListener("pointermove", (e) => { if (state.source && e.buttons) moveLensTo(e); });
  stage.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: [-8, 0], ArrowRight: [8, 0], ArrowUp: [0, -8], ArrowDown: [0, 8] }[e.key];
    if (!step || !state.source) return;
    e.preventDefault();
    state.lens = { x: state.lens.x + step[0], y: state.lens.y + step[1] };
    placeLens();
    translateLens();
  });
  window.addEventListener("resize", () => state.source && placeLens());

  const sketch = $("sketch");
  let last = null;
  sketch.addEventListener("pointerdown", (e) => { sketch.setPointerCapture(e.pointerId); last = sketchPoint(e); });
  sketch.addEventListener("pointermove", (e) => {
    if (!last) return;
    const point = sketchPoint(e), context = sketch.getContext("2d");
    context.strokeStyle = "#000"; context.lineWidth = 3; context.lineCap = "round";
    context.beginPath(); context.moveTo(...last); context.lineTo(...point); context.stroke();
    last = point;
    translateSketch();
  });
  sketch.addEventListener("pointerup", () => { last = null; translateSketch(); });
  $("clear-sketch").addEventListener("click", () => { clearSketch(); translateSketch(); });
  $("compare").addEventListener("click", compare);
  $("report-form").addEventListener("submit", openReport);
}

wire();
loadModels().catch((error) => say(`Cannot list the models: ${error}`));
