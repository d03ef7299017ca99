// The fst serve page: runs an exported fst model with onnxruntime-web on webcam
// frames and photos. Model contract (fst.infer.export): input "image" and output
// "stylized", float32 NCHW RGB in [0, 1], any height and width >= 8. A multi-style model
// (models.json lists its styles) has a second input "style": float32 (S,) mixing weights,
// set here by a style picker and a blend slider towards a second style.
// Backend: WebGPU when the browser offers an adapter, else WASM (threads when the page
// is cross-origin isolated, which fst serve's headers make it). ?backend=wasm forces WASM.
import * as ort from "./vendor/ort.webgpu.min.mjs";

const INPUT_NAME = "image";
const STYLE_NAME = "style";
const OUTPUT_NAME = "stylized";
const PHOTO_MAX_SIDE = 1024;
const FPS_WINDOW_MS = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), strength: $("strength"), strengthValue: $("strength-value"), backend: $("backend"),
  message: $("message"), cameraToggle: $("camera-toggle"), resolution: $("resolution"), fps: $("fps"),
  frameMs: $("frame-ms"), video: $("video"), cameraInput: $("camera-input"), cameraOutput: $("camera-output"),
  drop: $("drop"), photoFile: $("photo-file"), photoInput: $("photo-input"), photoOutput: $("photo-output"),
  download: $("download"), photoMax: $("photo-max"), mix: $("mix"), styleA: $("style-a"),
  styleB: $("style-b"), blend: $("blend"), blendValue: $("blend-value"),
};
const state = {
  backend: "wasm",
  models: [],
  session: null,
  styles: [], // the style names of the loaded model ([] for a single-style model)
  queue: Promise.resolve(), // onnxruntime sessions run one call at a time
  stream: null,
  frameTimes: [],
  photo: null, // {name, input: ImageData, stylized: Float32Array} of the last photo
};

function showMessage(text, isError = true) {
  ui.message.textContent = text;
  ui.message.className = text && isError ? "error" : "";
}

function strength() {
  return Number(ui.strength.value) / 100;
}

// The mixing weights of the style pickers: (1 - blend) for the first style, blend for the
// second, as a float32 (S,) array; null for a single-style model.
function styleWeights() {
  if (!state.styles.length) return null;
  const weights = new Float32Array(state.styles.length);
  const amount = Number(ui.blend.value) / 100;
  weights[ui.styleA.selectedIndex] += 1 - amount;
  weights[ui.styleB.selectedIndex] += amount;
  return weights;
}

// Fill the style pickers for ``model`` (hidden for a single-style model).
function showStyles(model) {
  state.styles = model.styles || [];
  for (const picker of [ui.styleA, ui.styleB]) {
    picker.replaceChildren(...state.styles.map((name) => new Option(name, name)));
  }
  ui.styleB.selectedIndex = Math.min(1, state.styles.length - 1);
  ui.blend.value = "0";
  ui.blendValue.textContent = "0%";
  ui.mix.hidden = !state.styles.length;
}

// ---- backend and model ---------------------------------------------------------

async function pickBackend() {
  if (new URLSearchParams(location.search).get("backend") === "wasm" || !navigator.gpu) return "wasm";
  try {
    return (await navigator.gpu.requestAdapter()) ? "webgpu" : "wasm";
  } catch {
    return "wasm";
  }
}

function showBackend() {
  const threads = ort.env.wasm.numThreads;
  ui.backend.textContent =
    state.backend === "webgpu" ? "WebGPU" : `WASM (${threads} thread${threads === 1 ? "" : "s"})`;
}

async function createSession(bytes) {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: [state.backend] });
  if (!session.inputNames.includes(INPUT_NAME) || !session.outputNames.includes(OUTPUT_NAME)) {
    throw new Error(`expected input "${INPUT_NAME}" and output "${OUTPUT_NAME}", found ` +
      `${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}`);
  }
  return session;
}

