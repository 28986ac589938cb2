// bmlocal dashboard: confirmations, local times and live logs. Every text from the server
// is put in the page with textContent, never as markup.
"use strict";
const KEEP_CHARS = 1 << 20; // a log view keeps its last megabyte of characters

function confirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
}

function localTimes() {
  for (const cell of document.querySelectorAll("[data-epoch]")) {
    const when = new Date(parseFloat(cell.dataset.epoch) * 1000);
    cell.textContent = when.toLocaleString();
  }
}

function follow(box, pre) {
  const params = new URLSearchParams({id: box.dataset.job, prjId: box.dataset.project,
                                      file: pre.dataset.file, offset: "0"});
  const source = new EventSource("/stream/v1/logs?" + params.toString());
  let text = "";
  source.addEventListener("log", (e) => {
    text += JSON.parse(e.data).text;
    if (text.length > KEEP_CHARS) text = text.slice(text.length - KEEP_CHARS);
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data).status));
  source.addEventListener("end", (e) => {
    const end = JSON.parse(e.data);
    showStatus(end.status);
    source.close();
    pre.dataset.ended = end.status;
  });
  source.addEventListener("error", (e) => {
    if (e.data) { pre.dataset.error = JSON.parse(e.data).error_msg; source.close(); }
    else if (source.readyState === EventSource.CLOSED && !pre.dataset.ended) {
      pre.dataset.error = "this log cannot be followed now (too many followed logs?): reload later";
      pre.textContent = text + "\n[" + pre.dataset.error + "]";
    }
  });
  return source;
}

function showStatus(status) {
  const badge = document.getElementById("job-status");
  if (!badge || badge.textContent === status) return;
  badge.textContent = status;
  badge.className = "status s-" + status;
}

document.addEventListener("DOMContentLoaded", () => {
  confirmations();
  localTimes();
  const box = document.getElementById("logs");
  // Each followed log holds a connection (and a server thread): only the open ones.
  if (box) for (const details of box.querySelectorAll("details")) {
    const pre = details.querySelector("pre.log");
    if (details.open) pre.source = follow(box, pre);
    details.addEventListener("toggle", () => {
      if (details.open && !pre.source) pre.source = follow(box, pre);
      if (!details.open && pre.source) { pre.source.close(); pre.source = null; }
    });
  }
});
