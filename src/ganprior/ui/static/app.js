// ganprior ui: three tabs over the JSON API (server.py). Plain JavaScript, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const STAGE = 384; // the drawing area's side in CSS pixels
let config = null;

// ------------------------------------------------------------------ helpers
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function options(select, items, chosen) {
  select.replaceChildren(...items.map(([value, label]) => el("option", { value, text: label })));
  if (chosen !== undefined && items.some(([value]) => value === chosen)) select.value = chosen;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, data: reader.result });
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function exampleUpload(name) {
  const response = await fetch(`/api/examples/${encodeURIComponent(name)}`);
  if (!response.ok) throw new Error((await response.json()).error);
  const blob = await response.blob();
  return readFile(new File([blob], `${name}.png`, { type: "image/png" }));
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the browser cannot show this file as an image"));
    image.src = src;
  });
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

// Poll a job until it ends; onStatus sees every status. Resolves with the result, rejects with its error line.
async function follow(jobId, onStatus) {
  for (;;) {
    const status = await (await fetch(`/api/jobs/${jobId}`)).json();
    if (onStatus) onStatus(status);
    if (status.state === "done") return status.result;
    if (status.state === "failed") throw new Error(status.error);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// A progress bar, its text and (optionally) the live estimate image for one tab.
function progressView(prefix) {
  const bar = $(`${prefix}-progress`), text = $(`${prefix}-status`);
  const live = $(`${prefix}-live`), preview = $(`${prefix}-preview`);
  return (status) => {
    const fraction = status.total ? status.step / status.total : 0;
    bar.value = status.state === "done" ? 1 : fraction;
    const left = status.seconds_left !== null ? ` · ${status.seconds_left.toFixed(1)} s left` : "";
    const steps = status.total ? ` step ${status.step}/${status.total}` : "";
    text.textContent = status.state === "queued" ? "waiting for a worker…" : `${status.stage}${steps}${left}`;
    if (status.state === "done") text.textContent = "done";
    if (status.state === "failed") text.textContent = "failed";
    if (live && status.state !== "running") live.hidden = true;
    if (live && status.preview && status.state === "running") {
      live.hidden = false;
      if (preview.getAttribute("src") !== status.preview) preview.src = status.preview;
    }
  };
}

async function running(button, errorLine, task) {
  button.disabled = true;
  errorLine.textContent = "";
  try {
    await task();
  } catch (error) {
    errorLine.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function showOnly(root, attribute, value) {
  for (const node of root.querySelectorAll(`[${attribute}]`)) {
    node.hidden = !node.getAttribute(attribute).split(" ").includes(value);
  }
}

function models(filter) {
  return config.models.filter(filter).map((m) => [m.name, `${m.name} (${m.resolution} px${m.channels === 1 ? ", gray" : ""})`]);
}

function link(href, text, download = true) {
  return el("a", { href: download ? `${href}?download=1` : href, text, class: "button" });
}

// ------------------------------------------------------------------ tabs
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const panel of document.querySelectorAll(".panel")) panel.classList.toggle("active", panel.id === tab.dataset.tab);
  });
}

// ------------------------------------------------------------------ Restore
const restore = {
  photo: null, // {name, data, width, height}
  strokes: 0,
  drawing: false,
  last: null,
  estimate: null, // {preset_steps, fixed_seconds, seconds_per_step}
  estimating: 0,
};

async function setPhoto(upload) {
  const image = await loadImage(upload.data);
  const canvas = $("r-canvas"), mask = $("r-mask-canvas");
  const scale = Math.min(STAGE / image.naturalWidth, STAGE / image.naturalHeight);
  const width = `${Math.round(image.naturalWidth * scale)}px`, height = `${Math.round(image.naturalHeight * scale)}px`;
  for (const c of [canvas, mask]) {
    c.width = image.naturalWidth;
    c.height = image.naturalHeight;
    Object.assign(c.style, { width, height });
  }
  Object.assign($("r-stage").style, { width, height });
  canvas.getContext("2d").drawImage(image, 0, 0);
  clearMask();
  restore.photo = { ...upload, width: image.naturalWidth, height: image.naturalHeight };
  $("r-stage-hint").textContent = `${upload.name}: ${image.naturalWidth}×${image.naturalHeight} px. Paint the hole; the result comes back at this size.`;
}

function maskContext() {
  return $("r-mask-canvas").getContext("2d", { willReadFrequently: true });
}

function clearMask() {
  const mask = $("r-mask-canvas");
  maskContext().clearRect(0, 0, mask.width, mask.height);
  restore.strokes = 0;
}

