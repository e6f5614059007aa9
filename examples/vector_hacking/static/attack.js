// Starts an attack and draws its progress from the app's WebSocket (/ws).
"use strict";

const form = document.getElementById("attack-form");
const startButton = document.getElementById("start");
const statusLine = document.getElementById("status");
const stepsBody = document.getElementById("steps");
const reveal = document.getElementById("reveal");
let currentAttack = null;

function socketUrl() {
  const url = new URL("ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function addStep(event) {
  const row = document.createElement("tr");
  const percent = Math.max(0, Math.min(100, event.similarity * 100));
  row.innerHTML = "<td></td><td></td><td class='score'><div></div><div class='bar'><span></span></div></td>";
  row.children[0].textContent = event.step;
  row.children[1].textContent = event.best;
  row.children[2].firstChild.textContent = event.similarity.toFixed(4);
  row.querySelector(".bar span").style.width = percent.toFixed(1) + "%";
  stepsBody.appendChild(row);
}

function finish(event) {
  statusLine.textContent = "Attack " + event.status + " (" + event.reason + ")";
  statusLine.dataset.state = event.status;
  reveal.hidden = false;
  const recovered = event.shared_words.length ? event.shared_words.join(", ") : "none";
  reveal.textContent = "The secret was: \u201c" + event.target_text + "\u201d. Best guess: \u201c" +
    (event.best || "") + "\u201d. Words recovered: " + recovered + "." +
    (event.error ? " Error: " + event.error : "");
  startButton.disabled = false;
}

function connect() {
  const socket = new WebSocket(socketUrl());
  socket.onopen = () => {
    statusLine.textContent = "Ready.";
    startButton.disabled = false;
  };
  socket.onclose = () => {
    statusLine.textContent = "Disconnected; reconnecting…";
    startButton.disabled = true;
    setTimeout(connect, 1000);
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (!currentAttack || event.attack !== currentAttack) return;
    if (event.type === "progress") addStep(event);
    if (event.type === "done") finish(event);
  };
}

form.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  startButton.disabled = true;
  stepsBody.replaceChildren();
  reveal.hidden = true;
  delete statusLine.dataset.state;
  const body = {
    target_text: form.target_text.value,
    strategy: form.strategy.value,
    max_steps: Number(form.max_steps.value),
    vocabulary_size: Number(form.vocabulary_size.value),
  };
  const response = await fetch("attacks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    const detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
    statusLine.textContent = "Refused (" + response.status + "): " + detail;
    startButton.disabled = false;
    return;
  }
  currentAttack = answer.id;
  statusLine.textContent = "Attack " + answer.id + " running…";
});

connect();
