// strata's browser upload, as an ES module any page can import:
//
//   import { upload } from "/static/upload.<hash>.js";
//   const { oid, size } = await upload(file, {
//     batch: "/alice/drive.git/info/lfs/objects/batch",  // the dataset's LFS batch URL
//     headers: { "X-CSRF-Token": csrf },                  // or an Authorization header
//     worker: "/static/upload-worker.<hash>.js", sha256: "/static/hash-wasm-sha256.<hash>.js",
//     onProgress: (p) => console.log(p.phase, p.done, p.total, p.rate),
//     signal,                                             // an AbortSignal to cancel
//     parallel: 4,                                        // parts in flight at once
//   });
//
// With `staged: "/api/v1/datasets/{ns}/{name}/uploads"` (through strata, to any backend), the parts go up at
// once and strata hashes them as they arrive: nothing is hashed in the browser, and a cut upload
// goes on with the parts still missing. Otherwise:
// it hashes the file in a Web Worker (hash-wasm's sha256 in WebAssembly, read in slices), asks the
// batch API for a `multipart-basic` upload (or `basic`), sends the parts 4 at a time with
// progress, retries network errors and 5xx with backoff, asks for fresh URLs when one expired
// (403), and commits. Resuming is the server's: a new batch for the same file lists only the parts
// still missing, and the file's hash is remembered (IndexedDB, by name, size and modification time)
// so a reload does not hash it again. After it resolves, commit the file to a dataset (the REST
// commit API's `lfsFile` line).

const PARALLEL = 4;
const TRIES = 5;

export async function upload(file, options) {
  const progress = options.onProgress || (() => {});
  // One failure stops every request of this upload (and so does the caller's signal).
  const inner = new AbortController();
  if (options.signal) {
    if (options.signal.aborted) inner.abort();
    options.signal.addEventListener("abort", () => inner.abort(), { once: true });
  }
  try {
    return await run(file, options, progress, inner.signal);
  } catch (e) {
    inner.abort();
    throw e;
  }
}

async function run(file, options, progress, signal) {
  if (options.staged) return staged(file, options, progress, signal);
  const remembered = await recall(file);
  const oid = remembered || (await hash(file, options, progress, signal));
  if (!remembered) await remember(file, oid);
  let answer = await batch(file, oid, options, signal);
  let object = answer.objects[0];
  if (object.error) throw new Error(object.error.message);
  const total = file.size;
  const meter = rate(total, progress);
  if (!object.actions) {
    meter.finish();
    return { oid, size: total, transfer: answer.transfer };
  }
  if (answer.transfer === "basic") {
    const up = object.actions.upload;
    await send(up.href, "PUT", up.header, file, (n) => meter.set("upload", n), signal);
    if (object.actions.verify) {
      const v = object.actions.verify;
      await request(v.href, "POST", { ...v.header, "Content-Type": "application/vnd.git-lfs+json" },
        JSON.stringify({ oid, size: total }), signal);
    }
    meter.finish();
    return { oid, size: total, transfer: "basic" };
  }
  // multipart-basic: parts already on the server count as sent.
  for (let round = 0; round < 3; round++) {
    const parts = object.actions.parts || [];
    meter.already(total - parts.reduce((n, p) => n + p.size, 0));
    let expired = false;
    const queue = parts.slice();
    const workers = Array.from({ length: options.parallel || PARALLEL }, async () => {
      while (queue.length && !expired) {
        const part = queue.shift();
        const slice = file.slice(part.pos, part.pos + part.size);
        try {
          await retry(() => send(part.href, "PUT", part.header, slice,
            (n) => meter.part(part.pos, n), signal), signal);
        } catch (e) {
          if (e.status === 403) { expired = true; return; }
          throw e;
        }
      }
    });
    await Promise.all(workers);
    if (!expired) {
      const c = object.actions.commit;
      const done = await request(c.href, c.method || "POST", c.header || {}, c.body || null, signal, true);
      if (done.status >= 200 && done.status < 300) {
        meter.finish();
        return { oid, size: total, transfer: "multipart-basic" };
      }
      // The bytes did not hash to the remembered oid: forget it, so a retry hashes again.
      if (done.status === 422) await forget(file);
      if (done.status !== 409) throw failure(done);
    }
    // URLs expired, or parts went missing: ask again for what is left.
    answer = await batch(file, oid, options, signal);
    object = answer.objects[0];
    if (object.error) throw new Error(object.error.message);
    if (!object.actions) { meter.finish(); return { oid, size: total, transfer: answer.transfer }; }
  }
  throw new Error("the upload could not be completed: try again");
}

