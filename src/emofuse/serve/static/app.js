// emofuse web page: upload or record a recording, POST it to /predict, show transcript, emotions, A/V/D.
// Everything the server returns is inserted as text (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
let recorded = null; // a WAV Blob made from the microphone, used when no file is chosen
let recorder = null;

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function renderTranscript(textWithSil) {
  const out = $("transcript-out");
  out.replaceChildren();
  const text = (textWithSil || "").trim();
  if (!text || text.split(/\s+/).every((t) => t === "[SIL]")) {
    const span = document.createElement("span");
    span.className = "empty";
    span.textContent = "(no words heard)";
    out.append(span);
    return;
  }
  text.split(/(\[SIL\])/).forEach((part) => {
    if (part === "[SIL]") {
      const sil = document.createElement("span");
      sil.className = "sil";
      sil.textContent = "[SIL]";
      out.append(sil);
    } else if (part) {
      out.append(document.createTextNode(part));
    }
  });
}

// fraction in [0, 1] fills from the left; with signed=true, fraction in [-1, 1] fills from the centre.
function barRow(container, label, value, fraction, isTop, signed = false) {
  const name = document.createElement("span");
  name.className = "bar-label" + (isTop ? " is-top" : "");
  name.textContent = label;
  const track = document.createElement("div");
  track.className = "bar-track";
  track.setAttribute("role", "meter");
  track.setAttribute("aria-label", label);
  track.setAttribute("aria-valuenow", String(value));
  const fill = document.createElement("div");
  fill.className = "bar-fill";
  if (signed) {
    const f = Math.max(-1, Math.min(1, fraction));
    track.classList.add("signed");
    fill.style.marginLeft = `${50 + Math.min(0, f) * 50}%`;
    fill.style.width = `${Math.abs(f) * 50}%`;
  } else {
    fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  }
  track.append(fill);
  const number = document.createElement("span");
  number.className = "bar-value";
  number.textContent = value;
  container.append(name, track, number);
}

function renderResult(result) {
  renderTranscript(result.text_with_sil);
  const silence = result.silence_ratio == null ? "" : `, ${(result.silence_ratio * 100).toFixed(0)} % silence`;
  const source = result.transcript_source === "asr" ? "speech recognition" : "your transcript";
  $("meta").textContent = `${result.duration_s.toFixed(2)} s${silence}; words from ${source}`;

  $("classes").hidden = !result.probabilities;
  if (result.probabilities) {
    $("top-class").textContent = result.top_class;
    const bars = $("bars");
    bars.replaceChildren();
    Object.entries(result.probabilities).forEach(([label, p]) => {
      barRow(bars, label, `${(p * 100).toFixed(1)} %`, p, label === result.top_class);
    });
  }
  $("avd").hidden = !result.avd;
  if (result.avd) {
    const values = Object.values(result.avd);
    const signed = Math.min(...values) < 0; // e.g. valence in [-1, 1]: bars grow from the centre
    const scale = signed ? Math.max(1, ...values.map(Math.abs)) : Math.max(1, ...values);
    const bars = $("avd-bars");
    bars.replaceChildren();
    Object.entries(result.avd).forEach(([name, v]) => barRow(bars, name, v.toFixed(2), v / scale, false, signed));
  }
  const table = $("timings");
  table.replaceChildren();
  Object.entries(result.timings_s || {}).forEach(([stage, seconds]) => {
    const row = table.insertRow();
    row.insertCell().textContent = stage;
    row.insertCell().textContent = `${(seconds * 1000).toFixed(0)} ms`;
  });
  $("result").hidden = false;
}

const PALETTE = ["#3756c8", "#d9822b", "#2e9e6a", "#b3261e", "#8a5cc2", "#7a7f8c", "#c2a400", "#1f9fb3"];

