// The status page of the admin port: one HTML page, its script and its stylesheet, no build step
// and nothing loaded from elsewhere (it must work on a machine without internet access). It polls
// /admin/status every second and changes things through the same operator endpoints as curl.
// Its Content-Security-Policy admits no inline style: no <style> element, no style attribute in
// the markup; the script sets a computed length through the CSSOM (node.style), which it allows.

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice status</title>
<link rel="stylesheet" href="/status.css">
</head>
<body>
<header>
<h1 id="top" tabindex="-1">Sluice</h1>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
<div id="meta" data-testid="meta">connecting…</div>
</header>
<main>
<div id="broker" class="unserved" data-testid="broker" hidden></div>
<div id="notice" role="status" data-testid="notice"></div>
<div class="backends" id="backends" data-testid="backends" data-fallback="top"></div>
<div id="figures">
<h2 id="dead-heading" tabindex="-1">Dead letters not yet replayed <small id="dead-shown" data-testid="dead-shown"></small> <span class="badge stale-badge" data-testid="dead-stale" hidden>stale</span></h2>
<table data-testid="dead-letters">
  <thead><tr><th>age</th><th>reason</th><th>backend</th><th>service</th><th>client</th><th>id</th><th>error</th><th><span class="visually-hidden">actions</span></th></tr></thead>
  <tbody id="dead" data-fallback="dead-heading"></tbody>
</table>
<h2 id="callbacks-heading" tabindex="-1">Dead callbacks not yet redelivered <span class="badge stale-badge" hidden>stale</span></h2>
<div id="dead-callbacks" data-testid="dead-callbacks" data-fallback="callbacks-heading"></div>
</div>
</main>
<script src="/status.js"></script>
</body>
</html>
`;

export const STATUS_STYLE = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #f6f7f9; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.5em 0 .5em; }
#meta { color: #5b6475; margin-bottom: 1em; }
#meta.stale { color: #9b1c1c; font-weight: bold; }
/* Old figures say so in words ("stale" on each card and list) and are framed in dashed red, at
   full contrast: faded to opacity .45 they fell below 4.5:1 (WCAG 1.4.3) and read as disabled. */
.stale-figures .backend, .stale-figures table { border: 1px dashed #9b1c1c; background: #f1f2f5; }
.badge.stale-badge { background: #9b1c1c; color: #fff; }
.backend .stale { color: #9b1c1c; font-weight: bold; }
.backends { display: grid; grid-template-columns: repeat(auto-fill, minmax(24em, 1fr)); gap: 1em; }
/* min-width: a backend's error with no space in 500 characters widened the grid past the page. */
.backend { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 1em; min-width: 0; overflow-wrap: anywhere; }
.backend h3 { margin: 0 0 .6em; font-size: 1.1em; display: flex; justify-content: space-between; }
.badge { font-size: .75em; padding: .15em .5em; border-radius: 3px; background: #e3f4e6; color: #1b6b2a; }
.badge.paused, .badge.closed { background: #fdecc8; color: #8a5a00; }
.badge.failing { background: #fbe0e0; color: #9b1c1c; }
.unserved { background: #fbe0e0; color: #9b1c1c; border: 1px solid #dc2626; border-radius: 4px; padding: .5em .7em; margin: 0 0 .6em; }
.bar { height: .8em; background: #e8eaef; border-radius: 3px; overflow: hidden; margin: .2em 0 .6em; }
.bar > div { height: 100%; background: #3b82f6; }
.bar.over > div { background: #dc2626; }
.shared { background: #fdf6e3; color: #6b4e00; border: 1px solid #e5c46b; border-radius: 4px; padding: .5em .7em; margin: 0 0 .6em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; margin: 0 0 .6em; }
dt { color: #5b6475; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
button { font: inherit; padding: .25em .8em; border: 1px solid #9aa3b2; border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: #eef1f6; }
/* The page's own focus ring, the same in every browser: 3px #1d4ed8 is 6.3:1 against the page and
   the cards (WCAG 1.4.11 asks 3:1); a heading focused when its button went is outlined too. */
:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .3em .5em; border-bottom: 1px solid #e3e6ec; vertical-align: top; overflow-wrap: anywhere; }
td.error { color: #9b1c1c; max-width: 40em; overflow-wrap: anywhere; }
#notice { min-height: 1.4em; color: #1b6b2a; }
#notice.bad { color: #9b1c1c; }
ul { margin: .2em 0; padding-left: 1.2em; }
/* Read by a screen reader, not shown: the action column's header. */
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;

export const STATUS_SCRIPT = `"use strict";
// Everything from the server is set as text, never as HTML: error texts come from backends.
const $ = (id) => document.getElementById(id);
// Ids and names go into URLs one path segment each, encoded: an id with "/", "?", "#" or ".."
// in it (stores written by other means, a hand-made dead letter) named another path.
const seg = encodeURIComponent;
// A dead letter's id as its buttons' names give it: every row's "replay" alone told a screen
// reader's list of buttons nothing of which. Their names start with the text they show (2.5.3).
const short = (id) => (id.length > 8 ? id.slice(0, 8) + "…" : id);
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "dataset") Object.assign(node.dataset, value);
    // The handler as the node's property, not a listener: an update in place hands the kept node
    // the new one (acting on the figures just read), where a listener would stay the first's.
    else if (key.startsWith("on")) node[key] = value;
    else if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}