function brushAt(event) {
  const mask = $("r-mask-canvas");
  const box = mask.getBoundingClientRect();
  return [((event.clientX - box.left) * mask.width) / box.width, ((event.clientY - box.top) * mask.height) / box.height];
}

function paint(from, to) {
  const mask = $("r-mask-canvas");
  const context = maskContext();
  const box = mask.getBoundingClientRect();
  context.globalCompositeOperation = $("r-erase").checked ? "destination-out" : "source-over";
  context.strokeStyle = "#ff1744";
  context.lineCap = "round";
  context.lineJoin = "round";
  context.lineWidth = ($("r-brush").value * mask.width) / box.width;
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
}

// The drawn hole as a mask PNG at the photo's size: black = fill, white = keep (ganprior's convention).
function maskDataURL() {
  const mask = $("r-mask-canvas");
  const painted = maskContext().getImageData(0, 0, mask.width, mask.height).data;
  const out = document.createElement("canvas");
  out.width = mask.width;
  out.height = mask.height;
  const context = out.getContext("2d");
  const pixels = context.createImageData(mask.width, mask.height);
  for (let i = 0; i < painted.length; i += 4) {
    const value = painted[i + 3] > 0 ? 0 : 255;
    pixels.data.set([value, value, value, 255], i);
  }
  context.putImageData(pixels, 0, 0);
  return out.toDataURL("image/png");
}

function holePixels() {
  const mask = $("r-mask-canvas");
  const painted = maskContext().getImageData(0, 0, mask.width, mask.height).data;
  let count = 0;
  for (let i = 3; i < painted.length; i += 4) if (painted[i] > 0) count++;
  return count;
}

function setupDrawing() {
  const mask = $("r-mask-canvas");
  mask.addEventListener("pointerdown", (event) => {
    if (!restore.photo) return;
    mask.setPointerCapture(event.pointerId);
    restore.drawing = true;
    restore.last = brushAt(event);
    paint(restore.last, restore.last);
  });
  mask.addEventListener("pointermove", (event) => {
    if (!restore.drawing) return;
    const here = brushAt(event);
    paint(restore.last, here);
    restore.last = here;
  });
  const stop = () => {
    if (restore.drawing) restore.strokes++;
    restore.drawing = false;
  };
  mask.addEventListener("pointerup", stop);
  mask.addEventListener("pointercancel", stop);
  $("r-clear").addEventListener("click", clearMask);
}

function restoreMethods() {
  const task = $("r-task").value;
  return config.methods.filter((m) => !m.tasks || m.tasks.includes(task));
}

function refreshRestoreChoices() {
  const task = $("r-task").value;
  const usable = restoreMethods();
  options($("r-method"), usable.map((m) => [m.name, m.name]), $("r-method").value);
  const main = $("r-method").value;
  const ticked = new Set([...$("r-compare").querySelectorAll("input:checked")].map((box) => box.value));
  $("r-compare").replaceChildren(
    el("span", { text: "compare with:" }),
    ...usable
      .filter((m) => m.name !== main)
      .map((m) => {
        const box = el("input", { type: "checkbox", value: m.name });
        box.checked = ticked.has(m.name);
        return el("label", { title: m.help }, [box, m.name]);
      }),
  );
  showOnly($("restore"), "data-tasks", task);
  $("r-task").title = config.tasks[task];
  $("r-method").title = usable.find((m) => m.name === main).help;
  refreshEstimate();
}

async function refreshEstimate() {
  const line = $("r-preset");
  const ticket = ++restore.estimating;
  restore.estimate = null;
  line.textContent = "timing a few steps of this method…";
  try {
    const { job } = await post("/api/estimate", {
      model: $("r-model").value, task: $("r-task").value, method: $("r-method").value, factor: $("r-factor").value,
    });
    const estimate = await follow(job);
    if (ticket !== restore.estimating) return;
    restore.estimate = estimate;
    showEstimate();
  } catch (error) {
    if (ticket === restore.estimating) line.textContent = error.message;
  }
}

function showEstimate() {
  const estimate = restore.estimate;
  if (!estimate) return;
  const steps = Number($("r-steps").value) || estimate.preset_steps;
  const seconds = estimate.fixed_seconds + steps * estimate.seconds_per_step;
  $("r-preset").textContent = `preset ${estimate.preset_steps} steps; ${steps} steps ≈ ${seconds.toFixed(1)} s here`;
}

