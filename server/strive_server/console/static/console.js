// The console's only script besides GOV.UK Frontend: it enables GOV.UK's components, on a
// cluster page draws the network from the page's JSON twin. No inline script anywhere.
// (Evidence images are thumbnails blurred on the server: nothing to reveal in the page.)
import { initAll } from './vendor/govuk-frontend/govuk-frontend.min.js'
import { drawGraph } from './console-graph.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
const graph = document.getElementById('graph')
if (graph) {
  drawGraph(graph)
}