// A staged upload (through strata, to its disk or its bucket): the parts go up at once and strata hashes them as they
// come, so nothing is hashed here. The upload's id is remembered (IndexedDB, by file, as hashes
// are), so a new page asks which parts are missing and sends only those.
async function staged(file, options, progress, signal) {
  const base = options.staged;
  const headers = { ...(options.headers || {}) };
  // By dataset, destination and file: another file of the same name goes up on its own.
  const remembered = `staged\u0000${base}\u0000${options.target || ""}\u0000${key(file)}`;
  const total = file.size;
  const meter = rate(total, progress);
  let upload = null;
  const id = await recallKey(remembered);
  if (id) {
    const r = await request(`${base}/${id}`, "GET", headers, null, signal, true);
    if (r.status === 200) upload = JSON.parse(r.text);
  }
  if (!upload) {
    const r = await retry(() => request(base, "POST", { ...headers, "Content-Type": "application/json" },
      JSON.stringify({ size: total }), signal), signal);
    upload = JSON.parse(r.text);
    await rememberKey(remembered, upload.id);
  }
  let sentParts = 0;
  for (let round = 0; round < 3; round++) {
    const parts = upload.missing;
    meter.already(total - parts.reduce((n, p) => n + p.len, 0));
    const queue = parts.slice();
    const workers = Array.from({ length: options.parallel || PARALLEL }, async () => {
      while (queue.length) {
        const part = queue.shift();
        const slice = file.slice(part.pos, part.pos + part.len);
        // 409: the server is still writing this part from a request cut before (a cancel):
        // tried for about a minute, as a loaded server may notice the cut late.
        await retry(() => send(part.href, "PUT", headers, slice,
          (n) => meter.part(part.pos, n), signal), signal, (e) => e.status === 409, 15);
        sentParts += 1;
      }
    });
    await Promise.all(workers);
    const done = await request(`${base}/${upload.id}/complete`, "POST", headers, null, signal, true);
    if (done.status >= 200 && done.status < 300) {
      await forgetKey(remembered);
      meter.finish();
      const { oid, size } = JSON.parse(done.text);
      return { oid, size, transfer: "staged", sentParts };
    }
    if (done.status !== 409) {
      if (done.status === 404) await forgetKey(remembered);
      throw failure(done);
    }
    // Parts went missing: ask again for what is left.
    const r = await request(`${base}/${upload.id}`, "GET", headers, null, signal);
    upload = JSON.parse(r.text);
  }
  throw new Error("the upload could not be completed: try again");
}

function hash(file, options, progress, signal) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(options.worker + "?lib=" + encodeURIComponent(options.sha256));
    const started = performance.now();
    const stop = () => { worker.terminate(); reject(new DOMException("cancelled", "AbortError")); };
    if (signal) signal.addEventListener("abort", stop, { once: true });
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.progress !== undefined) {
        const seconds = (performance.now() - started) / 1000;
        progress({ phase: "hashing", done: m.progress, total: file.size, rate: m.progress / Math.max(seconds, 0.001) });
      } else if (m.oid) {
        worker.terminate();
        resolve(m.oid);
      } else {
        worker.terminate();
        reject(new Error(m.error || "hashing failed"));
      }
    };
    worker.postMessage({ file });
  });
}

