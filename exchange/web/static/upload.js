/* A provider's browser upload (see exchange/web/upload.py): each chosen file is checked (SHA-256),
   an upload is started or resumed through the page's JSON endpoints (session + X-CSRFToken), its
   parts are PUT straight to S3 through presigned URLs, three at a time, with progress and retries,
   then completed; the page then polls the product's status until ingest has published or refused it.
   The upload's id (never a URL or token) is kept in localStorage, keyed by product, asset and file,
   so after a reload the same file resumes with only the parts S3 has not received. The file's
   SHA-256 comes from upload-sha256.js, loaded before this one. */
"use strict";

/* -- talking to the platform ------------------------------------------------------------------- */
const PARALLEL_PARTS = 3;
const URL_BATCH = 50;  // presigned part URLs asked for at a time (they expire)
const RETRIES = 4;
const POLLS = 600;  // status polls after the last file is sent (about ten minutes)
const URL_MARGIN_MS = 60000;  // presigned URLs are asked for again this long before they expire
const MEDIA_TYPES = {
  tif: "image/tiff; application=geotiff", tiff: "image/tiff; application=geotiff", json: "application/json",
  geojson: "application/geo+json", png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", jp2: "image/jp2",
  zip: "application/zip", nc: "application/x-netcdf", h5: "application/x-hdf5", pdf: "application/pdf",
  xml: "application/xml", txt: "text/plain", csv: "text/csv", kml: "application/vnd.google-earth.kml+xml",
};

class Refused extends Error {
  /* The platform's problem details (status, detail, errors, and extras such as upload_id). */
  constructor(status, problem) {
    const errors = (problem.errors || []).map((e) => (e.field ? e.field + ": " : "") + e.message).join("; ");
    super((problem.detail || problem.title || "HTTP " + status) + (errors ? " (" + errors + ")" : ""));
    this.status = status;
    this.problem = problem;
  }

  /* The session ended (401) or the page's CSRF token is no longer the session's (400): only signing
     in and reloading the page helps. */
  get signedOut() {
    return this.status === 401 || (this.status === 400 && /CSRF/.test(this.problem.detail || ""));
  }
}

class Platform {
  constructor(base, csrf) { this.base = base; this.csrf = csrf; }

  async call(method, path, body) {
    const options = { method, headers: { "X-CSRFToken": this.csrf, Accept: "application/json" },
                      credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(this.base + path, options);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({ title: response.statusText }));
    if (!response.ok) throw new Refused(response.status, data);
    return data;
  }
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function putBlob(url, blob, onProgress) {
  /* PUT a part to S3 (XMLHttpRequest: fetch reports no upload progress). Resolves with the status;
     rejects on a network error. The part's length is signed in the URL; the browser sends it. */
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => resolve(xhr.status);
    xhr.onerror = () => reject(new Error("network"));
    xhr.onabort = () => reject(new Error("aborted"));
    xhr.ontimeout = () => reject(new Error("timeout"));
    xhr.send(blob);
  });
}

/* -- one file -------------------------------------------------------------------------------- */
class FileUpload {
  constructor(page, file, row) {
    this.page = page; this.file = file; this.row = row;
    this.upload = null; this.loaded = new Map(); this.doneBytes = 0; this.urls = new Map(); this.urlsExpire = 0;
  }

  keepUrls(answer) {
    /* Remember presigned URLs and when they expire (a sleeping laptop outlives them). */
    if (answer.url) this.urls.set(1, answer.url);  // one PUT for a small file
    (answer.parts || []).forEach((p) => this.urls.set(p.part_number, p.url));
    this.urlsExpire = answer.expires_at ? Date.parse(answer.expires_at) : 0;
  }

  get assetKey() { return this.row.assetInput.value.trim(); }
  get mediaType() { return MEDIA_TYPES[(this.file.name.split(".").pop() || "").toLowerCase()] || "application/octet-stream"; }
  get storageKey() {
    const f = this.file;
    return ["sdx-upload", this.page.product, this.assetKey, f.name, f.size, f.lastModified].join("|");
  }

  say(text) { this.row.state.textContent = text; }

  showProgress() {
    let inFlight = 0;
    this.loaded.forEach((n) => { inFlight += n; });
    const sent = Math.min(this.file.size, this.doneBytes + inFlight);
    const percent = this.file.size ? Math.floor((100 * sent) / this.file.size) : 100;
    this.row.bar.value = percent;
    this.row.text.textContent = this.page.format("progress", { percent, done: megabytes(sent), total: megabytes(this.file.size) });
  }

