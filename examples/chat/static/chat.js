// The chat's browser client: plain JavaScript and the browser's own WebSocket.
// Protocol: examples/chat/README.md. Text is always inserted with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { ws: null, nick: null, rooms: new Map(), current: null, retry: 0 };

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws");
  state.ws = ws;
  setStatus("connecting…", false);
  ws.onopen = () => {
    state.retry = 0;
    setStatus("connected", true);
    if (state.nick) {  // after a reconnect: the same nickname and rooms again
      send({ type: "hello", nick: state.nick });
      for (const room of state.rooms.keys()) send({ type: "join", room });
      state.rooms.clear();
    }
  };
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = (event) => {
    setStatus(`disconnected (${event.code}), retrying…`, false);
    const delay = Math.min(10000, 500 * 2 ** state.retry++) * (0.5 + Math.random());
    setTimeout(connect, delay);
  };
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function handle(msg) {
  switch (msg.type) {
    case "welcome":
      state.nick = msg.nick;
      setStatus(`connected as ${msg.nick}`, true);
      $("hello-form").hidden = true;
      $("chat").hidden = false;
      showRooms(msg.rooms);
      break;
    case "joined": {
      const room = { log: [], members: new Set(msg.members) };
      state.rooms.set(msg.room, room);
      for (const event of msg.history) room.log.push(event);
      select(msg.room);
      break;
    }
    case "left":
      state.rooms.delete(msg.room);
      select(state.rooms.keys().next().value ?? null);
      break;
    case "message":
    case "presence": {
      const room = state.rooms.get(msg.room);
      if (!room) return;
      if (msg.type === "presence") {
        if (msg.event === "join") room.members.add(msg.nick); else room.members.delete(msg.nick);
      }
      room.log.push(msg);
      if (msg.room === state.current) { appendLine(msg); showMembers(); }
      break;
    }
    case "rooms":
      showRooms(msg.rooms);
      break;
    case "members": {
      const room = state.rooms.get(msg.room);
      if (room) { room.members = new Set(msg.members); showMembers(); }
      break;
    }
    case "error":
      $("error").textContent = msg.message;
      if (msg.code === "nick-taken" || msg.code === "bad-nick") state.nick = null;
      break;
  }
}

function select(name) {
  state.current = name;
  $("current-room").textContent = name ?? "no room";
  $("log").replaceChildren();
  const room = name && state.rooms.get(name);
  if (room) for (const event of room.log) appendLine(event);
  showMembers();
  showMyRooms();
  $("room-hint").hidden = state.rooms.size > 0;
}

function appendLine(event) {
  const line = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date(event.time * 1000).toLocaleTimeString();
  line.append(time);
  if (event.type === "message") {
    line.className = "message";
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = event.nick;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = event.text;
    line.append(nick, text);
  } else {
    line.className = "presence";
    line.append(`${event.nick} ${event.event === "join" ? "joined" : "left"}`);
  }
  const log = $("log");
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

function showMembers() {
  const room = state.current && state.rooms.get(state.current);
  $("members").replaceChildren(...[...(room ? room.members : [])].sort().map((nick) => {
    const item = document.createElement("li");
    item.textContent = nick;
    return item;
  }));
}

function showMyRooms() {
  $("my-rooms").replaceChildren(...[...state.rooms.keys()].map((name) => {
    const item = document.createElement("li");
    item.textContent = name;
    if (name === state.current) item.className = "current";
    item.onclick = () => select(name);
    const leave = document.createElement("button");
    leave.textContent = "leave";
    leave.onclick = (event) => { event.stopPropagation(); send({ type: "leave", room: name }); };
    item.append(leave);
    return item;
  }));
}

function showRooms(rooms) {
  $("all-rooms").replaceChildren(...Object.entries(rooms).map(([name, count]) => {
    const item = document.createElement("li");
    item.textContent = `${name} (${count})`;
    item.onclick = () => state.rooms.has(name) ? select(name) : send({ type: "join", room: name });
    return item;
  }));
}

function setStatus(text, open) {
  $("status").textContent = text;
  $("status").classList.toggle("open", open);
}

$("hello-form").onsubmit = (event) => {
  event.preventDefault();
  $("error").textContent = "";
  state.nick = $("nick").value;
  send({ type: "hello", nick: state.nick });
};
$("join-form").onsubmit = (event) => {
  event.preventDefault();
  $("error").textContent = "";
  const room = $("room").value;
  if (state.rooms.has(room)) select(room); else send({ type: "join", room });
  $("room").value = "";
};
$("say-form").onsubmit = (event) => {
  event.preventDefault();
  $("error").textContent = "";
  if (!state.current) { $("error").textContent = "join a room first"; return; }
  send({ type: "say", room: state.current, text: $("text").value });
  $("text").value = "";
};
$("refresh-rooms").onclick = () => send({ type: "rooms" });

connect();
