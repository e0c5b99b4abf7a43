// The shared form: every field with a data-path is bound to that path of the document.
//
// Editing a field sends {"type": "patch", "path": [...], "value": ..., "ref": n}. The page
// keeps its own copy of the document and applies the server's snapshot and patches in
// version order, like every other client (see ../replica.py). While a field has edits
// of ours the server has not confirmed yet, incoming changes update the copy but not the
// field: our edit comes later in the server's order and wins anyway, and the text under
// the cursor does not jump back. On a drop the page reconnects with a growing delay and
// starts again from a fresh snapshot.
"use strict";

(() => {
  const SOCKET_PATH = "/ws";
  const FIRST_DELAY_MS = 500;
  const MAX_DELAY_MS = 10000;

  const fields = Array.from(document.querySelectorAll("[data-path]"));
  const fieldset = document.getElementById("form-fields");
  const connectionState = document.getElementById("connection-state");
  const versionView = document.getElementById("document-version");
  const clientView = document.getElementById("client-name");
  const errorView = document.getElementById("last-error");
  const documentView = document.getElementById("document-view");

  const state = {
    socket: null,
    tree: {},
    version: null, // null until the snapshot of the current connection arrives
    client: null,
    early: new Map(), // version -> patch that arrived before the one it follows
    unconfirmed: new Map(), // path key -> our patches on that path not yet broadcast
    sentPaths: new Map(), // ref -> path key of a patch we sent
    nextRef: 1,
    delay: FIRST_DELAY_MS,
  };

  // -- the document: the same rules as document.py ------------------------------------

  function hasKey(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  // A plain assignment would treat a key such as "__proto__" specially.
  function setKey(object, key, value) {
    Object.defineProperty(object, key, {
      value, writable: true, enumerable: true, configurable: true,
    });
  }

  function applyPatch(tree, path, value) {
    let parent = tree;
    for (const key of path.slice(0, -1)) {
      if (!hasKey(parent, key)) {
        if (value === null) return; // deleting under a missing key changes nothing
        setKey(parent, key, {});
      } else if (!isObject(parent[key])) {
        return; // the server refuses such a patch, so it is never broadcast
      }
      parent = parent[key];
    }
    const leaf = path[path.length - 1];
    if (value === null) delete parent[leaf];
    else setKey(parent, leaf, value);
  }

  function valueAt(tree, path) {
    let node = tree;
    for (const key of path) {
      if (!isObject(node) || !hasKey(node, key)) return undefined;
      node = node[key];
    }
    return node;
  }

  function pathOf(field) {
    return field.dataset.path.split(".");
  }

  function pathKey(path) {
    return JSON.stringify(path);
  }

  // -- showing the document in the fields -----------------------------------------------

  function showInField(field, value) {
    if (field.type === "checkbox") {
      field.checked = value === true;
      return;
    }
    let text = "";
    if (typeof value === "string") text = value;
    else if (value !== undefined && value !== null) text = JSON.stringify(value);
    if (field.tagName === "SELECT") {
      const known = Array.from(field.options).some((option) => option.value === text);
      field.value = known ? text : "";
      return;
    }
    if (field.value === text) return;
    const focused = document.activeElement === field;
    const [start, end] = [field.selectionStart, field.selectionEnd];
    field.value = text;
    if (focused && start !== null) {
      field.setSelectionRange(Math.min(start, text.length), Math.min(end, text.length));
    }
  }

  function render() {
    for (const field of fields) {
      const path = pathOf(field);
      if ((state.unconfirmed.get(pathKey(path)) || 0) === 0) {
        showInField(field, valueAt(state.tree, path));
      }
    }
    versionView.textContent = state.version === null ? "–" : String(state.version);
    clientView.textContent = state.client || "–";
    documentView.textContent = JSON.stringify(state.tree, null, 2);
  }

  function showConnection(name, text) {
    connectionState.dataset.state = name;
    connectionState.textContent = text;
    fieldset.disabled = name !== "open";
  }

  function showError(text) {
    errorView.hidden = text === null;
    errorView.textContent = text || "";
  }

  // -- messages from the server ---------------------------------------------------------

  function confirm(ref) {
    const key = state.sentPaths.get(ref);
    if (key === undefined) return;
    state.sentPaths.delete(ref);
    const count = (state.unconfirmed.get(key) || 1) - 1;
    if (count > 0) state.unconfirmed.set(key, count);
    else state.unconfirmed.delete(key);
  }

  function applyInOrder() {
    for (const old of state.early.keys()) {
      if (old <= state.version) state.early.delete(old);
    }
    let patch = state.early.get(state.version + 1);
    while (patch !== undefined) { // each pass removes one entry from state.early
      state.early.delete(patch.version);
      applyPatch(state.tree, patch.path, patch.value);
      state.version = patch.version;
      if (patch.client === state.client && patch.ref !== undefined) confirm(patch.ref);
      patch = state.early.get(state.version + 1);
    }
  }

  function receive(message) {
    if (message.type === "snapshot") {
      state.tree = message.document;
      state.version = message.version;
      state.client = message.client;
      state.unconfirmed.clear();
      state.sentPaths.clear();
      state.delay = FIRST_DELAY_MS;
      showConnection("open", "connected");
      applyInOrder();
    } else if (message.type === "patch") {
      if (state.version === null || message.version > state.version) {
        state.early.set(message.version, message);
      }
      if (state.version !== null) applyInOrder();
      if (message.client === state.client) showError(null);
    } else if (message.type === "error") {
      showError(`The server refused an edit: ${message.message} (${message.code})`);
      if (message.ref !== undefined) confirm(message.ref);
    }
    render();
  }

  // -- the connection ---------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${SOCKET_PATH}`);
    state.socket = socket;
    state.version = null;
    state.early.clear();
    showConnection("connecting", "connecting");
    socket.addEventListener("message", (event) => {
      if (state.socket === socket) receive(JSON.parse(event.data));
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      reconnectLater(event.code);
    });
  }

  function reconnectLater(code) {
    const delay = state.delay * (0.5 + Math.random() / 2);
    state.delay = Math.min(state.delay * 2, MAX_DELAY_MS);
    const seconds = (delay / 1000).toFixed(1);
    showConnection("waiting", `disconnected (code ${code}), retrying in ${seconds} s`);
    setTimeout(connect, delay);
  }

  function send(path, value) {
    const socket = state.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN || state.version === null) {
      return; // the fields are disabled then; the next snapshot shows the document
    }
    const ref = state.nextRef++;
    const key = pathKey(path);
    state.sentPaths.set(ref, key);
    state.unconfirmed.set(key, (state.unconfirmed.get(key) || 0) + 1);
    socket.send(JSON.stringify({ type: "patch", path, value, ref }));
  }

  for (const field of fields) {
    const isChoice = field.type === "checkbox" || field.tagName === "SELECT";
    field.addEventListener(isChoice ? "change" : "input", () => {
      send(pathOf(field), field.type === "checkbox" ? field.checked : field.value);
    });
  }

  render();
  connect();
})();
