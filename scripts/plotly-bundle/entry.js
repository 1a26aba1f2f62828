// The trace types the dashboard draws (service/dashboard/static/*.js); a chart of another type
// needs its module here and a rebuilt bundle (the browser tests fail on a trace plotly did not
// draw as its type: tests/dashboard/conftest.py's traces()).
var Plotly = require('plotly.js/lib/core');
Plotly.register([
  require('plotly.js/lib/scatter'),
  require('plotly.js/lib/bar'),
  require('plotly.js/lib/contour'),
  require('plotly.js/lib/parcoords'),
]);
module.exports = Plotly;
