// The ops console's own script (no inline script anywhere: the CSP allows files from this origin only).
// Draws the Overview's charts with uPlot from the JSON in each chart's data-series attribute.
(function () {
  'use strict';

  var SERIES = {
    outcomes: [{}, { label: 'accepted', stroke: '#1f5fbf', width: 2 }, { label: 'failed', stroke: '#b3261e', width: 2 }],
    latency: [{}, { label: 'p50 ms', stroke: '#1e7b34', width: 2 }, { label: 'p95 ms', stroke: '#c98a00', width: 2 }],
  };

  function draw(figure) {
    if (figure.dataset.drawn || typeof uPlot === 'undefined') return;
    var data;
    try {
      data = JSON.parse(figure.dataset.series);
    } catch (error) {
      return;
    }
    var series = SERIES[figure.dataset.chart];
    if (!series || !Array.isArray(data)) return;
    figure.dataset.drawn = 'true';
    var width = Math.max(320, figure.clientWidth - 20);
    new uPlot({ width: width, height: 220, series: series, scales: { x: { time: true } } }, data, figure);
  }

  function drawAll(root) {
    var figures = (root || document).querySelectorAll('figure[data-chart]');
    for (var i = 0; i < figures.length; i++) draw(figures[i]);
  }

  document.addEventListener('DOMContentLoaded', function () {
    drawAll(document);
  });
  // Content htmx swaps in may hold charts too.
  document.addEventListener('htmx:afterSettle', function (event) {
    drawAll(event.target);
  });
})();