async function batch(file, oid, options, signal) {
  const body = JSON.stringify({
    operation: "upload",
    transfers: ["multipart-basic", "basic"],
    objects: [{ oid, size: file.size }],
  });
  const headers = {
    ...(options.headers || {}),
    "Content-Type": "application/vnd.git-lfs+json",
    Accept: "application/vnd.git-lfs+json",
  };
  const r = await retry(() => request(options.batch, "POST", headers, body, signal), signal);
  return JSON.parse(r.text);
}

// One request through XHR (for upload progress). Resolves on 2xx (or any status with `any`).
function send(url, method, headers, body, onSent, signal, any = false) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    if (onSent) xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onload = () => {
      const r = { status: xhr.status, text: xhr.responseText };
      if (any || (xhr.status >= 200 && xhr.status < 300)) resolve(r);
      else reject(failure(r));
    };
    xhr.onerror = () => reject(Object.assign(new Error("network error"), { status: 0 }));
    if (signal) {
      if (signal.aborted) { reject(new DOMException("cancelled", "AbortError")); return; }
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.onabort = () => reject(new DOMException("cancelled", "AbortError"));
    }
    xhr.send(body);
  });
}

function request(url, method, headers, body, signal, any = false) {
  return send(url, method, headers, body, null, signal, any);
}

function failure(r) {
  let message = "HTTP " + r.status;
  try { message = JSON.parse(r.text).message || message; } catch {}
  return Object.assign(new Error(message), { status: r.status });
}

// Retries network errors and 5xx (and what `also` says) with exponential backoff; anything else
// fails at once.
// `tries` bounds the attempts (a busy server may take a while to drop a part cut before).
async function retry(attempt, signal, also = () => false, tries = TRIES) {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      const transient = e.status === 0 || e.status >= 500 || also(e);
      if (!transient || i + 1 >= tries || (signal && signal.aborted)) throw e;
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** i, 5000)));
    }
  }
}

// Progress in bytes, with the rate and time left.
function rate(total, progress) {
  const started = performance.now();
  const sent = new Map();
  let base = 0;
  const report = () => {
    let done = base;
    for (const n of sent.values()) done += n;
    done = Math.min(done, total);
    const seconds = (performance.now() - started) / 1000;
    // Bytes the server had before this attempt are not part of its speed.
    const speed = Math.max(done - base, 0) / Math.max(seconds, 0.001);
    progress({ phase: "uploading", done, total, rate: speed, left: speed > 0 ? (total - done) / speed : null });
  };
  return {
    set: (_phase, n) => { sent.set(0, n); report(); },
    part: (pos, n) => { sent.set(pos, n); report(); },
    already: (n) => { base = n; sent.clear(); report(); },
    finish: () => progress({ phase: "done", done: total, total, rate: 0, left: 0 }),
  };
}

// The sha256 of a file already hashed in this browser, by name, size and modification time.
function store() {
  return new Promise((resolve) => {
    if (!self.indexedDB) { resolve(null); return; }
    const open = indexedDB.open("strata-upload", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("hashes");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => resolve(null);
  });
}

function key(file) {
  return [file.name, file.size, file.lastModified].join("\u0000");
}

const recall = (file) => recallKey(key(file));
const forget = (file) => forgetKey(key(file));
const remember = (file, oid) => rememberKey(key(file), oid);

async function recallKey(k) {
  const db = await store();
  if (!db) return null;
  return new Promise((resolve) => {
    const get = db.transaction("hashes").objectStore("hashes").get(k);
    get.onsuccess = () => resolve(get.result || null);
    get.onerror = () => resolve(null);
  });
}

async function forgetKey(k) {
  const db = await store();
  if (!db) return;
  db.transaction("hashes", "readwrite").objectStore("hashes").delete(k);
}

async function rememberKey(k, value) {
  const db = await store();
  if (!db) return;
  db.transaction("hashes", "readwrite").objectStore("hashes").put(value, k);
}
