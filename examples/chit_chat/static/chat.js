// Chit-Chat's page: log in or register, then chat over the app's WebSocket (/ws).
// The access token travels as a WebSocket subprotocol: ["mdb-engine", "bearer.<token>"].
"use strict";

const root = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
const $ = (id) => document.getElementById(id);
let token = null;
let socket = null;
let streaming = null; // the assistant's line being written
let refreshedAt = 0; // when a refused WebSocket last made us refresh the access token

async function api(path, options = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const response = await fetch(root + path, { ...options, headers });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail;
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail || response.status));
  }
  return body;
}

function addLine(kind, text) {
  const line = document.createElement("li");
  line.className = kind;
  line.textContent = text;
  $("log").append(line);
  $("log").scrollTop = $("log").scrollHeight;
  return line;
}

function showLogin(message = "") {
  token = null;
  $("chat").hidden = true;
  $("login").hidden = false;
  $("auth-error").textContent = message;
}

async function start(accessToken) {
  token = accessToken;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("log").replaceChildren();
  const { messages } = await api("history");
  for (const message of messages) addLine(message.role, message.content);
  await loadMemories();
  connect();
}

async function loadMemories() {
  const { memories } = await api("memories");
  $("memories").replaceChildren(
    ...memories.map((item) => Object.assign(document.createElement("li"), { textContent: item.memory })),
  );
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + root + "ws", ["mdb-engine", "bearer." + token]);
  socket.onopen = () => { $("status").textContent = "connected"; };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = async (event) => {
    $("status").textContent = "disconnected";
    if (event.code !== 1008 || token === null) return;
    if (Date.now() - refreshedAt < 10000) return showLogin(event.reason);
    refreshedAt = Date.now();
    try { // the access token expired: the refresh cookie gets a new one
      token = (await api("auth/refresh", { method: "POST", body: "{}" })).access_token;
      connect();
    } catch (error) {
      showLogin("Please log in again.");
    }
  };
}

function receive(message) {
  if (message.type === "token") {
    streaming = streaming || addLine("assistant", "");
    streaming.textContent += message.text;
  } else if (message.type === "reply") {
    (streaming || addLine("assistant", "")).textContent = message.text;
    streaming = null;
    $("send").disabled = false;
    loadMemories();
  } else if (message.type === "error") {
    addLine("error", message.detail);
    streaming = null;
    $("send").disabled = false;
  }
}

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const action = event.submitter && event.submitter.value === "register" ? "register" : "login";
  const body = JSON.stringify({ email: $("email").value, password: $("password").value });
  try {
    token = null;
    await start((await api("auth/" + action, { method: "POST", body })).access_token);
  } catch (error) {
    showLogin(error.message);
  }
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  addLine("user", text);
  socket.send(JSON.stringify({ type: "message", text }));
  $("text").value = "";
  $("send").disabled = true;
});

$("logout").addEventListener("click", async () => {
  await api("auth/logout", { method: "POST", body: "{}" }).catch(() => null);
  if (socket) socket.close();
  showLogin();
});

$("forget").addEventListener("click", async () => {
  await api("memories", { method: "DELETE" });
  await loadMemories();
});

// A returning visitor still holds the refresh cookie: go straight to the chat.
// Without one, the login form simply stays.
api("auth/refresh", { method: "POST", body: "{}" }).then(
  (answer) => start(answer.access_token),
  () => {},
);