  async open() {
    /* Resume the upload this browser started for the same file, else start one (or resume the
       asset's open upload when it holds this very file). */
    this.row.assetInput.disabled = true;
    const known = localStorage.getItem(this.storageKey);
    if (known) {
      try {
        const upload = await this.page.platform.call("GET", "/uploads/" + known);
        if (upload.state === "open") return this.resumed(upload);
      } catch (error) {
        if (!(error instanceof Refused) || error.status !== 404) throw error;
      }
      localStorage.removeItem(this.storageKey);
    }
    const sha256 = await sha256OfFile(this.file, (n) => this.say(this.page.format("hashing", {
      percent: Math.floor((100 * n) / Math.max(1, this.file.size)) })));
    this.say(this.page.format("starting"));
    try {
      this.upload = await this.page.platform.call("POST", "/products/" + this.page.product + "/assets/" +
        encodeURIComponent(this.assetKey) + "/uploads",
        { filename: this.file.name, size: this.file.size, sha256, media_type: this.mediaType });
    } catch (error) {
      const openId = error instanceof Refused && error.problem.upload_id;
      if (!openId) throw error;
      const upload = await this.page.platform.call("GET", "/uploads/" + openId);
      if (upload.asset.size !== this.file.size || upload.asset.sha256 !== sha256) {
        this.conflictId = openId;  // the user may abort it (the Abort button)
        throw new Error(this.page.format("other_file", { asset: this.assetKey }));
      }
      return this.resumed(upload);
    }
    localStorage.setItem(this.storageKey, this.upload.id);
    this.keepUrls(this.upload);
    return this.upload;
  }

  resumed(upload) {
    this.upload = upload;
    this.urls.clear();  // they may have expired meanwhile; fresh ones are asked for part by part
    localStorage.setItem(this.storageKey, upload.id);
    const received = (upload.received_parts || []).filter((p) => p.size === this.partLength(p.part_number));
    this.received = new Set(received.map((p) => p.part_number));
    this.doneBytes = received.reduce((sum, p) => sum + p.size, 0);
    this.say(this.page.format("resumed", { parts: this.received.size, total: upload.part_count }));
    this.showProgress();
    return upload;
  }

  partLength(n) {
    const size = this.upload.part_size;
    return Math.min(size, this.file.size - (n - 1) * size);
  }

  async send() {
    /* Every part S3 has not received, PARALLEL_PARTS at a time. */
    const received = this.received || new Set();
    const todo = [];
    for (let n = 1; n <= this.upload.part_count; n++) if (!received.has(n)) todo.push(n);
    this.say(this.page.format("sending"));
    let failed = false;  // one part given up: the other workers take no new part
    const worker = async () => {
      while (todo.length && !failed) {
        const n = todo.shift();
        try {
          await this.sendPart(n);
        } catch (error) {
          failed = true;
          throw error;
        }
        this.received = received.add(n);
      }
    };
    // Every worker settles before the error is shown, so Resume never races a part still in flight.
    const results = await Promise.allSettled(Array.from({ length: Math.min(PARALLEL_PARTS, todo.length) }, worker));
    const failure = results.find((r) => r.status === "rejected");
    if (failure) throw failure.reason;
  }

  async freshUrls(numbers) {
    const answer = await this.page.platform.call("POST", "/uploads/" + this.upload.id + "/parts", { part_numbers: numbers });
    this.keepUrls(this.upload.multipart ? { parts: answer.parts, expires_at: answer.expires_at } : answer);
  }

  async sendPart(n) {
    for (let attempt = 0; ; attempt++) {
      if (this.urlsExpire && Date.now() > this.urlsExpire - URL_MARGIN_MS) this.urls.clear();
      if (!this.urls.has(n)) {
        const missing = [];
        for (let m = n; m <= this.upload.part_count && missing.length < URL_BATCH; m++) {
          if (!this.urls.has(m) && !(this.received && this.received.has(m))) missing.push(m);
        }
        await this.freshUrls(missing);
      }
      const offset = (n - 1) * this.upload.part_size;
      const blob = this.file.slice(offset, offset + this.partLength(n));
      let status = 0;
      try {
        status = await putBlob(this.urls.get(n), blob, (loaded) => { this.loaded.set(n, loaded); this.showProgress(); });
      } catch (error) {
        status = 0;
      }
      this.loaded.delete(n);
      if (status === 200) {
        this.doneBytes += blob.size;
        this.showProgress();
        return;
      }
      // Expired or refused (403, or 0 when S3's answer carries no CORS headers): a fresh URL.
      if (status === 403 || status === 0) this.urls.delete(n);
      if (attempt + 1 >= RETRIES) throw new Error(this.page.format("part_failed", { part: n, status: status || "—" }));
      const seconds = 0.5 * 2 ** attempt;
      this.say(this.page.format("retrying", { part: n, seconds }));
      this.showProgress();
      await sleep(seconds * 1000);
      this.say(this.page.format("sending"));
    }
  }

