// strata's page behaviour, as progressive enhancement: every page works without it.
// - [data-copy]: a button that copies the text of the element its value names.
// - form[data-confirm]: asks before submitting (revert, delete); button[data-confirm]: asks
//   before that one of a form's buttons submits it.
// - textarea[data-submit-keys]: Ctrl+Enter (or Cmd+Enter) submits its form (the SQL box).
// - form[data-selection]: the file manager's actions on the picked items, each enabled only when
//   the pick suits it (data-needs="one": exactly one item; "some": at least one), with a line
//   saying how many are picked. A right click (or the context-menu key) on an item's row or tile
//   picks that item alone and opens a menu of the actions that suit it, each pressing the
//   toolbar's own button (a new name is asked for first), so the server checks it as ever.
// - pre[data-follow]: a running job's log, followed as the process writes it (the API's `follow`
//   stream); when the run ends the page is loaded again to show how it ended.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
  });
}
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
for (const button of document.querySelectorAll("button[data-confirm]")) {
  button.addEventListener("click", (event) => {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
}
for (const pre of document.querySelectorAll("pre[data-follow]")) follow(pre);
for (const form of document.querySelectorAll("form[data-selection]")) {
  const boxes = Array.from(document.querySelectorAll(`input[type=checkbox][form="${form.id}"]`));
  const count = form.querySelector("#picked-count");
  const hint = count ? count.textContent : "";
  const update = () => {
    const n = boxes.filter((b) => b.checked).length;
    for (const button of form.querySelectorAll("button[data-needs]")) {
      button.disabled = button.dataset.needs === "one" ? n !== 1 : n === 0;
    }
    form.classList.toggle("picking", n > 0);
    if (count) {
      count.hidden = false;
      count.textContent = n === 0 ? hint : `${n} picked`;
    }
  };
  for (const box of boxes) box.addEventListener("change", update);
  update();
  contextMenu(form, boxes, update);
}
function contextMenu(form, boxes, update) {
  const menu = document.createElement("div");
  menu.id = "item-menu";
  menu.className = "item-menu";
  menu.setAttribute("role", "menu");
  menu.hidden = true;
  document.body.append(menu);
  const close = () => { menu.hidden = true; };
  const typed = form.querySelector("input[name=to]");
  const open = (box, x, y) => {
    for (const b of boxes) b.checked = b === box;
    update();
    const entries = [];
    const link = box.closest("li, tr")?.querySelector("a[href]");
    if (link) entries.push(["Open", () => { window.location.href = link.href; }]);
    for (const button of form.querySelectorAll("button[data-needs]")) {
      if (button.disabled) continue;
      const op = button.value;
      const asks = op === "rename" || op === "move";
      entries.push([button.textContent.trim(), () => {
        if (asks && typed) {
          const name = box.value.split("/").pop();
          const answer = window.prompt(op === "rename" ? "New name" : "Move into folder", op === "rename" ? name : "");
          if (answer === null || answer.trim() === "") return;
          typed.value = answer.trim();
        }
        button.click();
      }]);
    }
    menu.replaceChildren(...entries.map(([label, act]) => {
      const item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.textContent = label;
      item.addEventListener("click", () => { close(); act(); });
      return item;
    }));
    menu.hidden = false;
    const room = menu.getBoundingClientRect();
    menu.style.left = `${Math.min(x, window.innerWidth - room.width - 8) + window.scrollX}px`;
    menu.style.top = `${Math.min(y, window.innerHeight - room.height - 8) + window.scrollY}px`;
    menu.querySelector("button")?.focus();
  };
  for (const box of boxes) {
    const item = box.closest("li, tr");
    if (!item) continue;
    item.addEventListener("contextmenu", (event) => {
      event.preventDefault();
      const r = item.getBoundingClientRect();
      const at = event.clientX || event.clientY ? [event.clientX, event.clientY] : [r.left + 16, r.bottom];
      open(box, ...at);
    });
  }
  document.addEventListener("click", (event) => { if (!menu.contains(event.target)) close(); });
  document.addEventListener("keydown", (event) => {
    if (menu.hidden) return;
    if (event.key === "Escape") { close(); return; }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const items = Array.from(menu.querySelectorAll("button"));
    const at = items.indexOf(document.activeElement);
    const next = event.key === "ArrowDown" ? at + 1 : at - 1;
    items[(next + items.length) % items.length]?.focus();
  });
  window.addEventListener("scroll", close, { passive: true });
}
for (const box of document.querySelectorAll("textarea[data-submit-keys]")) {
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });
}
// form[data-upload]: files go from the browser to storage in parts (upload.js: staged through
// strata, which hashes them as they come, or hashed in a worker and sent straight to the bucket;
// resumable either way), then one commit adds them to the folder, with the message typed
// or a default one. Files and folders dropped anywhere on the page go the same way. A name the
// folder has already is kept beside it ("a (1).csv") unless "replace" is chosen. Each file shows
// its progress bar, and the whole upload its own. Without script, the same form posts the files
// through strata.
for (const form of document.querySelectorAll("form[data-upload]")) {
  const input = form.querySelector("input[type=file]");
  const zone = document.querySelector("main") || document.body;
  const hint = document.getElementById("drop-zone");
  if (hint) hint.hidden = false;
  shown(form);
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (event.target === zone) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", async (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    if (form.strataBusy) return; // one upload at a time
    zone.classList.remove("dropping");
    form.strataItems = await dropped(event.dataTransfer);
    // Not requestSubmit: the empty file input would fail the form's validation.
    form.dispatchEvent(new Event("submit", { cancelable: true }));
  });
  input.addEventListener("change", () => { form.strataItems = null; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.strataBusy) return;
    const fromInput = !form.strataItems;
    const items = form.strataItems || Array.from(input.files || []).map((file) => ({ file, path: file.name }));
    form.strataItems = null;
    if (!items.length) return;
    const status = document.getElementById(form.dataset.status);
    const cancel = form.querySelector("[data-cancel]");
    const controller = new AbortController();
    const folder = form.querySelector("input[name=folder]").value;
    const headline = document.createElement("p");
    const overall = document.createElement("progress");
    const list = document.createElement("ul");
    list.className = "plain uploads";
    status.replaceChildren(headline, overall, list);
    status.hidden = false;
    status.classList.remove("error");
    const say = (text) => { headline.textContent = text; };
    // Files strata writes itself are not uploaded over (the form without script refuses them too).
    const reserved = items.find((i) => !folder && [".gitattributes", ".lfsconfig", "datapackage.json"].includes(i.path));
    if (reserved) { say(`Upload failed: ${reserved.path} is written by strata itself`); overall.hidden = true; status.classList.add("error"); return; }
    form.strataBusy = true;
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => (b.disabled = true));
    if (cancel) { cancel.hidden = false; cancel.onclick = () => controller.abort(); }
    const total = items.reduce((n, i) => n + i.file.size, 0) || 1;
    const done = new Map();
    const rows = items.map((item) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      const bar = document.createElement("progress");
      const state = document.createElement("span");
      name.textContent = item.path;
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", `Progress of ${item.path}`);
      state.className = "muted";
      li.append(name, " ", bar, " ", state);
      list.append(li);
      return { bar, state };
    });
    overall.max = 100; overall.value = 0;
    overall.setAttribute("aria-label", "Progress of the whole upload");
    const tally = () => {
      const sent = Array.from(done.values()).reduce((n, v) => n + v, 0);
      overall.value = Math.floor((100 * sent) / total);
    };
    let sent = 0;
    try {
      const { upload } = await import(form.dataset.module);
      const headers = { "X-CSRF-Token": form.querySelector("input[name=csrf]").value };
      const paths = await placed(form, folder, items, headers);
      const uploaded = [];
      for (const [i, item] of items.entries()) {
        const label = items.length > 1 ? `${item.path} (${i + 1} of ${items.length})` : item.path;
        const row = rows[i];
        const result = await upload(item.file, {
          batch: form.dataset.batch, staged: form.dataset.staged, target: paths[i], headers,
          worker: form.dataset.worker, sha256: form.dataset.sha256,
          signal: controller.signal,
          onProgress: (p) => {
            if (p.phase === "uploading") sent += p.done;
            const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
            row.bar.value = p.phase === "hashing" ? 0 : pct;
            row.state.textContent = describe("", p);
            if (p.phase !== "hashing") done.set(i, p.phase === "done" ? item.file.size : (p.done || 0));
            tally();
            say(describe(label, p));
          },
        });
        row.bar.value = 100;
        row.state.textContent = "uploaded";
        done.set(i, item.file.size);
        tally();
        uploaded.push({ ...result, path: paths[i] });
        window.strataLastUpload = result;
      }
      say("Adding to the folder…");
      const typed = (form.querySelector("input[name=message]") || {}).value || "";
      const header = {
        summary: typed.trim() || (uploaded.length === 1 ? `Upload ${uploaded[0].path}` : `Upload ${uploaded.length} files`),
        parent: form.dataset.head };
      if (form.dataset.branch) header.branch = form.dataset.branch;
      header.describe = true;
      const lines = [{ key: "header", value: header }];
      for (const d of uploaded) lines.push({ key: "lfsFile", value: { path: d.path, oid: d.oid, size: d.size } });
      const r = await fetch(form.dataset.commit, {
        method: "POST", credentials: "same-origin",
        headers: { ...headers, "Content-Type": "application/x-ndjson" },
        body: lines.map((l) => JSON.stringify(l)).join("\n"),
      });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(body.message || `HTTP ${r.status}`);
      }
      say("Done.");
      const made = await r.json().catch(() => ({}));
      // The folder's page again, saying what was done (with Undo), and this list kept on it.
      sessionStorage.setItem("strataUploaded", JSON.stringify({
        page: location.pathname, files: uploaded.map((d) => d.path) }));
      const next = new URL(location.href);
      if (made.revision && made.revision.id) next.searchParams.set("undo", made.revision.id);
      window.location.assign(next.toString());
    } catch (e) {
      // Nothing sent yet and no answer from the server (storage on another origin, a blocked
      // request, no WebAssembly for the hash): send the files through strata instead, when they
      // are the form's own (dropped folders need the script).
      if (e.name !== "AbortError" && !e.status && sent === 0 && fromInput) {
        say("Sending through the server…");
        form.submit();
        return;
      }
      say(e.name === "AbortError" ? "Cancelled. Upload the same file again to go on where it stopped." : `Upload failed: ${e.message}`);
      status.classList.add("error");
    } finally {
      form.strataBusy = false;
      buttons.forEach((b) => (b.disabled = false));
      if (cancel) cancel.hidden = true;
    }
  });
}

