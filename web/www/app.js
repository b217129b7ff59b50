// The rarvm playground: runs a root process in slices of gas, so the page never freezes,
// and asks the user — grant more, snapshot, abort — when the root's budget runs dry, and
// whether to allow a write its console grant lacks the right for.
import init, { Session, examples, hash_hex } from "./pkg/rarvm_web.js";

const $ = (id) => document.getElementById(id);
let session = null;
let paused = false;
let running = false;
let lastName = "";

function word(id) {
  const v = $(id).value.trim();
  if (!/^[0-9]+$/.test(v)) throw new Error(`${id}: ${JSON.stringify(v)} is not a number`);
  return BigInt(v);
}

function showErrors(list) {
  const name = $("name").value;
  $("errors").textContent = list
    .map((d) => (d.line ? `${name}:${d.line}:${d.col}: ${d.message}` : `${name}: ${d.message}`))
    .join("\n");
  const first = list.find((d) => d.line);
  if (first) {
    // Put the cursor where the first error is.
    const lines = $("source").value.split("\n");
    let at = 0;
    for (let i = 0; i < first.line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    at += Math.max(0, first.col - 1);
    $("source").focus();
    $("source").setSelectionRange(at, at + 1);
  }
}

function render(st) {
  $("status").textContent = st.status + (st.fault ? ` (${st.fault})` : "") + (st.at ? ` at ${st.at}` : "");
  $("result").textContent = st.status === "returned" ? st.results.join(" ") : "";
  $("gas_used").textContent = String(st.gas_used);
  const out = session.take_console();
  if (out) $("output").textContent += out;
  const body = $("tree").querySelector("tbody");
  body.replaceChildren(
    ...JSON.parse(session.tree()).map((p) => {
      const tr = document.createElement("tr");
      for (const v of [p.path, p.status, p.gas_left, p.gas_used, p.footprint, p.mem_limit, p.at ?? ""]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.append(td);
      }
      return tr;
    }),
  );
  $("download").disabled = false;
}

function buttons() {
  $("pause").disabled = !running || paused;
  $("resume").disabled = !session;
}

function tick() {
  if (!session || paused) {
    running = false;
    buttons();
    return;
  }
  const st = JSON.parse(session.slice(word("slice")));
  render(st);
  if (st.needs === "run") {
    setTimeout(tick, 0);
    return;
  }
  running = false;
  buttons();
  if (st.needs === "gas" || st.needs === "memory" || st.needs === "right") ask(st);
}

function ask(st) {
  const right = st.needs === "right";
  for (const b of $("dialog").querySelectorAll(".right")) b.hidden = !right;
  for (const b of $("dialog").querySelectorAll(".resource")) b.hidden = right;
  $("dialog").dataset.needs = st.needs;
  if (right) {
    $("question").textContent = `${lastName}: ${st.question}. Allow it?`;
    $("dialog").showModal();
    return;
  }
  const what = st.needs === "gas" ? `${word("gas")} more gas` : `${word("mem")} more bytes of memory`;
  $("question").textContent =
    `${lastName} has used ${st.gas_used} gas and ran out of ${st.needs === "gas" ? "gas" : "memory"}` +
    (st.at ? ` at ${st.at}` : "") + `. Grant ${what}?`;
  $("dialog").showModal();
}

function start() {
  paused = false;
  running = true;
  buttons();
  setTimeout(tick, 0);
}

function create() {
  $("errors").textContent = "";
  $("output").textContent = "";
  $("hash").textContent = "";
  lastName = $("name").value;
  try {
    session = new Session(lastName, $("source").value, $("args").value, word("gas"), word("mem"), $("console").value);
  } catch (e) {
    session = null;
    let list;
    try {
      list = JSON.parse(e.message);
    } catch {
      list = [{ line: 0, col: 0, message: String(e.message ?? e) }];
    }
    showErrors(list);
    $("status").textContent = "compile error";
    $("result").textContent = "";
    return false;
  }
  return true;
}

function download() {
  const bytes = session.image();
  $("hash").textContent = hash_hex(bytes);
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = lastName.replace(/\.[a-z]+$/, "") + ".img";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function main() {
  await init();
  const list = JSON.parse(examples());
  for (const ex of list) {
    const o = document.createElement("option");
    o.value = ex.name;
    o.textContent = ex.name;
    $("example").append(o);
  }
  const pick = (name) => {
    const ex = list.find((e) => e.name === name);
    $("source").value = ex.source;
    $("name").value = ex.name;
    $("args").value = ex.args;
    $("console").value = ex.console;
    $("errors").textContent = "";
  };
  $("example").onchange = () => pick($("example").value);
  pick(list[0].name);

  $("run").onclick = () => {
    if (create()) start();
  };
  $("pause").onclick = () => {
    paused = true;
    buttons();
  };
  $("resume").onclick = () => {
    if (!session) return;
    const st = JSON.parse(session.state());
    // A root whose budget is spent (or a loaded image) gets another budget of gas, as
    // `rarvm resume` does.
    if (st.needs === "gas") session.grant(word("gas"), 0n);
    start();
  };
  $("step").onclick = () => {
    if (!session && !create()) return;
    paused = false;
    const st = JSON.parse(session.slice(word("slice")));
    render(st);
    paused = true;
    buttons();
  };
  $("download").onclick = () => session && download();
  $("load").onchange = async () => {
    const file = $("load").files[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    try {
      session = Session.from_image(bytes, $("console").value);
    } catch (e) {
      $("errors").textContent = `${file.name}: ${e.message}`;
      return;
    }
    lastName = file.name;
    $("errors").textContent = "";
    $("output").textContent = "";
    $("hash").textContent = hash_hex(bytes);
    paused = true;
    render(JSON.parse(session.state()));
    buttons();
  };
  $("grant").onclick = () => {
    $("dialog").close();
    if ($("dialog").dataset.needs === "gas") session.grant(word("gas"), 0n);
    else session.grant(0n, word("mem"));
    start();
  };
  for (const answer of ["once", "always", "deny"]) {
    $(answer).onclick = () => {
      $("dialog").close();
      session.answer(answer);
      start();
    };
  }
  // The dialog stays open: a snapshot is taken, and the question is still there.
  $("snapshot").onclick = () => download();
  $("abort").onclick = () => {
    $("dialog").close();
    $("status").textContent += " (aborted)";
    session = null;
    buttons();
  };
  document.body.dataset.ready = "1";
}

main();
