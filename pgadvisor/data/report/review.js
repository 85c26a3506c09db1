// pgadvisor review: draws the charts from the embedded JSON with uPlot; anomalies are red vertical lines.
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message)); report(); });
  function report() {
    var el = document.getElementById("errors");
    el.textContent = errors.join("\n");
    el.hidden = errors.length === 0;
    document.body.setAttribute("data-errors", String(errors.length));
  }
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var colors = ["#336", "#c60", "#393", "#939", "#c33", "#369"];

  function marker(marks) {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx;
      ctx.save();
      marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.t, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.strokeStyle = m.severity === "high" ? "#c00" : m.severity === "medium" ? "#e80" : "#999";
        ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      });
      ctx.restore();
    }] } };
  }

  function chart(el, title, xs, series, marks, height) {
    var opts = {
      title: title, width: Math.max(300, el.clientWidth || 800), height: height || 240,
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s, i) {
        return { label: s.label, stroke: s.color || colors[i % colors.length], scale: s.scale || "y",
                 spanGaps: false, dash: s.dash, fill: s.fill };
      })),
      axes: [{}].concat(series.some(function (s) { return s.scale === "y2"; })
        ? [{ scale: "y" }, { scale: "y2", side: 1, grid: { show: false } }] : [{}]),
      plugins: marks && marks.length ? [marker(marks)] : [],
      legend: { show: (height || 240) > 150 }
    };
    var u = new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), el);
    el.setAttribute("data-rendered", "1");
    return u;
  }

  try {
    var xs = data.times;
    var all = data.marks.filter(function (m) { return m.t >= xs[0]; });
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart");
      if (kind === "workload") {
        chart(el, "calls/s and exec ms/s", xs, [
          { label: "calls/s", values: data.workload.calls_per_s },
          { label: "exec ms/s", values: data.workload.ms_per_s, scale: "y2" }], all);
      } else if (kind === "template") {
        var key = el.getAttribute("data-key");
        var t = data.templates.filter(function (x) { return x.key === key; })[0];
        if (!t) { return; }
        chart(el, null, xs, [{ label: "calls", values: t.series.calls },
          { label: "mean ms", values: t.series.mean_ms, scale: "y2" }],
          all.filter(function (m) { return m.key === key; }), 100);
      } else if (kind === "metrics" && data.metrics) {
        var names = Object.keys(data.metrics);
        chart(el, "server metrics", xs, names.map(function (n, i) {
          return { label: n, values: data.metrics[n], scale: n === "cache_hit" ? "y2" : "y" };
        }), all.filter(function (m) { return !m.key; }));
      } else if (kind === "forecast" && data.forecast) {
        var f = data.forecast;
        var fx = f.history_t.concat(f.t);
        var pad = function (a, n) { return new Array(n).fill(null).concat(a); };
        var n = f.history_t.length;
        chart(el, "calls per hour: history and forecast", fx, [
          { label: "calls/h", values: f.history.concat(new Array(f.t.length).fill(null)) },
          { label: "forecast", values: pad(f.mean, n), dash: [6, 4] },
          { label: "lower", values: pad(f.lower, n), color: "#aab" },
          { label: "upper", values: pad(f.upper, n), color: "#aab" }], []);
      }
    });
  } catch (e) {
    errors.push(String(e && e.stack || e));
  }
  report();
  document.body.setAttribute("data-charts", String(document.querySelectorAll("[data-rendered]").length));
})();