function restoreCard(entry) {
  const figures = [el("img", { src: entry.restored, class: "result", alt: `${entry.method} result` })];
  if (entry.detected) {
    figures.push(el("figure", {}, [el("img", { src: entry.detected, class: "pixelated detected", alt: "detected mask" }), el("figcaption", { text: "pixels it found corrupted" })]));
  }
  return el("div", { class: "card", "data-method": entry.method }, [
    el("h3", { text: entry.method }),
    el("span", { class: "meta", text: `${entry.steps} steps · ${entry.seconds.toFixed(1)} s` }),
    el("div", { class: "pair" }, figures),
    el("div", { class: "links" }, [
      link(entry.restored, "result PNG"),
      link(entry.report, "report JSON"),
      link(entry.compare, "comparison", false),
    ]),
  ]);
}

async function runRestore() {
  if (!restore.photo) throw new Error("upload a photo or pick an example first");
  const maskFile = $("r-mask").files[0];
  let mask = null, fill = "black";
  if (maskFile) {
    mask = await readFile(maskFile);
    fill = $("r-mask-fill").value;
  } else if (holePixels() > 0) {
    mask = { name: "drawn-mask.png", data: maskDataURL() };
  }
  const body = {
    model: $("r-model").value,
    task: $("r-task").value,
    method: $("r-method").value,
    compare: [...$("r-compare").querySelectorAll("input:checked")].map((box) => box.value),
    steps: $("r-steps").value || null,
    factor: $("r-factor").value,
    sigma: $("r-sigma").value,
    fit: $("r-fit").value,
    mask_fill: fill,
    photo: { name: restore.photo.name, data: restore.photo.data },
    mask,
  };
  $("r-results").replaceChildren();
  $("r-notes").replaceChildren();
  $("r-live").hidden = true;
  const { job } = await post("/api/restore", body);
  $("restore").dataset.job = job;
  const result = await follow(job, progressView("r"));
  $("r-notes").replaceChildren(...result.notes.map((note) => el("li", { text: note })));
  $("r-results").replaceChildren(...result.results.map(restoreCard));
  $("restore").dataset.done = job;
}

function setupRestore() {
  options($("r-model"), models(() => true), config.default_model);
  options($("r-task"), Object.keys(config.tasks).map((task) => [task, task]), "inpaint");
  options($("r-example"), config.examples.photos.map((name) => [name, name]));
  for (const id of ["r-task", "r-method"]) $(id).addEventListener("change", refreshRestoreChoices);
  $("r-model").addEventListener("change", refreshEstimate);
  $("r-factor").addEventListener("change", refreshEstimate);
  $("r-steps").addEventListener("input", showEstimate);
  $("r-photo").addEventListener("change", async () => {
    const file = $("r-photo").files[0];
    if (file) await running($("r-run"), $("r-error"), async () => setPhoto(await readFile(file)));
  });
  $("r-use-example").addEventListener("click", () =>
    running($("r-run"), $("r-error"), async () => setPhoto(await exampleUpload($("r-example").value))),
  );
  $("r-run").addEventListener("click", () => running($("r-run"), $("r-error"), runRestore));
  setupDrawing();
  refreshRestoreChoices();
}

// ------------------------------------------------------------------ Detect
const detector = { uploads: [], result: null, pixels: [] };

function showChosen() {
  const names = [...[...$("d-files").files].map((f) => f.name), ...detector.uploads.map((u) => u.name)];
  $("d-chosen").textContent = names.length ? `${names.length} file(s): ${names.join(", ")}` : "no images yet";
}

function refreshDetectors() {
  const card = config.models.find((m) => m.name === $("d-model").value);
  options($("d-method"), card.detectors.map((d) => [d, d]), card.detectors.includes("rrgi") ? "rrgi" : undefined);
}

// Recolour every image for the slider's threshold, as report.heat_overlay does: the map in red
// over the gray image, full red at twice the threshold; the mask white where the map exceeds it.
function recolour() {
  const threshold = Number($("d-threshold").value);
  $("d-threshold-value").textContent = threshold.toFixed(4);
  $("d-csv").href = `${detector.result.csv}?threshold=${threshold}`;
  detector.result.images.forEach((item, index) => {
    const card = $("d-results").children[index];
    const overlay = card.querySelector("canvas.overlay"), mask = card.querySelector("canvas.mask");
    const gray = detector.pixels[index];
    const heat = overlay.getContext("2d").createImageData(item.width, item.height);
    const binary = mask.getContext("2d").createImageData(item.width, item.height);
    let flagged = 0;
    item.map.forEach((value, i) => {
      const h = threshold > 0 ? Math.min(Math.max(value / (2 * threshold), 0), 1) : value > 0 ? 1 : 0;
      const g = gray[i];
      heat.data.set([(1 - 0.7 * h) * g + 0.7 * h * 255, (1 - 0.7 * h) * g, (1 - 0.7 * h) * g, 255], i * 4);
      const on = value > threshold ? 255 : 0;
      flagged += on ? 1 : 0;
      binary.data.set([on, on, on, 255], i * 4);
    });
    overlay.getContext("2d").putImageData(heat, 0, 0);
    mask.getContext("2d").putImageData(binary, 0, 0);
    card.querySelector(".flagged").textContent = `${((100 * flagged) / item.map.length).toFixed(1)}% flagged`;
  });
}

