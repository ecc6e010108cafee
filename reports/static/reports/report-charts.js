/* databus report pages: draws the charts the page describes, with the vendored Chart.js.
 *
 * The server puts the charts in <script type="application/json" id="report-charts">
 * (reports/page_charts.py, Chart.as_json): a list of {key, title, kind ("bar" | "line"),
 * labels, series: [{label, values, color}], stacked, yTitle, yMax}. Each is drawn into
 * <canvas id="chart-<key>">; a chart without data has no canvas (the page says so).
 * Nothing is fetched: the data came with the page, and the page makes no other request.
 */
(function () {
  "use strict";

  const PALETTE = ["#1e88e5", "#ef6c00", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#546e7a"];
  const source = document.getElementById("report-charts");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  const charts = JSON.parse(source.textContent);

  function datasets(chart) {
    return chart.series.map(function (series, index) {
      const color = series.color || PALETTE[index % PALETTE.length];
      return {
        label: series.label,
        data: series.values,
        backgroundColor: chart.kind === "line" ? color + "33" : color,
        borderColor: color,
        borderWidth: chart.kind === "line" ? 2 : 0,
        pointRadius: chart.kind === "line" ? 2 : 0,
        spanGaps: false,
        fill: false,
      };
    });
  }

  function options(chart) {
    const y = { beginAtZero: true, stacked: chart.stacked, title: { display: !!chart.yTitle, text: chart.yTitle } };
    if (chart.yMax !== null && chart.yMax !== undefined) {
      y.max = chart.yMax;
    }
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // a report is read, not watched; and a screenshot shows it whole
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: { x: { stacked: chart.stacked }, y: y },
    };
  }

  charts.forEach(function (chart) {
    const canvas = document.getElementById("chart-" + chart.key);
    if (!canvas) {
      return;
    }
    new Chart(canvas, {
      type: chart.kind,
      data: { labels: chart.labels, datasets: datasets(chart) },
      options: options(chart),
    });
  });
})();