function renderSegments(body) {
  // emotions over time: one column per segment, stacked class probabilities (or A/V/D as text), and a table
  const segments = body.segments || [];
  $("timeline-box").hidden = false;
  $("timeline-meta").textContent = `(${segments.length} segment(s) in ${body.duration_s.toFixed(1)} s)`;
  const timeline = $("timeline");
  const legend = $("timeline-legend");
  const table = $("segments");
  timeline.replaceChildren();
  legend.replaceChildren();
  table.replaceChildren();
  const classes = segments.length && segments[0].probabilities ? Object.keys(segments[0].probabilities) : [];
  classes.forEach((c, k) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = PALETTE[k % PALETTE.length];
    item.append(swatch, c);
    legend.append(item);
  });
  const total = Math.max(body.duration_s, 1e-6);
  segments.forEach((seg) => {
    const column = document.createElement("div");
    column.className = "seg";
    column.style.left = `${(seg.start_s / total) * 100}%`;
    column.style.width = `${Math.max(0.2, ((seg.end_s - seg.start_s) / total) * 100)}%`;
    column.title = `${seg.start_s.toFixed(1)}-${seg.end_s.toFixed(1)} s: ${seg.top_class || ""} ${seg.text}`;
    classes.forEach((c, k) => {
      const part = document.createElement("span");
      part.style.height = `${seg.probabilities[c] * 100}%`;
      part.style.background = PALETTE[k % PALETTE.length];
      column.append(part);
    });
    timeline.append(column);
    const row = table.insertRow();
    row.insertCell().textContent = `${seg.start_s.toFixed(1)} s`;
    row.insertCell().textContent = `${seg.end_s.toFixed(1)} s`;
    row.insertCell().textContent = seg.top_class
      ? `${seg.top_class} ${(seg.probabilities[seg.top_class] * 100).toFixed(0)} %`
      : Object.entries(seg.avd || {}).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
    row.insertCell().textContent = seg.text;
  });
  $("transcript-out").textContent = segments.map((s) => s.text).join(" ");
  $("meta").textContent = `${body.duration_s.toFixed(2)} s; words from speech recognition`;
  $("classes").hidden = true;
  $("avd").hidden = true;
  $("timings-box").hidden = true;
  $("result").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  clearError();
  const file = $("audio-file").files[0];
  const audio = file || recorded;
  if (!audio) {
    showError("Choose an audio file or record something first.");
    return;
  }
  const form = new FormData();
  form.append("audio", audio, file ? file.name : "recording.wav");
  const overTime = $("over-time").checked;
  const transcript = $("transcript").value.trim();
  if (transcript && !overTime) form.append("transcript", transcript);
  $("submit-button").disabled = true;
  $("busy").hidden = false;
  try {
    const url = overTime ? "/predict/segments" : "/predict";
    let response = await fetch(url, { method: "POST", body: form, headers: keyHeaders() });
    if (response.status === 401 && askForKey()) {
      response = await fetch(url, { method: "POST", body: form, headers: keyHeaders() });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      let message = body && body.detail ? body.detail : `the server answered ${response.status}`;
      if (Array.isArray(message)) message = message.map((d) => d.msg || JSON.stringify(d)).join("; ");
      const retry = response.headers.get("Retry-After");
      showError(`Could not process the recording: ${message}${retry ? ` (retry in ${retry} s)` : ""}`);
      return;
    }
    if (overTime) {
      renderSegments(body);
    } else {
      $("timeline-box").hidden = true;
      $("timings-box").hidden = false;
      renderResult(body);
    }
  } catch (err) {
    showError(`Could not reach the server: ${err}`);
  } finally {
    $("submit-button").disabled = false;
    $("busy").hidden = true;
  }
}

// --- microphone: record with MediaRecorder, convert to 16-bit WAV in the browser (any server can read it) ---
function encodeWav(samples, sampleRate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const writeString = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  writeString(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  writeString(8, "WAVE");
  writeString(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  writeString(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([view], { type: "audio/wav" });
}

async function toWav(blob) {
  const context = new (window.AudioContext || window.webkitAudioContext)();
  try {
    const decoded = await context.decodeAudioData(await blob.arrayBuffer());
    const mono = new Float32Array(decoded.length);
    for (let c = 0; c < decoded.numberOfChannels; c++) {
      const data = decoded.getChannelData(c);
      for (let i = 0; i < data.length; i++) mono[i] += data[i] / decoded.numberOfChannels;
    }
    return encodeWav(mono, decoded.sampleRate);
  } finally {
    context.close();
  }
}

async function toggleRecording() {
  const button = $("record-button");
  if (recorder && recorder.state === "recording") {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("This browser cannot record here (a microphone needs https or localhost); upload a file instead.");
    return;
  }
  clearError();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`No microphone: ${err.message || err}`);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    button.classList.remove("recording");
    button.textContent = "\u25CF Record";
    const raw = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
    try {
      recorded = await toWav(raw);
    } catch (err) {
      recorded = raw; // the server decodes WebM/OGG itself when it has ffmpeg
    }
    $("audio-file").value = "";
    $("record-status").textContent = `recorded ${(recorded.size / 1024).toFixed(0)} KB; press "Recognise emotion"`;
  };
  recorder.start();
  button.classList.add("recording");
  button.textContent = "\u25A0 Stop";
  $("record-status").textContent = "recording\u2026";
}

// --- API key: a server started with --api-key-file wants it in X-API-Key; kept in this browser only ---
const KEY_STORAGE = "emofuse-api-key";
function keyHeaders() {
  const key = window.localStorage.getItem(KEY_STORAGE);
  return key ? { "X-API-Key": key } : {};
}
function askForKey() {
  const key = window.prompt("This server needs an API key (ask whoever runs it):");
  if (!key) return false;
  window.localStorage.setItem(KEY_STORAGE, key.trim());
  return true;
}

async function loadModelInfo() {
  try {
    const health = await (await fetch("/health", { headers: keyHeaders() })).json();
    const m = health.model || {};
    const what = m.task === "avd" ? (m.avd_names || []).join(", ") : (m.labels || []).join(", ");
    const branches = Object.keys(m.branches || {}).join(" + ");
    $("model-info").textContent = `model: ${what}${branches ? ` from ${branches}` : ""} (emofuse ${health.version})`;
  } catch (err) {
    $("model-info").textContent = "model information unavailable";
  }
}

$("upload-form").addEventListener("submit", submit);
$("record-button").addEventListener("click", toggleRecording);
$("audio-file").addEventListener("change", () => {
  recorded = null;
  $("record-status").textContent = "";
});
loadModelInfo();
