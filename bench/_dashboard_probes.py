"""Scripts bench/dashboard.py runs inside the page: when the view became ready, what its loads
and Plotly calls cost, and how long a metric switch takes until every chart has redrawn."""

READY_SCRIPT = """
(() => {
  const bench = window.__bench = { ready: null };
  new MutationObserver(() => {
    if (bench.ready === null && document.body && document.body.dataset.ready) {
      bench.ready = performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-ready"] });
})();
"""

# For the one instrumented load: when plotly.min.js finished evaluating (it ends with
# ``window.Plotly = Plotly``), every Plotly.react call's synchronous time, and long tasks.
BREAKDOWN_SCRIPT = """
(() => {
  const bench = window.__bench;
  bench.react = []; bench.longtasks = []; bench.plotlyAt = null;
  let plotly;
  Object.defineProperty(window, "Plotly", { configurable: true, get: () => plotly, set(v) {
    plotly = v;
    bench.plotlyAt = performance.now();
    const react = v.react;
    v.react = function (gd, ...rest) {
      const t0 = performance.now();
      const out = react.call(this, gd, ...rest);
      bench.react.push({ id: gd.id, start: t0, ms: performance.now() - t0 });
      return out;
    };
  } });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bench.longtasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: "longtask", buffered: true });
})();
"""

# Choose `metric` in #metric-select; resolve when the three charts have redrawn with it.
SWITCH_SCRIPT = """
async ([metric, timeoutMs]) => {
  const ids = ["curves", "lr-plot", "parcoords"];
  const t0 = performance.now();
  const drawn = ids.map((id) => new Promise((resolve) => {
    const gd = document.getElementById(id);
    const handler = () => {
      const title = ((gd.layout || {}).title || {}).text || "";
      if (!title.split(/\\s+/).includes(metric)) return;
      gd.removeListener("plotly_afterplot", handler);
      resolve([id, performance.now() - t0]);
    };
    gd.on("plotly_afterplot", handler);
  }));
  // the synchronous time of each Plotly.react call, while the switch lasts
  const react = Plotly.react, calls = [];
  Plotly.react = function (gd, ...rest) {
    const t = performance.now();
    const out = react.call(this, gd, ...rest);
    calls.push([gd.id, performance.now() - t]);
    return out;
  };
  const select = document.getElementById("metric-select");
  select.value = metric;
  select.dispatchEvent(new Event("change", { bubbles: true }));
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`charts not redrawn with ${metric} in ${timeoutMs} ms`)), timeoutMs);
  });
  let per;
  try {
    per = await Promise.race([Promise.all(drawn), timeout]);
  } finally {
    clearTimeout(timer);
    Plotly.react = react;
  }
  const done = Math.max(...per.map(([, ms]) => ms));
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));  // the next frame
  const painted = performance.now() - t0;
  const query = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/v1/metrics/query") && e.startTime >= t0)[0];
  return { ms: done, painted, react: calls,
           query: query ? { start: query.startTime - t0, end: query.responseEnd - t0 } : null };
}
"""

TIMINGS_SCRIPT = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource").map((e) => ({
    name: e.name, start: e.startTime, responseStart: e.responseStart, end: e.responseEnd,
    size: e.encodedBodySize, transfer: e.transferSize }));
  return { ready: window.__bench.ready, responseEnd: nav.responseEnd,
           domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
           resources: res, react: window.__bench.react || null,
           plotlyAt: window.__bench.plotlyAt ?? null, longtasks: window.__bench.longtasks || null };
}
"""
