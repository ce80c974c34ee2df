// A file picker that sends the chosen file to the kernel in slices, one at a time: the kernel
// acknowledges each slice before the next is read, so a large file never sits whole in the
// browser's or the kernel's memory, and the kernel stays free between slices.
function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = model.get("accept");
  input.className = "jam-upload-input";
  const status = document.createElement("span");
  status.className = "jam-upload-status";
  status.style.marginLeft = "8px";
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.style.marginLeft = "8px";
  bar.style.display = "none";
  el.append(input, bar, status);

  let file = null;
  let acked = null;

  async function sendFrom(offset) {
    const size = model.get("chunk_bytes");
    const end = Math.min(offset + size, file.size);
    const buffer = await file.slice(offset, end).arrayBuffer();
    model.send({ type: "chunk", offset: offset, last: end >= file.size }, undefined, [buffer]);
  }

  model.on("msg:custom", (msg) => {
    if (!file || msg.type === undefined) return;
    if (msg.type === "ack") {
      bar.value = file.size ? msg.received / file.size : 1;
      status.textContent = `${(msg.received / 1048576).toFixed(1)} of ${(file.size / 1048576).toFixed(1)} MiB`;
      if (msg.received < file.size) {
        sendFrom(msg.received);
      } else {
        status.textContent = `${file.name}: received`;
      }
    } else if (msg.type === "error") {
      status.textContent = msg.message;
      file = null;
    }
  });

  input.addEventListener("change", () => {
    if (!input.files.length) return;
    file = input.files[0];
    bar.style.display = "";
    bar.value = 0;
    status.textContent = `${file.name}: starting`;
    model.send({ type: "begin", name: file.name, size: file.size });
  });

  model.on("change:accept", () => { input.accept = model.get("accept"); });
}

export default { render };
