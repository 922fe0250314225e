// strata's page behaviour, as progressive enhancement: every page works without it.
// - [data-copy]: a button that copies the text of the element its value names.
// - form[data-confirm]: asks before submitting (revert, delete).
// - textarea[data-submit-keys]: Ctrl+Enter (or Cmd+Enter) submits its form (the SQL box).
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
for (const box of document.querySelectorAll("textarea[data-submit-keys]")) {
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });
}
// form[data-upload]: files go from the browser straight to storage (upload.js: hashed in a
// worker, multipart, resumable), then one commit adds them to the folder. Without script, the
// same form posts the files through strata.
for (const form of document.querySelectorAll("form[data-upload]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.querySelector("input[type=file]");
    const files = Array.from(input.files || []);
    if (!files.length) return;
    const status = document.getElementById(form.dataset.status);
    const cancel = form.querySelector("[data-cancel]");
    const controller = new AbortController();
    const say = (text) => { status.hidden = false; status.textContent = text; };
    status.classList.remove("error");
    // Files strata writes itself are not uploaded over (the form without script refuses them too).
    const reserved = files.find((f) => !form.querySelector("input[name=folder]").value
      && [".gitattributes", ".lfsconfig", "datapackage.json"].includes(f.name));
    if (reserved) { say(`Upload failed: ${reserved.name} is written by strata itself`); status.classList.add("error"); return; }
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => (b.disabled = true));
    if (cancel) { cancel.hidden = false; cancel.onclick = () => controller.abort(); }
    let sent = 0;
    try {
      const { upload } = await import(form.dataset.module);
      const headers = { "X-CSRF-Token": form.querySelector("input[name=csrf]").value };
      const done = [];
      for (const [i, file] of files.entries()) {
        const label = files.length > 1 ? `${file.name} (${i + 1} of ${files.length})` : file.name;
        const result = await upload(file, {
          batch: form.dataset.batch, headers, worker: form.dataset.worker, sha256: form.dataset.sha256,
          signal: controller.signal,
          onProgress: (p) => { if (p.phase === "uploading") sent += p.done; say(describe(label, p)); },
        });
        done.push({ file, ...result });
        window.strataLastUpload = result;
      }
      say("Adding to the folder…");
      const folder = form.querySelector("input[name=folder]").value;
      const lines = [{ key: "header", value: {
        summary: done.length === 1 ? `Upload ${join(folder, done[0].file.name)}` : `Upload ${done.length} files`,
        parent: form.dataset.head } }];
      for (const d of done) lines.push({ key: "lfsFile", value: { path: join(folder, d.file.name), oid: d.oid, size: d.size } });
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
      window.location.reload();
    } catch (e) {
      // Nothing sent yet and no answer from the server (storage on another origin, a blocked
      // request, no WebAssembly for the hash): send the files through strata instead.
      if (e.name !== "AbortError" && !e.status && sent === 0) {
        say("Sending through the server…");
        form.submit();
        return;
      }
      say(e.name === "AbortError" ? "Cancelled. Upload the same file again to go on where it stopped." : `Upload failed: ${e.message}`);
      status.classList.add("error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      if (cancel) cancel.hidden = true;
    }
  });
}

function join(folder, name) {
  return folder ? `${folder}/${name}` : name;
}

function describe(label, p) {
  const mib = (n) => (n / 1048576).toFixed(1);
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
  if (p.phase === "hashing") return `Checking ${label}: ${pct}% (${mib(p.rate)} MiB/s)`;
  if (p.phase === "uploading") {
    const left = p.left == null ? "" : `, about ${Math.ceil(p.left)} s left`;
    return `Uploading ${label}: ${pct}% of ${mib(p.total)} MiB (${mib(p.rate)} MiB/s${left})`;
  }
  return `Uploaded ${label}.`;
}
