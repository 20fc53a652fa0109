// The page: fill the form from /api/options, measure, restore with each chosen method in turn, show the results.
"use strict";

const $ = (id) => document.getElementById(id);
const LABELS = { ratio: "Ratio", keep_ratio: "Pixels kept", sigma: "Blur σ (px)", factor: "Factor", acceleration: "Acceleration" };
let options = null;

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(done, total, text) {
  $("status").hidden = !text;
  $("progress").max = total || 1;
  if (done === null) $("progress").removeAttribute("value"); else $("progress").value = done;
  $("status-text").textContent = text || "";
}

async function call(url, init) {
  const response = await fetch(url, init);
  let body = {};
  try { body = await response.json(); } catch (_) { body = { error: `the server answered ${response.status}` }; }
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

function renderParameters() {
  const name = $("operator").value;
  const defaults = options.operators[name] || {};
  $("parameters").innerHTML = "";
  for (const [key, value] of Object.entries(defaults)) {
    const label = document.createElement("label");
    label.textContent = `${LABELS[key] || key} `;
    const input = document.createElement("input");
    Object.assign(input, { type: "number", id: key, name: key, value: value, step: "any" });
    label.appendChild(input);
    $("parameters").appendChild(label);
  }
  $("noise_sigma").value = String((options.noise_sigma || {})[name] ?? 0);  // the setting the shipped models serve
}

function figure(name, src, caption, download) {
  const item = document.createElement("figure");
  item.dataset.name = name;
  const image = document.createElement("img");
  image.src = src;
  image.alt = name;
  const text = document.createElement("figcaption");
  text.innerHTML = `<span class="name"></span> <span class="scores"></span>`;
  text.querySelector(".name").textContent = name;
  text.querySelector(".scores").textContent = caption || "";
  item.append(image, text);
  if (download) {
    const link = document.createElement("a");
    Object.assign(link, { href: download.href, download: download.name || "", textContent: download.label || " download" });
    text.appendChild(document.createTextNode(" "));
    text.appendChild(link);
  }
  $("results").appendChild(item);
  return item;
}

async function restoreAll(caseDoc, methods) {
  $("results").innerHTML = "";
  figure("A†y (the measurement)", caseDoc.pinv, "", { href: caseDoc.measurement, label: "measurement (.safetensors)" });
  for (const [index, method] of methods.entries()) {
    setStatus(index, methods.length, `running ${method} (${index + 1} of ${methods.length})…`);
    const result = await call("/api/restore", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: caseDoc.id, method: method }),
    });
    const scores = result.psnr === null ? `${result.seconds.toFixed(2)} s`
      : `PSNR ${result.psnr.toFixed(2)} dB · SSIM ${result.ssim.toFixed(4)} · ${result.seconds.toFixed(2)} s`;
    const item = figure(method + (result.model ? ` (${result.model})` : ""), result.image, scores,
      { href: result.image + "?download=1", label: "PNG" });
    item.dataset.method = method;
    if (result.psnr !== null) { item.dataset.psnr = String(result.psnr); item.dataset.ssim = String(result.ssim); }
  }
  if (caseDoc.truth) figure("ground truth", caseDoc.truth, "");
  setStatus(methods.length, methods.length, `done: ${methods.length} method(s)`);
}

function chosenMethods() {
  return options.methods.filter((method) => $(`method-${method}`).checked);
}

async function run(makeCase) {
  showError("");
  const methods = chosenMethods();
  if (!methods.length) { showError("choose at least one method"); return; }
  for (const button of document.querySelectorAll("button")) button.disabled = true;
  try {
    setStatus(null, methods.length, "measuring…");
    await restoreAll(await makeCase(), methods);
  } catch (error) {
    showError(error.message);
    setStatus(0, 1, "");
  } finally {
    for (const button of document.querySelectorAll("button")) button.disabled = false;
  }
}

async function start() {
  options = await call("/api/options");
  for (const name of options.examples) $("example").add(new Option(name, name));
  for (const method of options.methods) {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", id: `method-${method}`, value: method });
    box.checked = method !== "pnp";
    label.append(box, document.createTextNode(" " + method));
    $("methods").appendChild(label);
  }
  $("limits").textContent = `Up to ${(options.max_upload_bytes / 1048576).toFixed(0)} MiB, ` +
    `${options.min_side}–${options.max_side} px per side (larger images: the command line's --tile).`;
  $("operator").addEventListener("change", renderParameters);
  renderParameters();
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => call("/api/measure", { method: "POST", body: new FormData($("form")) }));
  });
  $("run-measurement").addEventListener("click", () => run(() => {
    const file = $("measurement").files[0];
    if (!file) throw new Error("choose a measurement file first");
    const body = new FormData();
    body.append("measurement", file);
    return call("/api/measurement", { method: "POST", body: body });
  }));
}

start().catch((error) => showError(error.message));