  async abort() {
    /* Abort the open upload (S3 drops every part received) and forget it, so Upload starts afresh. */
    const id = (this.upload && this.upload.id) || this.conflictId;
    if (id) await this.page.platform.call("DELETE", "/uploads/" + id);
    localStorage.removeItem(this.storageKey);
    this.upload = null; this.conflictId = null; this.received = null; this.doneBytes = 0;
    this.urls.clear(); this.loaded.clear();
    this.row.assetInput.disabled = false;
    this.showProgress();
    this.say(this.page.format("aborted"));
  }

  async complete() {
    this.say(this.page.format("completing"));
    await this.page.platform.call("POST", "/uploads/" + this.upload.id + "/complete");
    localStorage.removeItem(this.storageKey);
    this.row.bar.value = 100;
    this.say(this.page.format("verifying"));
  }
}

function megabytes(n) { return (n / 1048576).toFixed(1) + " MiB"; }

/* -- the page -------------------------------------------------------------------------------- */
class UploadPage {
  constructor(root) {
    this.root = root;
    this.product = root.dataset.product;
    this.platform = new Platform(root.dataset.base, root.dataset.csrf);
    this.messages = JSON.parse(document.getElementById("upload-messages").textContent);
    this.form = document.getElementById("upload-form");
    this.input = document.getElementById("upload-files");
    this.table = document.getElementById("upload-table");
    this.startButton = document.getElementById("upload-start");
    this.resumeButton = document.getElementById("upload-resume");
    this.status = document.getElementById("upload-status");
    this.loginUrl = root.dataset.login;
    this.uploads = [];
    this.input.addEventListener("change", () => this.choose());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.run(); });
    this.resumeButton.addEventListener("click", () => this.run());
    this.startButton.disabled = false;  // disabled in the page until this script runs
    if (this.input.files.length) this.choose();  // chosen before the script ran, or kept by the browser
  }

  format(name, values) {
    return (this.messages[name] || name).replace(/\{(\w+)\}/g, (_, key) => (values && key in values ? values[key] : ""));
  }

  choose() {
    const body = this.table.tBodies[0];
    body.replaceChildren();
    this.uploads = Array.from(this.input.files, (file, i) => new FileUpload(this, file, this.row(body, file, i)));
    this.table.hidden = this.uploads.length === 0;
    this.resumeButton.hidden = true;
    this.status.textContent = "";
  }

  row(body, file, i) {
    const tr = body.insertRow();
    const cell = (label) => { const td = tr.insertCell(); td.dataset.label = label; return td; };
    cell(this.format("file")).textContent = file.name;
    const assetCell = cell(this.format("asset"));
    const assetLabel = document.createElement("label");
    assetLabel.className = "visually-hidden";
    assetLabel.htmlFor = "upload-asset-" + i;
    assetLabel.textContent = this.format("asset_label", { file: file.name });
    const assetInput = document.createElement("input");
    assetInput.id = "upload-asset-" + i;
    assetInput.value = (file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.:-]/g, "_").replace(/^[^A-Za-z0-9]+/, "") || "data").slice(0, 100);
    if (this.input.files.length === 1) assetInput.value = "data";
    assetCell.append(assetLabel, assetInput);
    const progressCell = cell(this.format("progress_heading"));
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", this.format("progress_label", { file: file.name }));
    const text = document.createElement("span");
    text.className = "upload-bytes";
    text.textContent = this.format("progress", { percent: 0, done: megabytes(0), total: megabytes(file.size) });
    progressCell.append(bar, " ", text);
    const stateCell = cell(this.format("state"));
    const state = document.createElement("span");
    state.setAttribute("aria-live", "polite");
    state.textContent = this.format("ready_to_send");
    const abort = document.createElement("button");
    abort.type = "button";
    abort.className = "secondary upload-abort";
    abort.hidden = true;
    abort.textContent = this.format("abort");
    abort.setAttribute("aria-label", this.format("abort_label", { file: file.name }));
    abort.addEventListener("click", () => this.abort(i));
    stateCell.append(state, " ", abort);
    return { assetInput, bar, text, state, abort };
  }

  async run() {
    if (!this.uploads.length) { this.status.textContent = this.format("choose"); this.input.focus(); return; }
    this.startButton.disabled = true; this.resumeButton.hidden = true; this.input.disabled = true;
    this.uploads.forEach((u) => { u.row.abort.hidden = true; });
    let current = null;
    try {
      // Every file's upload is opened before any is completed, so the product waits for all of them.
      for (current of this.uploads) if (!current.completed) await current.open();
      for (current of this.uploads) if (!current.completed) await current.send();
      for (current of this.uploads) if (!current.completed) { await current.complete(); current.completed = true; }
    } catch (error) {
      this.interrupted(current, error);
      return;
    }
    this.status.textContent = this.format("all_sent");
    this.watch();
  }

  async abort(i) {
    const upload = this.uploads[i];
    upload.row.abort.disabled = true;
    try {
      await upload.abort();
      upload.row.abort.hidden = true;
      this.status.textContent = "";
    } catch (error) {
      upload.say(error.message);
    }
    upload.row.abort.disabled = false;
    this.input.disabled = false;
  }

  signedOut() {
    /* Resume cannot help once the session is gone: sign in (which comes back here), then reload;
       the upload's id in localStorage lets the same file resume. */
    const link = document.createElement("a");
    link.href = this.loginUrl;
    link.textContent = this.format("sign_in");
    this.status.replaceChildren(this.format("signed_out"), " ", link);
  }

  interrupted(upload, error) {
    if (error instanceof Refused && error.signedOut) {
      if (upload) upload.say(this.format("session"));
      this.signedOut();
      return;
    }
    const reason = error.message;
    if (upload) upload.say(this.format("interrupted", { reason }));
    if (upload && (upload.upload || upload.conflictId)) upload.row.abort.hidden = false;
    this.status.textContent = this.format("interrupted", { reason });
    this.resumeButton.hidden = false;
    this.startButton.disabled = false;
  }

  async watch() {
    /* Poll the product's status until ingest has settled the files this page sent (another asset's
       abandoned upload is not waited for); say so when polling stops without an outcome. */
    const mine = new Set(this.uploads.map((u) => u.assetKey));
    for (let i = 0; i < POLLS; i++) {
      let status;
      try {
        status = await this.platform.call("GET", "/products/" + this.product + "/status");
      } catch (error) {
        if (error instanceof Refused && error.signedOut) return this.signedOut();
        await sleep(3000);
        continue;
      }
      const sent = status.assets.filter((a) => mine.has(a.key));
      const checking = sent.length < mine.size || sent.some((a) => a.state === "uploading" || a.state === "verifying");
      document.getElementById("product-state").textContent = this.format("state_" + status.status);
      if (!checking) return this.settled(status, sent);
      await sleep(1000);
    }
    this.status.textContent = this.format("still_checking");
  }

  settled(status, sent) {
    const result = document.getElementById("upload-result");
    const outcome = document.getElementById("upload-outcome");
    const reasons = document.getElementById("upload-reasons");
    reasons.replaceChildren();
    this.uploads.forEach((u) => {
      const asset = status.assets.find((a) => a.key === u.assetKey);
      if (asset) u.say(this.format("state_" + asset.state));
    });
    if (status.status === "published") {
      outcome.textContent = this.format("published");
      outcome.className = "flash";
      const figure = document.getElementById("upload-preview");
      const img = document.createElement("img");
      img.alt = this.format("preview_alt");
      img.id = "upload-thumbnail";
      img.src = this.root.dataset.base + "/products/" + this.product + "/thumbnail?t=" + Date.now();
      img.addEventListener("load", () => { figure.hidden = false; });
      figure.querySelector("img")?.remove();
      figure.prepend(img);
    } else {
      const refused = sent.some((a) => a.state === "quarantined");
      const others = refused ? [] : status.assets.filter((a) => a.state === "uploading" || a.state === "verifying");
      outcome.textContent = this.format(refused ? "refused" : others.length ? "waiting" : "state_" + status.status);
      outcome.className = refused ? "flash flash-error" : others.length ? "flash" : "";
      const lines = status.reasons.concat(others.map((a) => a.key + ": " + this.format("state_" + a.state)));
      lines.forEach((text) => { const li = document.createElement("li"); li.textContent = text; reasons.append(li); });
    }
    result.hidden = false;
    this.status.textContent = "";  // the outcome (aria-live) says it
  }
}

const uploaderRoot = document.getElementById("uploader");
if (uploaderRoot) window.sdxUpload = new UploadPage(uploaderRoot);
