/// GET /: a small self-contained page (no CDN, no build step) to try the server in a browser:
/// chat with streaming and a memory switch (off / text / explicit, k), document upload and
/// listing, and for each answer the 64-token chunks with the references each read (title,
/// snippet, retrieval score, rank after the rerank); pointing at a chunk highlights its tokens.
/// It calls the same API as any client, with the API key typed into it (kept in localStorage).
enum PlaygroundPage {
    static func route() -> Route {
        Route("GET", "/", requiresKey: false) { _ throws(APIError) in
            var response = HTTPResponse.text(html, contentType: "text/html; charset=utf-8")
            // Inline script and style only, and requests to this server only.
            response.headers.set("Content-Security-Policy",
                                 "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
            response.headers.set("X-Content-Type-Options", "nosniff")
            return response
        }
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memory3 playground</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2330; --soft: #6b7385; --line: #dde2ea; --back: #f6f7f9; --accent: #2f6fde; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--back); }
  header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  header .status { color: var(--soft); }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; padding: 16px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
  h2 { font-size: 14px; margin: 0 0 8px; }
  input, select, textarea, button { font: inherit; }
  input, select, textarea { border: 1px solid var(--line); border-radius: 6px; padding: 5px 7px; }
  button { border: 0; border-radius: 6px; padding: 6px 12px; background: var(--accent); color: #fff; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
  #messages { min-height: 220px; max-height: 52vh; overflow-y: auto; }
  .msg { margin: 8px 0; padding: 8px 10px; border-radius: 8px; white-space: pre-wrap; }
  .msg.user { background: #eef3fd; }
  .msg.assistant { background: #f3f4f6; }
  .msg.error { background: #fdeeee; color: #9b1c1c; }
  .tok { border-radius: 3px; }
  .c0 { background: #fff3c4; } .c1 { background: #d9f2e3; } .c2 { background: #e4e0fb; } .c3 { background: #fde2d6; }
  .tok.lit { background: #b9cdfa; box-shadow: 0 1px 0 var(--accent); }
  #prompt { width: 100%; min-height: 60px; }
  .chunk { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 6px 0; }
  .chunk:hover { border-color: var(--accent); }
  .chunk .head { font-weight: 600; }
  .ref { margin: 4px 0 0 8px; color: var(--ink); }
  .ref .snippet { color: var(--soft); }
  .muted { color: var(--soft); }
  #docs { max-height: 30vh; overflow-y: auto; }
  .doc { display: flex; justify-content: space-between; gap: 8px; border-bottom: 1px solid var(--line); padding: 4px 0; }
  textarea#docText { width: 100%; min-height: 70px; }
</style>
</head>
<body>
<header>
  <h1>memory3</h1>
  <label>API key <input id="key" type="password" placeholder="none" size="18"></label>
  <span class="status" id="status">connecting…</span>
</header>
<main>
  <div>
    <section>
      <h2>Chat</h2>
      <div id="messages"></div>
      <textarea id="prompt" placeholder="Ask something (Enter sends, Shift+Enter for a new line)"></textarea>
      <div class="row">
        <label>Memory <select id="mode"><option value="explicit">explicit</option><option value="text">text (RAG)</option><option value="off">off</option></select></label>
        <label>k <input id="k" type="number" min="1" max="16" value="5" style="width:4em"></label>
        <label>max tokens <input id="max" type="number" min="1" max="4096" value="128" style="width:5em"></label>
        <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7" style="width:4.5em"></label>
        <button id="send">Send</button>
        <button id="clear" style="background:#8a93a6">Clear</button>
      </div>
    </section>
  </div>
  <div>
    <section>
      <h2>Memories of the last answer</h2>
      <div id="memory" class="muted">Each 64-token chunk and the references it read appear here.</div>
    </section>
    <section style="margin-top:16px">
      <h2>Documents</h2>
      <div class="row"><input id="docTitle" placeholder="title" style="flex:1"><input id="docFile" type="file" accept=".txt,.md,text/plain,text/markdown"></div>
      <textarea id="docText" placeholder="text (or pick a file)"></textarea>
      <div class="row"><button id="upload">Upload</button><button id="refresh" style="background:#8a93a6">Refresh</button><span id="uploadStatus" class="muted"></span></div>
      <div id="docs"></div>
    </section>
  </div>
</main>
<script>
"use strict";
const $ = (s) => document.querySelector(s);
const history = [];
const documentCache = new Map();
$("#key").value = localStorage.getItem("memory3.key") || "";
$("#key").addEventListener("change", () => { localStorage.setItem("memory3.key", $("#key").value); checkStatus(); refreshDocuments(); });

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const key = $("#key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}
async function api(path, options) {
  options = options || {};
  const response = await fetch(path, Object.assign({}, options, { headers: authHeaders(options.headers) }));
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) {}
  if (!response.ok) throw new Error((json && json.error && json.error.message) || text || ("HTTP " + response.status));
  return json;
}
function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
function addMessage(role, text) {
  const e = element("div", "msg " + role, text);
  $("#messages").appendChild(e);
  $("#messages").scrollTop = $("#messages").scrollHeight;
  return e;
}

async function checkStatus() {
  try {
    const models = await api("/v1/models");
    $("#status").textContent = "model: " + models.data.map((m) => m.id).join(", ");
  } catch (e) { $("#status").textContent = e.message; }
}

async function send() {
  const text = $("#prompt").value.trim();
  if (!text) return;
  $("#prompt").value = "";
  $("#send").disabled = true;
  addMessage("user", text);
  history.push({ role: "user", content: text });
  const bubble = addMessage("assistant", "");
  const body = {
    messages: history, stream: true, stream_options: { include_usage: true }, logprobs: true,
    max_tokens: Number($("#max").value) || 128,
    temperature: Math.min(2, Math.max(0, Number($("#temperature").value) || 0)),
    memory: { mode: $("#mode").value, k: Number($("#k").value) || 5 },
  };
  let answer = "", memory = null, usage = null, tokens = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new Error((problem && problem.error && problem.error.message) || ("HTTP " + response.status));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
          const chunk = JSON.parse(line.slice(6));
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.usage) usage = chunk.usage;
          if (chunk.memory) memory = chunk.memory;
          const choice = chunk.choices && chunk.choices[0];
          if (!choice) continue;
          if (choice.delta && choice.delta.content) { answer += choice.delta.content; bubble.textContent = answer; }
          // Each delta carries its own tokens' log-probabilities (the finish chunk any left).
          if (choice.logprobs && choice.logprobs.content) tokens = (tokens || []).concat(choice.logprobs.content.map((t) => t.token));
        }
      }
    }
    history.push({ role: "assistant", content: answer });
    showMemory(memory, tokens, usage, bubble);
  } catch (e) {
    bubble.className = "msg error";
    bubble.textContent = e.message;
    history.pop();
  } finally {
    $("#send").disabled = false;
  }
}

async function documentDetail(id) {
  if (!documentCache.has(id)) documentCache.set(id, api("/v1/documents/" + id + "?include=text").catch(() => null));
  return documentCache.get(id);
}

async function showMemory(memory, tokens, usage, bubble) {
  const panel = $("#memory");
  panel.textContent = "";
  panel.className = "";
  if (!memory || memory.mode === "off" || !memory.chunks.length) {
    panel.className = "muted";
    panel.textContent = memory && memory.mode !== "off" ? "No chunk retrieved anything." : "Memory was off for this answer.";
    return;
  }
  panel.appendChild(element("div", "muted", "mode: " + memory.mode + (usage ? " · prompt " + usage.prompt_tokens + " tokens, answer " + usage.completion_tokens : "")));
  // The answer's tokens, coloured by the chunk that read them (generation chunks).
  const spans = [];
  if (tokens && tokens.length && usage && tokens.join("") === bubble.textContent) {
    bubble.textContent = "";
    tokens.forEach((token, i) => {
      const span = element("span", "tok", token);
      span.dataset.position = String(usage.prompt_tokens + i);
      bubble.appendChild(span);
      spans.push(span);
    });
  }
  // A chunk's memories are read by every token from its first to the next chunk's first (while
  // generating, memories are swapped every 64 tokens).
  memory.chunks.forEach((chunk, index) => {
    const first = chunk.first_token;
    const next = index + 1 < memory.chunks.length ? memory.chunks[index + 1].first_token : Infinity;
    const last = Math.max(next, first + chunk.token_count);
    const colour = "c" + (index % 4);
    spans.forEach((span) => { const p = Number(span.dataset.position); if (p >= first && p < last) span.classList.add(colour); });
    const card = element("div", "chunk " + colour);
    const range = last === Infinity ? "tokens " + first + "–end" : "tokens " + first + "–" + (last - 1);
    card.appendChild(element("div", "head", chunk.phase + " chunk, " + range + " · " + chunk.references.length + " references"));
    for (const reference of chunk.references) {
      const rerank = reference.head_mass == null ? "" : " · head " + (100 * reference.head_mass).toFixed(0) + "%";
      const line = element("div", "ref", "#" + (reference.rank + 1) + " · score " + reference.score.toPrecision(3) + rerank + " · ");
      const title = element("b", "", "document " + reference.document_id);
      const snippet = element("div", "snippet", "");
      line.appendChild(title);
      line.appendChild(snippet);
      card.appendChild(line);
      documentDetail(reference.document_id).then((detail) => {
        if (!detail) return;
        title.textContent = detail.title;
        const item = (detail.items || []).find((r) => r.id === reference.reference_id);
        if (item && item.text) snippet.textContent = item.text.length > 160 ? item.text.slice(0, 160) + "…" : item.text;
      });
    }
    card.addEventListener("mouseenter", () => spans.forEach((s) => { const p = Number(s.dataset.position); if (p >= first && p < last) s.classList.add("lit"); }));
    card.addEventListener("mouseleave", () => spans.forEach((s) => s.classList.remove("lit")));
    panel.appendChild(card);
  });
}

async function refreshDocuments() {
  const list = $("#docs");
  try {
    const [ready, pending] = await Promise.all([
      api("/v1/documents?limit=100"),
      api("/v1/documents?state=queued,encoding,failed&limit=100"),
    ]);
    list.textContent = "";
    for (const item of pending.data.concat(ready.data)) {
      const row = element("div", "doc");
      row.appendChild(element("span", "", item.title || item.id));
      const detail = item.object === "document" ? item.references + " references"
        : item.status + (item.references_total ? " " + item.references_done + "/" + item.references_total : "");
      row.appendChild(element("span", "muted", detail));
      list.appendChild(row);
    }
    if (!list.children.length) list.appendChild(element("div", "muted", "No documents yet."));
  } catch (e) { list.textContent = e.message; }
}

async function upload() {
  const file = $("#docFile").files[0];
  const title = $("#docTitle").value.trim() || (file && file.name) || "untitled";
  const text = file ? await file.text() : $("#docText").value;
  if (!text.trim()) { $("#uploadStatus").textContent = "nothing to upload"; return; }
  $("#upload").disabled = true;
  try {
    const accepted = await api("/v1/documents", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify({ title: title, text: text }) });
    $("#uploadStatus").textContent = "accepted: " + accepted.id;
    $("#docText").value = ""; $("#docTitle").value = ""; $("#docFile").value = "";
    for (let i = 0; i < 240; i++) {
      const state = await api(accepted.status_url || ("/v1/documents/" + accepted.id));
      $("#uploadStatus").textContent = accepted.id + ": " + state.status;
      if (["ready", "skipped", "failed", "cancelled"].includes(state.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) { $("#uploadStatus").textContent = e.message; }
  $("#upload").disabled = false;
  refreshDocuments();
}

$("#send").addEventListener("click", send);
$("#prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
$("#clear").addEventListener("click", () => { history.length = 0; $("#messages").textContent = ""; });
$("#upload").addEventListener("click", upload);
$("#refresh").addEventListener("click", refreshDocuments);
checkStatus();
refreshDocuments();
</script>
</body>
</html>
"""#
}