// The list of the upload that just ended, kept on the page it came back to.
function shown(form) {
  const kept = sessionStorage.getItem("strataUploaded");
  if (!kept) return;
  sessionStorage.removeItem("strataUploaded");
  let last;
  try { last = JSON.parse(kept); } catch { return; }
  if (!last || last.page !== location.pathname || !Array.isArray(last.files)) return;
  const status = document.getElementById(form.dataset.status);
  if (!status) return;
  const headline = document.createElement("p");
  headline.textContent = last.files.length === 1 ? `Uploaded ${last.files[0]}.` : `Uploaded ${last.files.length} files.`;
  const list = document.createElement("ul");
  list.className = "plain uploads";
  for (const f of last.files.slice(0, 50)) {
    const li = document.createElement("li");
    li.textContent = `${f}: uploaded`;
    list.append(li);
  }
  const close = document.createElement("button");
  close.type = "button"; close.className = "quiet"; close.textContent = "Close";
  close.onclick = () => { status.hidden = true; };
  status.replaceChildren(headline, list, close);
  status.id = status.id || "upload-status";
  status.dataset.done = "1";
  status.hidden = false;
}

// form[data-post-upload]: where files go through strata's own form (through a share, say), a drop
// on the page or the form's button sends them with the form's fields in one request, its
// progress shown; the folder's page follows. Without script the form posts as it is.
for (const form of document.querySelectorAll("form[data-post-upload]")) {
  const input = form.querySelector("input[type=file]");
  const zone = document.querySelector("main") || document.body;
  const hint = document.getElementById("drop-zone");
  if (hint) hint.hidden = false;
  const send = (items) => {
    if (form.strataBusy || !items.length) return;
    form.strataBusy = true;
    const status = document.getElementById(form.dataset.status);
    const headline = document.createElement("p");
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Progress of the upload");
    status.replaceChildren(headline, bar);
    status.hidden = false;
    status.classList.remove("error");
    headline.textContent = `Uploading ${items.length === 1 ? items[0].path : `${items.length} files`}…`;
    const data = new FormData();
    // The server reads the folder first and the files last.
    for (const name of ["csrf", "folder", "branch", "message", "clash"]) {
      const field = form.querySelector(`[name=${name}]:not([type=radio]), [name=${name}][type=radio]:checked`);
      if (field) data.append(name, field.value);
    }
    for (const item of items) data.append("file", item.file, item.path);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.floor((100 * e.loaded) / e.total); };
    xhr.onload = () => {
      form.strataBusy = false;
      if (xhr.status < 400) {
        bar.value = 100;
        headline.textContent = "Done.";
        window.location.assign(xhr.responseURL || window.location.href);
        return;
      }
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const why = page.querySelector("[role=alert], .error, main p");
      headline.textContent = `Upload failed: ${why ? why.textContent.trim() : `HTTP ${xhr.status}`}`;
      status.classList.add("error");
    };
    xhr.onerror = () => {
      form.strataBusy = false;
      headline.textContent = "Upload failed: the connection was lost.";
      status.classList.add("error");
    };
    xhr.send(data);
  };
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (event.target === zone) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", async (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    zone.classList.remove("dropping");
    send(await dropped(event.dataTransfer));
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(Array.from(input.files || []).map((file) => ({ file, path: file.name })));
  });
}