// Text set only when it differs: a text written again, even the same, is a change that a screen
// reader may announce again in a live region.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
function setClass(node, name) {
  if (node.className !== name) node.className = name;
}
// What a node stands for across refreshes: a button its data-key (its action and what it acts
// on, the same whether it reads Pause or Resume), a card or row its data-testid, a list item of
// a reason its data-item. A node with none is matched by its place among its siblings of the
// same tag that have none either.
function identity(node) {
  if (node.nodeType !== 1) return null;
  return node.dataset.key !== undefined ? "key " + node.dataset.key
    : node.dataset.testid !== undefined ? "id " + node.dataset.testid
      : node.dataset.item !== undefined ? "item " + node.dataset.item : null;
}
function sameKind(a, b) {
  return a.nodeType === b.nodeType && (a.nodeType !== 1 || a.tagName === b.tagName);
}
// Makes the existing node look like the one just built, keeping the node itself: its changed
// attributes and texts are set, nothing else is written.
function morph(old, fresh) {
  if (old.nodeType !== 1) {
    if (old.data !== fresh.data) old.data = fresh.data;
    return;
  }
  for (const { name } of [...old.attributes]) {
    if (name !== "style" && !fresh.hasAttribute(name)) old.removeAttribute(name);
  }
  for (const { name, value } of [...fresh.attributes]) {
    if (name !== "style" && old.getAttribute(name) !== value) old.setAttribute(name, value);
  }
  // Through the CSSOM, as built: a style attribute set is inline style, which the policy refuses.
  if (old.style.cssText !== fresh.style.cssText) old.style.cssText = fresh.style.cssText;
  if (old.onclick !== fresh.onclick) old.onclick = fresh.onclick;
  morphChildren(old, [...fresh.childNodes]);
}
// The container's children made those built, in place: a node that still stands for the same
// thing is kept and updated, one for a thing gone is removed, one for a new thing inserted.
function morphChildren(parent, children) {
  const fresh = children.map((c) => (typeof c === "string" ? document.createTextNode(c) : c));
  const oldKeyed = new Map();
  const oldPlain = [];
  for (const node of parent.childNodes) {
    const id = identity(node);
    if (id === null) oldPlain.push(node);
    else if (!oldKeyed.has(id)) oldKeyed.set(id, node);
  }
  const used = new Set();
  let plainAt = 0;
  const targets = fresh.map((node) => {
    const id = identity(node);
    let match = null;
    if (id !== null) {
      const found = oldKeyed.get(id);
      if (found && !used.has(found) && sameKind(found, node)) match = found;
    } else {
      for (let i = plainAt; i < oldPlain.length; i++) {
        if (sameKind(oldPlain[i], node)) {
          match = oldPlain[i];
          plainAt = i + 1;
          break;
        }
      }
    }
    if (match === null) return node;
    used.add(match);
    morph(match, node);
    return match;
  });
  for (const node of [...parent.childNodes]) if (!used.has(node)) node.remove();
  // The others are put in order around the node holding focus, never moved itself: a focused
  // node taken out and put back is blurred, and a key held down on it lost. Only a node not
  // already next to its neighbour is moved (or, new, inserted).
  const focus = document.activeElement;
  const anchorAt = Math.max(0, targets.findIndex((node) => node.contains(focus)));
  if (targets.length === 0) return;
  // A new node still sits in the tree just built: it is in place only once in parent.
  const placed = (node) => node.parentNode === parent;
  if (!placed(targets[anchorAt])) parent.append(targets[anchorAt]);
  for (let i = anchorAt - 1; i >= 0; i--) {
    if (!placed(targets[i]) || targets[i].nextSibling !== targets[i + 1]) parent.insertBefore(targets[i], targets[i + 1]);
  }
  for (let i = anchorAt + 1; i < targets.length; i++) {
    if (!placed(targets[i]) || targets[i].previousSibling !== targets[i - 1]) parent.insertBefore(targets[i], targets[i - 1].nextSibling);
  }
}
// Every refresh updates the cards and lists in place (morphChildren): a button focused in them
// stays the same node while what it acts on is listed, so focus stays, a screen reader has
// nothing to announce again and a key or mouse button held down across a refresh still presses
// it. Each button carries a group (data-group: its kind). One whose thing is gone (its dead
// letter replayed) hands focus to the one now at its place in its group, or, none left, to the
// container's heading (data-fallback), never to the top of the page.
function updateList(container, children) {
  const active = document.activeElement;
  const held = active && active !== container && container.contains(active) ? active : null;
  const key = held && held.dataset ? held.dataset.key : undefined;
  const group = held && held.dataset ? held.dataset.group : undefined;
  const peers = () => [...container.querySelectorAll("[data-group]")].filter((n) => n.dataset.group === group);
  const index = held ? peers().indexOf(held) : -1;
  morphChildren(container, children);
  if (!held || document.activeElement === held) return;
  const now = peers();
  const same = container.contains(held) ? held
    : key === undefined ? undefined : [...container.querySelectorAll("[data-key]")].find((n) => n.dataset.key === key);
  const next = same ||
    (index >= 0 && now.length > 0 ? now[Math.min(index, now.length - 1)] : null) ||
    $(container.dataset.fallback || "top");
  if (next) next.focus({ preventScroll: true });
}
function notice(text, bad) {
  // Written even when the same: each action's outcome is announced, a second alike too.
  $("notice").textContent = text;
  $("notice").className = bad ? "bad" : "";
}
async function api(method, path, body, signal) {
  const response = await fetch(path, {
    method,
    signal,
    credentials: "same-origin",
    headers: { "x-sluice-request": "1", ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) {
    location.reload();
    throw new Error("signed out");
  }
  const json = await response.json().catch(() => {
    // A body cut off by the poll's timeout is that timeout, not an empty answer.
    if (signal && signal.aborted) throw signal.reason;
    return {};
  });
  if (!response.ok) throw new Error(json.message || json.error || response.statusText);
  return json;
}
// The server's clock less the browser's, from each status document: "5 min ago" and the failing
// badge compare the server's instants with the server's now, however wrong the viewer's clock.
let serverAhead = 0;
function serverNow() {
  return Date.now() + serverAhead;
}
function when(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  const s = Math.round((d.getTime() - serverNow()) / 1000);
  const abs = Math.abs(s);
  if (abs < 2) return "just now (" + d.toISOString().replace(".000Z", "Z") + ")";
  const span = abs < 90 ? abs + " s" : abs < 5400 ? Math.round(abs / 60) + " min" : Math.round(abs / 3600) + " h";
  return (s >= 0 ? "in " : "") + span + (s < 0 ? " ago" : "") + " (" + d.toISOString().replace(".000Z", "Z") + ")";
}
function rateText(rate) {
  if (!rate) return "unlimited";
  return rate.limit + " per " + (rate.perMs >= 1000 ? rate.perMs / 1000 + " s" : rate.perMs + " ms") + ", burst " + rate.burst;
}
// A bulk replay's answer lists every dead letter it tried, refused ones too (their original is
// not over, or the broker did not take them): only those actually sent count as replayed.
function bulkSummary(result) {
  const sent = result.replayed.filter((r) => r.result === "replayed").length;
  const refused = result.replayed.filter((r) => r.result === "refused");
  return sent + " replayed, " +
    (refused.length ? refused.length + " refused (" + refused[0].error + "), " : "") +
    result.skipped.length + " skipped" + moreNote(result);
}
// A run takes at most its limit (1000 from the page): more matching wait for the next click.
function moreNote(result) {
  return result.more ? "; more wait: click again for the next ones" : "";
}
// What a bulk run's dry run says it would do, for the question asked before the real run.
function dryRunSummary(result) {
  const entries = result.replayed || result.redelivered || [];
  const would = entries.filter((r) => r.result === "would replay" || r.result === "would redeliver");
  const reached = would.filter((r) => r.mayHaveReachedBackend).length;
  const refused = entries.filter((r) => r.result === "refused").length;
  return would.length + " would be " + (result.replayed ? "replayed" : "redelivered") +
    (reached ? " (" + reached + " may have reached the backend already)" : "") + ", " +
    refused + " refused, " + result.skipped.length + " skipped" +
    (result.more ? "; more match than one click takes" : "");
}
// A bulk button (up to 1000 a click) runs its dry run first and acts only once the operator,
// shown its numbers, confirms: one misclick replayed a thousand requests the backend may have
// seen. The dry run is journaled as such. The confirmed run carries the dry run's "until", so
// what failed while the question was open is not acted on unseen; with nothing selected there
// is nothing to confirm.
async function bulkAct(label, path, body) {
  let preview;
  try {
    preview = await api("POST", path, { ...body, dryRun: true });
  } catch (error) {
    notice(label + " failed: " + error.message, true);
    return;
  }
  const summary = label + ": " + dryRunSummary(preview);
  if (preview.until === undefined) {
    notice(label + ": nothing to do; " + dryRunSummary(preview), false);
    return;
  }
  if (!confirm(summary + ". Go ahead?")) {
    notice(label + ": not done; " + dryRunSummary(preview), false);
    return;
  }
  await act(label, "POST", path, { ...body, until: preview.until });
}
// A discard is never undone (a replay asked later answers "already"): it asks first, as the bulk
// buttons do, naming the dead letter; declined, it says so and sends nothing. The same question
// takes the operator's note of why, optional as the API's is, for the journal; the admin port
// checks it (one line, at most 200 characters) and says what it refused.
async function discardOne(d) {
  const label = "discard " + d.id;
  const note = prompt(label + " (" + d.backend + ", " + d.reason + "): never to be replayed. " +
    "Why? (optional, kept in the journal) OK discards it.", "");
  if (note === null) {
    notice(label + ": not done", false);
    return;
  }
  await act(label, "POST", "/admin/dead-letters/" + seg(d.id) + "/discard",
    note.trim() ? { note: note } : undefined);
}
async function act(label, method, path, body) {
  try {
    const result = await api(method, path, body);
    let text = label + ": done";
    if (result.replayed) text = label + ": " + bulkSummary(result);
    if (result.redelivered) text = label + ": " + result.redelivered.filter((r) => r.result === "redelivered").length + " redelivered" + (result.skipped && result.skipped.length ? ", " + result.skipped.length + " skipped (" + result.skipped[0].reason + ")" : "") + moreNote(result);
    if (result.result) text = label + ": " + result.result + (result.replayedAs ? " as " + result.replayedAs : "") + (result.warning ? " (" + result.warning + ")" : "");
    notice(text, false);
  } catch (error) {
    notice(label + " failed: " + error.message, true);
  }
  // After the poll that may be under way (it may have read the state from before the action).
  await polling;
  await poll();
}
// Through the CSSOM: a style attribute is inline style, which the page's policy refuses.
function barFill(share) {
  const fill = el("div", {});
  fill.style.width = share.toFixed(1) + "%";
  return fill;
}
function backendCard(b) {
  const depth = b.queue.depth;
  const share = depth === null ? 0 : Math.min(100, (depth / b.queue.highWater) * 100);
  // Where the client share starts to hold a client back, as the adapter computes it.
  const shareMark = Math.ceil(b.queue.highWater * b.queue.clientShare);
  const failing = b.recentFailures.length > 0 && serverNow() - b.recentFailures[0].at < 60000;
  const badges = el("span", {},
    el("span", { class: "badge" + (b.paused ? " paused" : ""), "data-testid": "paused-" + b.name }, b.paused ? "paused" : "running"), " ",
    b.window.configured ? el("span", { class: "badge" + (b.window.open ? "" : " closed") }, b.window.open ? "window open" : "window closed") : null, " ",
    failing ? el("span", { class: "badge failing" }, "failing") : null);
  const reasons = Object.entries(b.deadLetters);
  // What the SluiceNoConsumers alert pages for: workers let go of a paused backend's queue, or
  // one outside its service windows, on purpose; a running one nobody consumes only fills up.
  const unserved = !b.paused && (!b.window.configured || b.window.open) && b.queue.consumers === 0;
  return el("section", { class: "backend", "data-testid": "backend-" + b.name },
    el("h3", {}, el("span", {}, b.name), badges),
    unserved ? el("div", { class: "unserved", "data-testid": "no-consumers-" + b.name },
      el("strong", {}, "No worker consumes " + b.name + "'s queue."),
      " It is running and its window is open, yet nothing takes its messages: they wait until the adapter answers 503 at the high-water mark. " +
      "Start a worker that serves it (sluice worker --config FILE, or sluice worker --backends " + b.name + " --config FILE) or find why it is not ready (its /readyz and log). " +
      "Runbook: docs/operations.md, SluiceNoConsumers.") : null,
    el("div", {}, "queue ", el("strong", { "data-testid": "depth-" + b.name }, depth === null ? "?" : depth), " of high-water mark " + b.queue.highWater + " (max " + b.queue.maxLength + ")",
      // The monitor asks the broker every few seconds: an older figure is a broker not answering.
      b.queue.sampledAt && serverNow() - Date.parse(b.queue.sampledAt) > STALE_SAMPLE_MS
        ? el("span", { class: "stale", "data-testid": "sampled-" + b.name }, ", as of " + when(b.queue.sampledAt)) : null),
    el("div", { class: "bar" + (depth !== null && depth >= b.queue.highWater ? " over" : "") }, barFill(share)),
    // A red bar alone does not say that callers are being turned away.
    depth !== null && depth >= b.queue.highWater ? el("div", { class: "unserved", "data-testid": "high-water-" + b.name },
      el("strong", {}, "New requests for " + b.name + " are refused (503 Busy)"),
      ": its queue is at its high-water mark; the adapter takes them again as soon as it is below the mark. Runbook: docs/operations.md, SluiceQueueAboveHighWater.") : null,
    // Below the mark but past the client share's: callers may be refused for their share.
    depth !== null && depth < b.queue.highWater && b.queue.clientShare < 1 && depth >= shareMark
      ? el("div", { class: "shared", "data-testid": "client-share-" + b.name },
        el("strong", {}, "The rest of " + b.name + "'s backlog is kept for other clients"),
        ": past " + shareMark + " queued, a client that sent more than " + Math.round(b.queue.clientShare * 100) +
        " % of the recent intake is refused (503 Busy) while others call. docs/backpressure.md, One client's flood.") : null,
    el("dl", {},
      el("dt", {}, "drain rate"), el("dd", {}, b.queue.drainRate === null ? "–" : b.queue.drainRate.toFixed(1) + " msg/s"),
      el("dt", {}, "consumers"), el("dd", { "data-testid": "consumers-" + b.name }, b.queue.consumers === null ? "?" : b.queue.consumers),
      el("dt", {}, "in flight"), el("dd", { "data-testid": "inflight-" + b.name }, b.inFlight + " of " + b.maxInFlight),
      el("dt", {}, "rate limit"), el("dd", {}, rateText(b.rate)),
      el("dt", {}, "paused"), el("dd", {}, b.paused ? "since " + when(b.pausedSince) : "no"),
      el("dt", {}, "service window"), el("dd", {}, !b.window.configured ? "always open" : (b.window.open ? "open, closes " : "closed, opens ") + when(b.window.nextChange)),
      el("dt", {}, "dead letters"), el("dd", {}, reasons.length === 0 ? "none" : el("ul", {}, ...reasons.map(([reason, count]) =>
        el("li", { "data-item": "reason " + reason }, reason + ": " + count + " ", el("button", { "data-testid": "replay-" + b.name + "-" + reason, "data-key": "replay-reason " + b.name + " " + reason, "data-group": "replay-reason", "aria-label": "Replay " + b.name + "'s dead letters of " + reason, onclick: () => bulkAct("replay " + reason, "/admin/dead-letters/replay", { backend: b.name, reason }) }, "replay")))))),
    el("button", { "data-testid": (b.paused ? "resume-" : "pause-") + b.name, "data-key": "pause-resume " + b.name, "data-group": "pause-resume", "aria-label": (b.paused ? "Resume " : "Pause ") + b.name, onclick: () => act((b.paused ? "resume " : "pause ") + b.name, "POST", "/admin/backends/" + seg(b.name) + (b.paused ? "/resume" : "/pause")) }, b.paused ? "Resume" : "Pause"),
    b.recentFailures.length === 0 ? null : el("div", {}, el("h4", {}, "recent failures"), el("ul", {}, ...b.recentFailures.slice(0, 5).map((f) =>
      // The backend's words in a bdi: a right-to-left override in them showed the outcome after
      // them reversed ("dead-lettered" as "derettel-daed"), or any text as another.
      el("li", { "data-testid": "failure-" + f.id }, when(f.failedAt) + ", message " + f.id + ", attempt " + f.attempt + ": ", el("bdi", {}, f.error), " → " + f.outcome)))));
}
async function refresh() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("no answer in " + POLL_TIMEOUT_MS / 1000 + " s")), POLL_TIMEOUT_MS);
  try {
    const [status, dead] = await Promise.all([
      api("GET", "/admin/status", undefined, controller.signal),
      api("GET", "/admin/dead-letters?limit=50&replayed=no", undefined, controller.signal),
    ]);
    serverAhead = Date.parse(status.generatedAt) - Date.now();
    // UTC like every other time on the page and in the logs, whatever the viewer's zone.
    lastUpdated = new Date(status.generatedAt).toISOString().slice(11, 19) + " UTC";
    setText($("meta"), "instance " + status.instance + ", updated " + lastUpdated);
    setClass($("meta"), "");
    setClass($("backends"), "backends");
    setClass($("figures"), "");
    for (const badge of document.querySelectorAll("h2 .stale-badge")) if (!badge.hidden) badge.hidden = true;
    updateList($("backends"), status.backends.map(backendCard));
    const broker = $("broker");
    const reached = !status.broker || status.broker.connected;
    if (broker.hidden !== reached) broker.hidden = reached;
    setText(broker, reached ? "" : "RabbitMQ is out of reach from instance " + status.instance +
      ": the queue figures below are the last ones it gave (each says as of when), and an adapter that cannot reach it answers 503 (broker_down). " +
      "Runbook: docs/operations.md, SluiceRejectingRequests; /readyz names the reason.");
    const callbacks = Object.entries(status.deadCallbacks || {});
    updateList($("dead-callbacks"), [callbacks.length === 0 ? "none" : el("ul", {},
      ...callbacks.map(([reason, count]) => el("li", { "data-item": "reason " + reason }, reason + ": " + count + " ",
        el("button", { "data-testid": "redeliver-callbacks-" + reason, "data-key": "redeliver " + reason, "data-group": "redeliver", "aria-label": "Redeliver dead callbacks of " + reason, onclick: () => bulkAct("redeliver " + reason, "/admin/dead-callbacks/redeliver", { reason }) }, "redeliver"))),
      el("li", { "data-item": "all" }, el("button", { "data-testid": "redeliver-callbacks-all", "data-key": "redeliver-all", "data-group": "redeliver-all", onclick: () => bulkAct("redeliver all", "/admin/dead-callbacks/redeliver", { all: true }) }, "redeliver all")))]);
    // The list is the newest 50; the counts by reason cover them all.
    const deadTotal = Object.values(status.deadLetters || {}).reduce((sum, n) => sum + n, 0);
    setText($("dead-shown"), deadTotal > dead.deadLetters.length
      ? "(newest " + dead.deadLetters.length + " of " + deadTotal + " shown: replay by reason on each backend, or sluice dead-letters list)"
      : "");
    updateList($("dead"), dead.deadLetters.map((d) => el("tr", { "data-testid": "dead-" + d.id },
      el("td", {}, d.ageSeconds + " s"), el("td", {}, d.reason), el("td", {}, d.backend), el("td", {}, d.service),
      el("td", {}, d.client), el("td", {}, d.id), el("td", { class: "error" }, d.error || ""),
      el("td", {},
        el("button", { "data-testid": "replay-" + d.id, "data-key": "replay " + d.id, "data-group": "replay", "aria-label": "Replay dead letter " + short(d.id) + " of " + d.client, onclick: () => act("replay " + d.id, "POST", "/admin/dead-letters/" + seg(d.id) + "/replay") }, "replay"), " ",
        el("button", { "data-testid": "discard-" + d.id, "data-key": "discard " + d.id, "data-group": "discard", "aria-label": "Discard dead letter " + short(d.id) + " of " + d.client, onclick: () => discardOne(d) }, "discard")))));
    // Counts the refreshes shown, for whoever waits for the next one (the browser tests).
    $("meta").dataset.refreshes = String(Number($("meta").dataset.refreshes || 0) + 1);
  } catch (error) {
    // The figures still on the page are as old as the last answer: say so, and since when, so
    // a stuck depth or an empty list is not read as the present.
    setText($("meta"), lastUpdated === null
      ? "not updated: " + error.message
      : "not updated since " + lastUpdated + " (" + error.message + "): the figures below are from then");
    setClass($("meta"), "stale");
    setClass($("backends"), "backends stale-figures");
    setClass($("figures"), "stale-figures");
    for (const badge of document.querySelectorAll("h2 .stale-badge")) if (badge.hidden) badge.hidden = false;
    for (const card of document.querySelectorAll("#backends .backend")) {
      const badges = card.querySelector("h3 > span:last-child");
      if (badges && !badges.querySelector(".stale-badge")) {
        badges.append(" ", el("span", { class: "badge stale-badge", "data-testid": "stale-" + card.dataset.testid.slice("backend-".length) }, "stale"));
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
// One poll at a time, the next a second after the last one ended: a fixed interval sent a new
// pair of requests each second whatever the admin port's pace, and a slow port (a busy Redis or
// broker behind /admin/status) had them pile up, each adding to what made it slow.
const POLL_EVERY_MS = 1000;
/** Queue figures older than this came from a broker that stopped answering. */
const STALE_SAMPLE_MS = 15000;
const POLL_TIMEOUT_MS = 10000;
let polling = null;
/** The server's time of the last status answer shown (HH:MM:SS UTC); null before the first. */
let lastUpdated = null;
let nextPoll;
function poll() {
  clearTimeout(nextPoll);
  if (polling === null) {
    polling = refresh().finally(() => {
      polling = null;
      nextPoll = setTimeout(poll, POLL_EVERY_MS);
    });
  }
  return polling;
}
poll();
`;
