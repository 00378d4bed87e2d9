// Draws the report's timeline (faults, replica roles and terms, commit
// indices, the operations named by the failure) as one SVG from DATA, for
// a window of virtual time: the operations (padded) or the whole run.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 1200, LEFT = 160, RIGHT = 10, LANE = 18, GAP = 4;

  function el(name, attrs, parent, text) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function secs(ns) { return (ns / 1e9).toFixed(3) + "s"; }
  function titled(e, text) { el("title", {}, e, text); return e; }
  // fit cuts a label to what a bar of width px holds (about 6.2px a
  // character at 11px), "" if not even a few characters fit; the bar's
  // tooltip has it whole.
  function fit(label, px) {
    const n = Math.floor((px - 4) / 6.2);
    if (n >= label.length) return label;
    return n < 4 ? "" : label.slice(0, n - 1) + "\u2026";
  }

  // witnessWindow pads the operations' span by a fifth of it (at least
  // 200ms) on each side; without operations it is the moment the reason
  // names, or the whole run.
  function witnessWindow() {
    if (DATA.witness === null || DATA.witness.length === 0) return DATA.focused ? DATA.window : [0, DATA.end];
    const pad = Math.max((DATA.window[1] - DATA.window[0]) / 5, 2e8);
    return [Math.max(0, DATA.window[0] - pad), Math.min(DATA.end, DATA.window[1] + pad)];
  }

  // segments turns a replica's samples into [from, to, sample] runs of
  // the same role and term, clipped to [t0, t1].
  function segments(samples, t0, t1) {
    const out = [];
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const from = s[0], to = i + 1 < samples.length ? samples[i + 1][0] : DATA.end;
      if (to < t0 || from > t1) continue;
      const last = out[out.length - 1];
      if (last && last[2][1] === s[1] && last[2][2] === s[2] && last[1] === from) {
        last[1] = to;
        continue;
      }
      out.push([from, to, s]);
    }
    return out.map(function (g) { return [Math.max(g[0], t0), Math.min(g[1], t1), g[2]]; });
  }

  // commitSteps is [from, to, commit] for each sample of a running
  // replica overlapping [t0, t1], clipped to it.
  function commitSteps(samples, t0, t1) {
    const out = [];
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const from = s[0], to = i + 1 < samples.length ? samples[i + 1][0] : DATA.end;
      if (to < t0 || from > t1 || s[2] === 0) continue;
      out.push([Math.max(from, t0), Math.min(to, t1), s[3]]);
    }
    return out;
  }

  // lanesOf packs intervals into as few lanes as keep them apart.
  function lanesOf(items, start, end) {
    const ends = [];
    return items.map(function (it) {
      let l = ends.findIndex(function (e) { return e < start(it); });
      if (l < 0) { l = ends.length; ends.push(0); }
      ends[l] = end(it);
      return l;
    });
  }

  function draw(t0, t1) {
    const chart = document.getElementById("chart");
    chart.textContent = "";
    if (t1 <= t0) t1 = t0 + 1;
    const x = function (t) { return LEFT + (Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0) * (W - LEFT - RIGHT); };
    const svg = el("svg", { width: W, id: "timeline-svg", xmlns: NS }, chart);
    let y = 20;

    // Time axis.
    for (let i = 0; i <= 10; i++) {
      const t = t0 + (t1 - t0) * i / 10;
      el("line", { x1: x(t), x2: x(t), y1: 14, y2: 18, stroke: "#999" }, svg);
      el("text", { x: x(t), y: 11, "text-anchor": "middle" }, svg, secs(t));
    }
    const top = y;

    // Fault episodes, packed into lanes.
    const faults = (DATA.faults || []).filter(function (f) { return f.end >= t0 && f.start <= t1; });
    const fl = lanesOf(faults, function (f) { return f.start; }, function (f) { return f.end; });
    const nf = faults.length ? Math.max.apply(null, fl) + 1 : 1;
    el("text", { x: 4, y: y + 13, "font-weight": "bold" }, svg, "faults");
    faults.forEach(function (f, i) {
      const fy = y + fl[i] * LANE;
      const label = f.name + " " + f.detail;
      const wpx = Math.max(2, x(f.end) - x(f.start));
      const r = el("rect", { x: x(f.start), y: fy, width: wpx, height: LANE - 2, class: "fault fault-episode" }, svg);
      titled(r, label + ": " + secs(f.start) + " to " + secs(f.end));
      const shown = fit(label, wpx);
      if (shown) titled(el("text", { x: x(f.start) + 2, y: fy + 12, class: "fault-label", "data-label": label }, svg, shown), label);
    });
    if (!faults.length) el("text", { x: LEFT + 4, y: y + 13, fill: "#777" }, svg, "no fault episode in this window");
    y += nf * LANE + GAP * 3;

    // Replica roles, with the term written where it changes.
    (DATA.replicas || []).forEach(function (rep) {
      const named = (DATA.named || []).indexOf(rep.id) >= 0;
      el("text", named ? { x: 4, y: y + 13, class: "named" } : { x: 4, y: y + 13 }, svg, "replica " + rep.id + (named ? " (named)" : ""));
      let lastTerm = -1;
      segments(rep.samples, t0, t1).forEach(function (g) {
        const s = g[2], role = DATA.roles[s[1]] || "unknown";
        const r = el("rect", { x: x(g[0]), y: y, width: Math.max(1, x(g[1]) - x(g[0])), height: LANE - 2, class: role + " role-" + role }, svg);
        titled(r, "replica " + rep.id + " " + role + " term " + s[2] + " from " + secs(g[0]) + " (commit " + s[3] + ", rev " + s[4] + ")");
        if (s[2] !== lastTerm && s[2] > 0 && x(g[1]) - x(g[0]) > 14) {
          el("text", { x: x(g[0]) + 2, y: y + 12, fill: role === "leader" ? "#fff" : "#222" }, svg, "t" + s[2]);
        }
        lastTerm = s[2];
      });
      y += LANE + GAP;
    });
    y += GAP * 2;

    // Commit index of each replica (one step line each, from every
    // sample: the role segments above merge samples of one term).
    const CH = 90;
    const steps = (DATA.replicas || []).map(function (rep) { return commitSteps(rep.samples, t0, t1); });
    let lo = Infinity, hi = -Infinity;
    steps.forEach(function (st) { st.forEach(function (p) { lo = Math.min(lo, p[2]); hi = Math.max(hi, p[2]); }); });
    if (lo <= hi) {
      if (hi === lo) hi = lo + 1;
      const cy = function (c) { return y + CH - (c - lo) / (hi - lo) * CH; };
      el("text", { x: 4, y: y + 13 }, svg, "commit index");
      el("text", { x: 4, y: y + 27, fill: "#777" }, svg, lo + " to " + hi);
      const colours = ["#1b6", "#27c", "#c52", "#93c", "#b90", "#2aa", "#c3a"];
      steps.forEach(function (st, k) {
        if (!st.length) return;
        // A step line, broken where the replica was down.
        let d = "", prevTo = -1;
        st.forEach(function (p) {
          d += (p[0] === prevTo ? " V" + cy(p[2]) : " M" + x(p[0]) + "," + cy(p[2])) + " H" + x(p[1]);
          prevTo = p[1];
        });
        const id = DATA.replicas[k].id;
        titled(el("path", { d: d.trim(), fill: "none", stroke: colours[k % colours.length], "stroke-width": 1.5 }, svg),
          "replica " + id + " commit index");
        const last = st[st.length - 1];
        el("text", { x: x(last[1]) - 4, y: cy(last[2]) - 2, "text-anchor": "end", fill: colours[k % colours.length] }, svg, String(id));
      });
      y += CH + GAP * 3;
    }

    // The operations named by the failure, one lane each, and their
    // call and return marked across the whole chart.
    (DATA.witness || []).forEach(function (op) {
      if (op["return"] < t0 || op.call > t1) { return; }
      const label = "op " + op.index + " client " + op.client + ": " + op.input + " -> " + op.output;
      el("text", { x: 4, y: y + 13, class: "op-name" }, svg, "op " + op.index);
      const r = el("rect", { x: x(op.call), y: y, width: Math.max(2, x(op["return"]) - x(op.call)), height: LANE - 2, class: "op witness-bar" }, svg);
      titled(r, label + " (" + secs(op.call) + " to " + (op.never ? "never returned" : secs(op["return"])) + (op.replica ? ", " + op.replica : "") + ")");
      el("text", { x: x(op.call) + 2, y: y + 12, class: "op-label" }, svg, label);
      [op.call, op["return"]].forEach(function (t) {
        el("line", { x1: x(t), x2: x(t), y1: top, y2: y, stroke: "#d9a400", "stroke-dasharray": "3,3" }, svg);
      });
      y += LANE + GAP;
    });
    svg.setAttribute("height", y + 6);
    document.getElementById("window-label").textContent = "showing " + secs(t0) + " to " + secs(t1);
  }

  // The page opens on the operations, or on the whole run if its address
  // ends in #all.
  const w = witnessWindow();
  document.getElementById("zoom-witness").addEventListener("click", function () { draw(w[0], w[1]); });
  document.getElementById("zoom-all").addEventListener("click", function () { draw(0, DATA.end); });
  if (location.hash === "#all") draw(0, DATA.end); else draw(w[0], w[1]);
  document.body.setAttribute("data-rendered", "true");
})();