async function grayPixels(item) {
  const image = await loadImage(item.image);
  const canvas = el("canvas", { width: item.width, height: item.height });
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0, item.width, item.height);
  const rgba = context.getImageData(0, 0, item.width, item.height).data;
  const gray = new Float32Array(item.width * item.height);
  for (let i = 0; i < gray.length; i++) gray[i] = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3;
  return gray;
}

function detectCard(item) {
  const canvas = (kind) => el("canvas", { class: kind, width: item.width, height: item.height });
  return el("div", { class: "card" }, [
    el("h3", { text: item.name }),
    el("div", { class: "pair" }, [el("img", { src: item.image, alt: item.name }), canvas("overlay"), canvas("mask")]),
    el("span", { class: "meta" }, [
      `score ${item.score.toFixed(4)} · `,
      el("span", { class: `flag ${item.anomalous ? "yes" : "no"}`, text: item.anomalous ? "anomalous" : "normal" }),
      " · ",
      el("span", { class: "flagged" }),
    ]),
    el("div", { class: "links" }, [link(item.heatmap, "heatmap PNG")]),
  ]);
}

async function runDetect() {
  const files = [...$("d-files").files];
  const uploads = [...detector.uploads, ...(await Promise.all(files.map(readFile)))];
  if (!uploads.length) throw new Error("upload images (or a zip of them), or add examples");
  $("d-results").replaceChildren();
  $("d-threshold-box").hidden = true;
  const { job } = await post("/api/detect", {
    model: $("d-model").value, method: $("d-method").value, steps: $("d-steps").value || null, images: uploads,
  });
  const result = await follow(job, progressView("d"));
  detector.result = result;
  detector.pixels = await Promise.all(result.images.map(grayPixels));
  $("d-results").replaceChildren(...result.images.map(detectCard));
  const slider = $("d-threshold");
  slider.max = Math.max(result.max, 2 * result.threshold);
  slider.step = slider.max / 1000;
  slider.value = result.threshold;
  $("d-threshold-box").hidden = false;
  recolour();
  $("detect").dataset.done = job;
}

function setupDetect() {
  const usable = models((m) => m.detectors.length > 0);
  options($("d-model"), usable, usable.some(([name]) => name === config.default_model) ? config.default_model : undefined);
  const textures = [...new Set(config.examples.textures.map((name) => name.split("-")[0]))];
  options($("d-texture"), textures.map((t) => [t, `${t} crops`]));
  $("d-model").addEventListener("change", refreshDetectors);
  refreshDetectors();
  $("d-files").addEventListener("change", showChosen);
  $("d-use-examples").addEventListener("click", () =>
    running($("d-run"), $("d-error"), async () => {
      const texture = $("d-texture").value;
      const names = config.examples.textures.filter((name) => name.startsWith(`${texture}-`));
      detector.uploads.push(...(await Promise.all(names.map(exampleUpload))));
      if (usable.some(([name]) => name === `${texture}32`)) $("d-model").value = `${texture}32`;
      refreshDetectors();
      showChosen();
    }),
  );
  $("d-threshold").addEventListener("input", recolour);
  $("d-calibrated").addEventListener("click", () => {
    $("d-threshold").value = detector.result.threshold;
    recolour();
  });
  $("d-run").addEventListener("click", () => running($("d-run"), $("d-error"), runDetect));
}

// ------------------------------------------------------------------ Edit
const editor = { examples: [], result: null };

function figure(src, caption) {
  return el("figure", {}, [el("img", { src, alt: caption }), el("figcaption", { text: caption })]);
}

function refreshEditChoices() {
  const action = $("e-action").value;
  showOnly($("edit"), "data-actions", action);
  const filter = action === "transfer" ? (m) => m.classes.length > 0 : () => true;
  options($("e-model"), models(filter), $("e-model").value || config.default_model);
  refreshAttributes();
}

function refreshAttributes() {
  const card = config.models.find((m) => m.name === $("e-model").value);
  options($("e-attribute"), (card ? card.attributes : []).map((a) => [a, a]), $("e-attribute").value);
}

