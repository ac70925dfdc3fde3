// powbroker status page: fills the pages from the JSON API, draws the charts as inline
// SVG and follows the Server-Sent Events stream (/v1/stream). No dependencies.
"use strict";
(function () {
  const page = document.body.dataset.page;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const TOKEN_KEY = "powbroker.token.";

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function num(v) {
    if (!isFinite(v) || v === 0) return String(v);
    const a = Math.abs(v);
    for (const [f, s] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) if (a >= f) return +(v / f).toPrecision(4) + s;
    return String(+v.toPrecision(4));
  }
  const rate = (v) => num(v) + "H/s";
  const pct = (p) => (Math.min(1, p) * 100).toFixed(1) + "%";
  function when(t) { return t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "—"; }
  function dur(s) {
    if (!isFinite(s) || s < 0) return "—";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " days";
  }
  function age(t) { return dur((Date.now() - new Date(t).getTime()) / 1000); }
  async function api(path, token) {
    const h = { Accept: "application/json" };
    if (token) h.Authorization = "Bearer " + token;
    const r = await fetch(path, { headers: h, cache: "no-store" });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.detail || body.title || ("HTTP " + r.status));
    return body;
  }
  function stateBadge(s) { return el("span", { class: "state " + s }, s); }
  function bar(p, mini) {
    const b = el("div", { class: "progress" + (mini ? " mini" : ""), role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": (Math.min(1, p) * 100).toFixed(1) },
      el("div", { class: "bar", style: "width:" + pct(p) }), el("span", {}, pct(p)));
    return b;
  }
  const short = (h) => h ? h.slice(0, 10) + "…" + h.slice(-6) : "";

  // ---- the event stream ----
  const handlers = {};
  function on(type, f) { (handlers[type] = handlers[type] || []).push(f); }
  function connect() {
    if (!window.EventSource) return;
    const es = new EventSource("/v1/stream"); // reconnects by itself, sending Last-Event-ID
    const live = $("live");
    es.onopen = () => { live.textContent = "live"; live.classList.add("on"); };
    es.onerror = () => { live.textContent = "reconnecting"; live.classList.remove("on"); };
    for (const type of ["tip", "block", "order", "stats", "reset"]) {
      es.addEventListener(type, (ev) => {
        let d = {};
        try { d = JSON.parse(ev.data); } catch (e) { return; }
        for (const f of handlers[type] || []) f(d);
      });
    }
    window.powbrokerStream = es;
  }

  // ---- charts ----
  function lineChart(box, minutes) {
    const W = 720, H = 170, L = 64, B = 18, T = 10;
    const vals = minutes.map((m) => m.hashrate);
    const maxV = Math.max(1, ...vals);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "pool hashrate per minute over the last hour, up to " + rate(maxV) });
    s.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    const x = (i) => L + (i / Math.max(1, minutes.length - 1)) * (W - L - 4);
    const y = (v) => H - B - (v / maxV) * (H - B - T);
    const pts = vals.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    s.append(svg("polygon", { class: "area", points: `${x(0)},${H - B} ${pts} ${x(vals.length - 1)},${H - B}` }), svg("polyline", { class: "line", points: pts }));
    const label = (tx, ty, txt, anchor) => { const t = svg("text", { x: tx, y: ty, "text-anchor": anchor || "start" }); t.textContent = txt; s.append(t); };
    label(L - 4, T + 8, rate(maxV), "end"); label(L - 4, H - B, "0", "end");
    label(L, H - 4, "-60 min"); label(W - 2, H - 4, "now", "end");
    box.replaceChildren(s);
  }
  function barChart(box, minutes) {
    const W = 720, H = 150, L = 64, B = 18, T = 10;
    const maxV = Math.max(1, ...minutes.map((m) => m.accepted + m.rejected));
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "accepted and rejected shares per minute over the last hour" });
    s.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }));
    const bw = (W - L - 4) / minutes.length;
    minutes.forEach((m, i) => {
      const x = L + i * bw, ha = (m.accepted / maxV) * (H - B - T), hr = (m.rejected / maxV) * (H - B - T);
      const title = svg("title"); title.textContent = `${new Date(m.start).toISOString().slice(11, 16)} UTC: ${m.accepted} accepted, ${m.rejected} rejected` +
        Object.entries(m.rejected_by || {}).map(([k, v]) => ` (${k}: ${v})`).join("");
      const g = svg("g");
      g.append(title, svg("rect", { class: "acc", x: x + 1, y: H - B - ha, width: Math.max(1, bw - 2), height: ha }),
        svg("rect", { class: "rej", x: x + 1, y: H - B - ha - hr, width: Math.max(1, bw - 2), height: hr }));
      s.append(g);
    });
    const t = svg("text", { x: L - 4, y: T + 8, "text-anchor": "end" }); t.textContent = String(maxV); s.append(t);
    const legend = el("div", { class: "legend" }, el("span", {}, el("i", { class: "", style: "background:var(--chart2)" }), "accepted"),
      el("span", {}, el("i", { style: "background:var(--bad)" }), "rejected (hover a bar for reasons)"));
    box.replaceChildren(s, legend);
  }

  // ---- overview ----
  function overview() {
    let minutes = [];
    const draw = () => { if (minutes.length) { lineChart($("chart-hashrate"), minutes); barChart($("chart-shares"), minutes); } };
    const loadStats = () => api("/v1/stats").then((d) => { minutes = d.minutes; draw(); }).catch(() => {});
    const recent = () => api("/v1/orders?limit=8").then((os) => {
      $("recent-orders").tBodies[0].replaceChildren(...os.map((o) => el("tr", { "data-order": o.id },
        el("td", { class: "hash" }, o.id), el("td", {}, stateBadge(o.state)), el("td", {}, bar(o.progress, true)))));
    }).catch(() => {});
    const status = () => api("/v1/status").then((s) => {
      $("tip-height").textContent = s.tip_height; $("tip-hash").textContent = s.tip_hash; $("tip-time").textContent = when(s.tip_time);
      $("net-diff").textContent = num(s.network_difficulty); $("share-diff").textContent = num(s.share_difficulty);
      $("hashrate").textContent = rate(s.hashrate);
      setOrders(s.orders);
    }).catch(() => {});
    const setOrders = (counts) => {
      for (const tr of $("orders-by-state").tBodies[0].rows) tr.cells[1].textContent = (counts || {})[tr.dataset.state] || 0;
    };
    on("tip", (t) => { $("tip-height").textContent = t.height; $("tip-hash").textContent = t.hash; $("tip-time").textContent = when(t.time); $("net-diff").textContent = num(t.network_difficulty); });
    on("stats", (s) => {
      $("hashrate").textContent = rate(s.hashrate); $("workers").textContent = s.workers;
      $("shares-accepted").textContent = s.shares_accepted; $("shares-rejected").textContent = s.shares_rejected;
      setOrders(s.orders);
      if (minutes.length && s.minute && s.minute.start) {
        const last = minutes[minutes.length - 1];
        if (last.start === s.minute.start) minutes[minutes.length - 1] = s.minute; else { minutes.push(s.minute); minutes.shift(); }
        draw();
      }
    });
    on("block", (b) => { const id = b.accepted ? "blocks-accepted" : "blocks-rejected"; $(id).textContent = +$(id).textContent + 1; });
    on("order", recent);
    on("reset", () => { status(); loadStats(); recent(); });
    loadStats(); recent();
    setInterval(loadStats, 60000);
  }

  // ---- orders ----
  function orders() {
    const body = $("orders").tBodies[0];
    const row = (o) => el("tr", { "data-order": o.id }, el("td", { class: "hash" }, o.id), el("td", { class: "hash", title: o.txid }, short(o.txid)),
      el("td", {}, stateBadge(o.state)), el("td", {}, bar(o.progress, false)), el("td", { title: o.created_at }, age(o.created_at)));
    const load = () => api("/v1/orders?limit=200").then((os) => body.replaceChildren(...os.map(row))).catch(() => {});
    on("order", (o) => {
      const old = body.querySelector(`tr[data-order="${CSS.escape(o.id)}"]`);
      if (old) old.replaceWith(row(o)); else body.prepend(row(o));
    });
    on("reset", load);
    load();
  }

  // ---- one order, for its token holder ----
  function order() {
    const form = $("order-form"), view = $("order-view"), errBox = $("order-error");
    const params = new URLSearchParams(location.search);
    let id = params.get("id") || "", token = "", hashrate = 0, netDiff = 0;
    if (id) { $("order-id").value = id; token = sessionStorage.getItem(TOKEN_KEY + id) || ""; $("order-token").value = token; }
    const fail = (e) => { errBox.textContent = String(e.message || e); errBox.hidden = false; };
    const fact = (dl, k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
    async function show() {
      errBox.hidden = true;
      let o, evs, st;
      try { [o, evs, st] = await Promise.all([api("/v1/orders/" + encodeURIComponent(id), token), api("/v1/orders/" + encodeURIComponent(id) + "/events", token), api("/v1/status")]); }
      catch (e) { fail(e); view.hidden = true; return; }
      hashrate = st.hashrate; netDiff = st.network_difficulty;
      view.hidden = false;
      const p = $("progress");
      p.setAttribute("aria-valuenow", (Math.min(1, o.progress) * 100).toFixed(1));
      $("progress-bar").style.width = pct(o.progress);
      $("progress-text").textContent = pct(o.progress) + " · " + o.state;
      const dl = $("order-facts"); dl.replaceChildren();
      fact(dl, "Order", o.id); fact(dl, "State", stateBadge(o.state)); fact(dl, "Txid", el("span", { class: "mono" }, o.txid));
      fact(dl, "Credited work", num(o.credited_work) + " of " + num(o.required_work) + " work units");
      fact(dl, "Shares", o.shares);
      const left = Math.max(0, o.required_work - o.credited_work) * 4294967296;
      fact(dl, "Expected time to paid", o.state === "working" ? (hashrate > 0 ? dur(left / hashrate) + " at " + rate(hashrate) : "no hashrate yet") : "done");
      fact(dl, "Expected time to a block", hashrate > 0 ? dur(netDiff * 4294967296 / hashrate) + " at the pool's " + rate(hashrate) : "no hashrate yet");
      if (o.paid_at) fact(dl, "Paid", when(o.paid_at));
      if (o.mined_at) fact(dl, "Mined", when(o.mined_at));
      if (o.block_hash) { fact(dl, "Block", el("span", { class: "mono" }, o.block_hash)); fact(dl, "Height", o.height); fact(dl, "Confirmations", o.confirmations); }
      if (o.confirmed_at) fact(dl, "Confirmed", when(o.confirmed_at));
      if (o.reason) fact(dl, "Reason", o.reason);
      $("timeline").replaceChildren(...evs.map((e) => el("li", {}, el("time", { datetime: e.at }, when(e.at)), " ", e.from ? e.from + " → " : "", stateBadge(e.to), " ", e.detail)));
      if (["paid", "mined", "confirmed"].includes(o.state)) showReceipt();
    }
    async function showReceipt() {
      const box = $("receipt");
      try {
        const r = await api("/v1/orders/" + encodeURIComponent(id) + "/receipt", token);
        const text = JSON.stringify(r, null, 2);
        const a = el("a", { class: "button", id: "receipt-download", download: "receipt-" + r.order_id + ".json", href: URL.createObjectURL(new Blob([text + "\n"], { type: "application/json" })) }, "Download receipt");
        box.replaceChildren(el("p", {}, "Signed by ", el("code", { class: "mono wrap" }, r.public_key), ". Check it offline with ", el("code", {}, "powbroker receipt verify receipt-" + r.order_id + ".json"), "."),
          a, el("pre", { id: "receipt-json" }, text));
      } catch (e) { box.replaceChildren(el("p", { class: "bad" }, "Receipt: " + e.message)); }
    }
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      id = $("order-id").value.trim(); token = $("order-token").value.trim();
      sessionStorage.setItem(TOKEN_KEY + id, token);
      history.replaceState(null, "", "/order?id=" + encodeURIComponent(id));
      show();
    });
    let pending = false;
    on("order", (o) => { if (o.id === id && token && !pending) { pending = true; setTimeout(() => { pending = false; show(); }, 100); } });
    on("stats", (s) => { hashrate = s.hashrate; });
    on("reset", () => { if (id && token) show(); });
    if (id && token) show();
  }

  // ---- workers ----
  function workers() {
    const body = $("workers-table").tBodies[0];
    const load = () => api("/v1/workers").then((ws) => {
      if (!ws.length) { body.replaceChildren(el("tr", {}, el("td", { colspan: "8" }, "no Stratum workers connected"))); return; }
      body.replaceChildren(...ws.map((w) => el("tr", {}, el("td", { class: "n" }, w.session), el("td", { class: "hash" }, w.order), el("td", {}, w.suffix || "—"),
        el("td", { class: "n" }, rate(w.hashrate)), el("td", { class: "n" }, num(w.difficulty)), el("td", {}, w.last_share ? age(w.last_share) + " ago" : "—"),
        el("td", {}, Object.entries(w.rejected || {}).map(([k, v]) => k + ": " + v).join(", ") || "none"), el("td", {}, when(w.connected_since)))));
    }).catch(() => {});
    on("stats", load); on("reset", load);
    load(); setInterval(load, 5000);
  }

  // ---- blocks ----
  function blocks() {
    const body = $("blocks").tBodies[0];
    const row = (b) => el("tr", { "data-block": b.hash }, el("td", { class: "n" }, b.height), el("td", { class: "hash", title: b.hash }, b.hash),
      el("td", {}, (b.orders || []).length ? b.orders.join(", ") : "none"),
      el("td", {}, b.accepted ? el("span", { class: "ok" }, "accepted") : el("span", { class: "bad" }, "rejected: " + (b.reason || "?"))), el("td", {}, when(b.found_at)));
    const load = () => api("/v1/blocks").then((bs) => {
      bs.sort((a, b) => b.height - a.height || (a.found_at < b.found_at ? 1 : -1));
      body.replaceChildren(...bs.map(row));
    }).catch(() => {});
    on("block", (b) => { if (!body.querySelector(`tr[data-block="${CSS.escape(b.hash)}"]`)) body.prepend(row(b)); });
    on("reset", load);
    load();
  }

  const pages = { "/": overview, "/orders": orders, "/order": order, "/workers": workers, "/blocks": blocks };
  if (pages[page]) pages[page]();
  connect();
})();