// What was dropped: files, and the files inside dropped folders with their paths.
async function dropped(transfer) {
  const entries = Array.from(transfer.items || [])
    .map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((e) => !e)) {
    return Array.from(transfer.files).map((file) => ({ file, path: file.name }));
  }
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      out.push({ file, path: prefix + file.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return out;
}

// Where each item goes in the dataset: its path in the folder, or beside a file of that name
// ("a (1).csv") unless the form says to replace it.
async function placed(form, folder, items, headers) {
  const paths = items.map((i) => join(folder, i.path));
  const replace = (form.querySelector("input[name=clash]:checked") || {}).value === "replace";
  if (replace || !form.dataset.tree) return paths;
  const query = new URLSearchParams();
  if (folder) query.set("path", folder);
  if (form.dataset.branch) query.set("rev", form.dataset.branch);
  const url = `${form.dataset.tree}${query.size ? `?${query}` : ""}`;
  const r = await fetch(url, { credentials: "same-origin", headers });
  if (!r.ok) return paths;
  const taken = new Set(((await r.json()).files || []).map((f) => f.path));
  return paths.map((path) => {
    if (!taken.has(path)) { taken.add(path); return path; }
    const slash = path.lastIndexOf("/");
    const dot = path.lastIndexOf(".");
    const cut = dot > slash + 1 ? dot : path.length;
    for (let n = 1; ; n++) {
      const other = `${path.slice(0, cut)} (${n})${path.slice(cut)}`;
      if (!taken.has(other)) { taken.add(other); return other; }
    }
  });
}

function join(folder, name) {
  return folder ? `${folder}/${name}` : name;
}

function describe(label, p) {
  const mib = (n) => (n / 1048576).toFixed(1);
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
  const of = label ? `${label}: ` : "";
  if (p.phase === "hashing") return `Checking ${of}${pct}% (${mib(p.rate)} MiB/s)`;
  if (p.phase === "uploading") {
    const left = p.left == null ? "" : `, about ${Math.ceil(p.left)} s left`;
    return `Uploading ${of}${pct}% of ${mib(p.total)} MiB (${mib(p.rate)} MiB/s${left})`;
  }
  return label ? `Uploaded ${label}.` : "uploaded";
}

async function follow(pre) {
  let wait = 500;
  try {
    const r = await fetch(pre.dataset.follow, { credentials: "same-origin" });
    if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let first = true;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // The stream starts with the whole log kept so far: it replaces what the page showed.
      if (first) {
        first = false;
        pre.textContent = "";
        pre.hidden = false;
        const none = document.getElementById("no-log");
        if (none) none.hidden = true;
        // Lines come from a process that runs, whatever the page said when it was drawn.
        const state = document.getElementById("state");
        if (state && state.textContent === "queued") {
          state.textContent = "running";
          state.className = "badge state-running";
        }
      }
      const bottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(value);
      if (bottom) pre.scrollTop = pre.scrollHeight;
    }
  } catch {
    wait = 2000;
  }
  setTimeout(() => window.location.reload(), wait);
}
