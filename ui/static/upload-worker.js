// strata's hashing worker: the sha256 of a File, read in slices, off the page's thread.
// Started as `new Worker(url + "?lib=" + <hash-wasm sha256 build>)`; receives {file}, posts
// {progress: bytes} as it goes and {oid} (64 lowercase hex) at the end, or {error}.
const lib = new URL(new URL(self.location.href).searchParams.get("lib"), self.location.href);
if (lib.origin !== self.location.origin) throw new Error("the sha256 library must come from this server");
importScripts(lib.href);

const SLICE = 8 * 1024 * 1024;

const read = (file, pos) => file.slice(pos, pos + SLICE).arrayBuffer().then((b) => new Uint8Array(b));

self.onmessage = async (event) => {
  const file = event.data.file;
  try {
    const hasher = await self.hashwasm.createSHA256();
    hasher.init();
    // The next slice is read while this one is hashed: two slices in memory at most.
    let next = file.size > 0 ? read(file, 0) : null;
    for (let pos = 0; pos < file.size; pos += SLICE) {
      const bytes = await next;
      next = pos + SLICE < file.size ? read(file, pos + SLICE) : null;
      hasher.update(bytes);
      self.postMessage({ progress: Math.min(pos + SLICE, file.size) });
    }
    self.postMessage({ oid: hasher.digest("hex") });
  } catch (e) {
    self.postMessage({ error: String(e) });
  }
};
