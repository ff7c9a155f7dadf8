/* SafeTwin dashboard: writes the live payload (values, state, last seen, online counts) into the
 * overview rows that Dash rendered.  Dash re-renders the rows only when the twin changes; doing
 * the two-second refresh here keeps the page fast with thousands of devices.
 * Everything is set with textContent, never as HTML. */
(function () {
  "use strict";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function patchRow(row, d) {
    row.className = "device " + d.health;
    row.dataset.health = d.health;
    const list = el("div", "metric-list");
    if (d.values.length === 0) list.appendChild(el("span", "muted", "no data"));
    for (const [metric, value, unit, secondary] of d.values) {
      const m = el("span", secondary ? "metric secondary" : "metric");
      m.dataset.metric = metric;
      m.append(el("span", "metric-name", metric), el("span", "metric-value", value), el("span", "metric-unit", unit));
      list.appendChild(m);
    }
    const badge = el("span", "badge " + d.health, d.label);
    badge.title = d.fault || d.label;
    const cells = { values: list, health: badge };
    for (const [cls, child] of Object.entries(cells)) {
      const td = row.querySelector("td." + cls);
      if (td) td.replaceChildren(child);
    }
    const age = row.querySelector("td.age");
    if (age) age.textContent = d.age;
  }

  function patch(live) {
    let patched = 0;
    document.querySelectorAll("tr[data-device]").forEach(function (row) {
      const d = live.devices[row.dataset.device];
      if (d) {
        patchRow(row, d);
        patched += 1;
      }
    });
    document.querySelectorAll("[data-count]").forEach(function (node) {
      const text = live.counts[node.dataset.count];
      if (text !== undefined) node.textContent = text;
    });
    document.body.dataset.liveAt = String(live.now);
    return patched;
  }

  // Merged into the namespace: other assets (alert.js) add their own functions to it.
  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.safetwin = Object.assign({}, window.dash_clientside.safetwin, {
    applyLive: function (live) {
      if (!live) return window.dash_clientside.no_update;
      // The rows may have been re-rendered in this same update: patch again once React has drawn them.
      window.requestAnimationFrame(function () { window.setTimeout(function () { patch(live); }, 0); });
      return patch(live);
    },
  });
})();