function showEditChosen() {
  const files = [$("e-image-a").files[0], $("e-image-b").files[0]].filter(Boolean).map((f) => f.name);
  const names = [...files, ...editor.examples.map((u) => u.name)];
  $("e-chosen").textContent = names.length ? `images: ${names.join(", ")}` : "";
}

function showFrame() {
  const result = editor.result, index = Number($("e-slider").value);
  const view = $("e-frames-view");
  if (result.action === "transfer") {
    const chosen = Number($("e-class").value);
    view.replaceChildren(figure(result.frames[chosen], result.classes[chosen]));
    return;
  }
  const value = result.values[index];
  $("e-slider-value").textContent = String(value);
  if (result.action === "jitter") {
    view.replaceChildren(...result.frames[index].map((src, k) => figure(src, `σ ${value} · sample ${k + 1}`)));
  } else {
    const caption = result.action === "morph" ? `t = ${value}` : `strength ${value} · score ${result.scores[index]}`;
    view.replaceChildren(figure(result.frames[index], caption));
  }
}

async function runEdit() {
  const action = $("e-action").value;
  const files = [$("e-image-a").files[0], ...(action === "morph" ? [$("e-image-b").files[0]] : [])].filter(Boolean);
  const images = [...(await Promise.all(files.map(readFile))), ...editor.examples];
  const body = {
    action,
    model: $("e-model").value,
    steps: $("e-steps").value || null,
    samples: $("e-samples").value || null,
    frames: $("e-frames").value,
    attribute: $("e-attribute").value,
    images: images.slice(0, action === "morph" ? 2 : 1),
  };
  for (const id of ["e-fitted", "e-frames-view"]) $(id).replaceChildren();
  $("e-slider-box").hidden = true;
  $("e-info").textContent = "";
  $("e-live").hidden = true;
  const { job } = await post("/api/edit", body);
  const result = await follow(job, progressView("e"));
  editor.result = { ...result, action };
  $("e-live").hidden = true;
  const inputs = result.inputs || [result.input];
  const fits = result.reconstructions || [result.reconstruction];
  const psnr = [].concat(result.psnr);
  $("e-fitted").replaceChildren(
    ...inputs.map((src, i) => figure(src, `input ${i + 1}`)),
    ...fits.map((src, i) => figure(src, `fit ${i + 1} · ${psnr[i]} dB`)),
  );
  const slider = $("e-slider");
  const transfer = action === "transfer";
  slider.hidden = transfer;
  $("e-slider-label").textContent = { jitter: "σ", morph: "frame", direction: "strength" }[action] || "class";
  $("e-class").hidden = !transfer;
  $("e-gif").hidden = !result.gif;
  if (result.gif) $("e-gif").href = `${result.gif}?download=1`;
  if (transfer) {
    options($("e-class"), result.classes.map((name, i) => [String(i), name]));
    $("e-info").textContent = `fitted as class ${result.reconstructed_as.join(", ")}`;
  } else {
    slider.max = result.values.length - 1;
    slider.value = action === "direction" ? result.values.indexOf(0) : Math.floor(result.values.length / 2);
  }
  if (action === "direction") {
    $("e-info").textContent = `direction accuracy ${result.accuracy} · change rate ${result.change_rate}`;
  }
  $("e-slider-box").hidden = false;
  showFrame();
  $("edit").dataset.done = job;
}

function setupEdit() {
  options($("e-example"), config.examples.photos.map((name) => [name, name]));
  $("e-action").addEventListener("change", refreshEditChoices);
  $("e-model").addEventListener("change", refreshAttributes);
  for (const id of ["e-image-a", "e-image-b"]) {
    $(id).addEventListener("change", () => {
      editor.examples = [];
      showEditChosen();
    });
  }
  $("e-use-example").addEventListener("click", () =>
    running($("e-run"), $("e-error"), async () => {
      editor.examples.push(await exampleUpload($("e-example").value));
      editor.examples = editor.examples.slice(-2);
      showEditChosen();
    }),
  );
  $("e-slider").addEventListener("input", showFrame);
  $("e-class").addEventListener("change", showFrame);
  $("e-run").addEventListener("click", () => running($("e-run"), $("e-error"), runEdit));
  refreshEditChoices();
}

// ------------------------------------------------------------------ start
window.ganpriorUI = { maskDataURL }; // what the browser test reads back

(async () => {
  config = await (await fetch("/api/config")).json();
  setupRestore();
  setupDetect();
  setupEdit();
  document.body.dataset.ready = "1";
})();
