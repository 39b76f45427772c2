// The console's only script besides GOV.UK Frontend: it enables GOV.UK's components, on a
// cluster page draws the network from the page's JSON twin, and on a referral page reveals a
// blurred image when the analyst asks (analyst wellbeing). No inline script anywhere.
import { initAll } from './vendor/govuk-frontend/govuk-frontend.min.js'
import { drawGraph } from './console-graph.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
const graph = document.getElementById('graph')
if (graph) {
  drawGraph(graph)
}

// "Reveal" shows a blurred image; pressed again, blurs it again.
for (const button of document.querySelectorAll('[data-strive-reveal]')) {
  button.addEventListener('click', () => {
    const image = document.getElementById(button.dataset.striveReveal)
    if (!image) return
    const blurred = image.classList.toggle('strive-blurred')
    button.firstChild.textContent = blurred ? 'Reveal' : 'Blur'
    image.alt = image.alt.replace(blurred ? 'revealed' : 'blurred', blurred ? 'blurred' : 'revealed')
  })
}