async function loadModel(model) {
  ui.model.disabled = true;
  showMessage(`Loading ${model.name}…`, false);
  try {
    const response = await fetch(model.url);
    if (!response.ok) throw new Error(`the server answered HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let session;
    try {
      session = await createSession(bytes);
    } catch (err) {
      if (state.backend !== "webgpu") throw err;
      state.backend = "wasm"; // a WebGPU adapter that cannot run the model: fall back to the CPU
      showBackend();
      session = await createSession(bytes);
    }
    await exclusive(async () => {
      const old = state.session;
      state.session = session;
      showStyles(model);
      if (old) await old.release();
    });
    showMessage("");
    if (state.photo) await stylizePhoto();
  } catch (err) {
    showMessage(`Model "${model.name}" failed to load: ${err.message || err}`);
  } finally {
    ui.model.disabled = false;
  }
}

// ---- pixels <-> tensors ------------------------------------------------------------

function exclusive(task) {
  const result = state.queue.then(task);
  state.queue = result.catch(() => {});
  return result;
}

// RGBA ImageData (h, w) -> planar float32 RGB in [0, 1], laid out (1, 3, h, w).
function toPlanar(image) {
  const { width, height, data } = image;
  const plane = width * height;
  const x = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p++, i += 4) {
    x[p] = data[i] / 255;
    x[p + plane] = data[i + 1] / 255;
    x[p + 2 * plane] = data[i + 2] / 255;
  }
  return x;
}

// strength * stylized + (1 - strength) * input, as an opaque RGBA ImageData; the
// Uint8ClampedArray store clamps to [0, 255] and rounds half to even.
function blend(stylized, input, amount) {
  const { width, height, data } = input;
  const plane = width * height;
  const out = new ImageData(width, height);
  const rgba = out.data;
  const keep = (1 - amount) / 255;
  for (let p = 0, i = 0; p < plane; p++, i += 4) {
    rgba[i] = (amount * stylized[p] + keep * data[i]) * 255;
    rgba[i + 1] = (amount * stylized[p + plane] + keep * data[i + 1]) * 255;
    rgba[i + 2] = (amount * stylized[p + 2 * plane] + keep * data[i + 2]) * 255;
    rgba[i + 3] = 255;
  }
  return out;
}

// One forward pass: RGBA ImageData -> stylized planar float32 (3 * h * w). The graph
// adds the reflected border margin of fst stylize itself (docs/inference.md).
function stylize(image) {
  return exclusive(async () => {
    if (!state.session) throw new Error("no model is loaded");
    const input = new ort.Tensor("float32", toPlanar(image), [1, 3, image.height, image.width]);
    const feeds = { [INPUT_NAME]: input };
    const weights = styleWeights();
    if (weights) feeds[STYLE_NAME] = new ort.Tensor("float32", weights, [weights.length]);
    const outputs = await state.session.run(feeds);
    const output = outputs[OUTPUT_NAME];
    const data = output.data;
    input.dispose?.();
    if (output.dims.join() !== input.dims.join()) throw new Error(`output shape ${output.dims} != input shape`);
    return data;
  });
}

function fitCanvas(canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

// ---- webcam --------------------------------------------------------------------------

function cameraErrorText(err) {
  switch (err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was denied. Allow the camera for this page (the camera icon in the address bar), then press Start camera again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera found. Connect a camera and press Start camera again, or stylize a photo below.";
    case "NotReadableError":
      return "The camera could not be opened: another program may be using it.";
    default:
      return `The camera could not start (${err.name}: ${err.message}).`;
  }
}

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage("This browser allows the camera only on a secure page: open the page as http://localhost:PORT or http://127.0.0.1:PORT.");
    return;
  }
  ui.cameraToggle.disabled = true;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { height: { ideal: 480 } }, audio: false });
    ui.video.srcObject = state.stream;
    await ui.video.play();
  } catch (err) {
    stopCamera();
    showMessage(cameraErrorText(err));
    return;
  } finally {
    ui.cameraToggle.disabled = false;
  }
  if (ui.message.className === "error" && ui.message.textContent.includes("amera")) showMessage("");
  ui.cameraToggle.textContent = "Stop camera";
  state.frameTimes = [];
  cameraLoop(state.stream);
}

function stopCamera() {
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  ui.video.srcObject = null;
  ui.cameraToggle.textContent = "Start camera";
  ui.fps.textContent = "–";
}

function nextAnimationFrame() {
  return new Promise((resolve) => requestAnimationFrame(resolve));
}

function countFrame(frameMs) {
  const now = performance.now();
  state.frameTimes.push(now);
  while (state.frameTimes.length > 2 && now - state.frameTimes[0] > FPS_WINDOW_MS) state.frameTimes.shift();
  const times = state.frameTimes;
  if (times.length >= 2) ui.fps.textContent = (((times.length - 1) * 1000) / (now - times[0])).toFixed(1);
  ui.frameMs.textContent = frameMs.toFixed(0);
  ui.cameraOutput.dataset.frames = String(Number(ui.cameraOutput.dataset.frames) + 1);
}

// Grab a frame at the chosen number of lines, stylize it, then show the frame and its
// stylized version together (so the two always show the same moment); repeat while
// `stream` is live.
async function cameraLoop(stream) {
  const grab = document.createElement("canvas");
  const grabContext = grab.getContext("2d", { willReadFrequently: true });
  while (state.stream === stream) {
    const { videoWidth, videoHeight } = ui.video;
    if (!state.session || !videoHeight) {
      await nextAnimationFrame();
      continue;
    }
    const height = Math.min(Number(ui.resolution.value), videoHeight);
    const width = Math.max(8, Math.round((height * videoWidth) / videoHeight));
    fitCanvas(grab, width, height);
    grabContext.drawImage(ui.video, 0, 0, width, height);
    const frame = grabContext.getImageData(0, 0, width, height);
    const started = performance.now();
    try {
      const stylized = await stylize(frame);
      if (state.stream !== stream) break;
      for (const canvas of [ui.cameraInput, ui.cameraOutput]) fitCanvas(canvas, width, height);
      ui.cameraInput.getContext("2d").putImageData(frame, 0, 0);
      ui.cameraOutput.getContext("2d").putImageData(blend(stylized, frame, strength()), 0, 0);
    } catch (err) {
      showMessage(`Stylizing the camera failed: ${err.message || err}`);
      stopCamera();
      break;
    }
    countFrame(performance.now() - started);
    await nextAnimationFrame();
  }
}

// ---- photo ---------------------------------------------------------------------------

async function openPhoto(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    showMessage(`${file.name}: not an image this browser can read.`);
    return;
  }
  const scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.round(bitmap.width * scale);
  const height = Math.round(bitmap.height * scale);
  if (width < 8 || height < 8) {
    showMessage(`${file.name}: too small (${width}×${height}); the model needs at least 8×8 pixels.`);
    return;
  }
  fitCanvas(ui.photoInput, width, height);
  const context = ui.photoInput.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const base = file.name.replace(/\.[^.]*$/, "") || "photo";
  state.photo = { name: base, input: context.getImageData(0, 0, width, height), stylized: null };
  await stylizePhoto();
}

async function stylizePhoto() {
  const photo = state.photo;
  setDownload(null);
  try {
    photo.stylized = await stylize(photo.input);
  } catch (err) {
    showMessage(`Stylizing the photo failed: ${err.message || err}`);
    return;
  }
  if (state.photo === photo) showPhoto();
}

function showPhoto() {
  const { input, stylized, name } = state.photo;
  fitCanvas(ui.photoOutput, input.width, input.height);
  ui.photoOutput.getContext("2d").putImageData(blend(stylized, input, strength()), 0, 0);
  const filename = `${name}-${ui.model.value || "stylized"}.png`;
  ui.photoOutput.toBlob((blob) => setDownload(blob, filename), "image/png");
}

function setDownload(blob, filename) {
  if (ui.download.href) URL.revokeObjectURL(ui.download.href);
  if (blob) {
    ui.download.href = URL.createObjectURL(blob);
    ui.download.download = filename;
    ui.download.classList.remove("disabled");
  } else {
    ui.download.removeAttribute("href");
    ui.download.classList.add("disabled");
  }
}

// ---- wiring ----------------------------------------------------------------------------

function wireControls() {
  ui.cameraToggle.addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
  ui.model.addEventListener("change", () => loadModel(state.models[ui.model.selectedIndex]));
  ui.strength.addEventListener("input", () => {
    ui.strengthValue.textContent = `${ui.strength.value}%`;
    if (state.photo?.stylized) showPhoto();
  });
  for (const picker of [ui.styleA, ui.styleB]) {
    picker.addEventListener("change", () => state.photo && stylizePhoto());
  }
  ui.blend.addEventListener("input", () => (ui.blendValue.textContent = `${ui.blend.value}%`));
  ui.blend.addEventListener("change", () => state.photo && stylizePhoto()); // the camera follows every frame
  ui.photoFile.addEventListener("change", () => ui.photoFile.files[0] && openPhoto(ui.photoFile.files[0]));
  ui.drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    ui.drop.classList.add("over");
  });
  ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
  ui.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) openPhoto(file);
  });
  window.addEventListener("unhandledrejection", (event) => showMessage(`Error: ${event.reason?.message || event.reason}`));
}

async function main() {
  wireControls();
  ui.photoMax.textContent = String(PHOTO_MAX_SIDE);
  ort.env.logLevel = "error";
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  state.backend = await pickBackend();
  showBackend();
  try {
    const response = await fetch("models.json");
    state.models = (await response.json()).models;
  } catch (err) {
    showMessage(`Could not get the model list from the server (${err.message}).`);
    return;
  }
  if (!state.models.length) {
    showMessage("The server offers no models: start it with fst serve -m model.onnx.");
    return;
  }
  for (const model of state.models) ui.model.add(new Option(model.name, model.name));
  ui.cameraToggle.disabled = false;
  await loadModel(state.models[0]);
}

main();
