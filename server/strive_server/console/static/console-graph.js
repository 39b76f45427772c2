// Draws a cluster's network (GET /console/clusters/{id}/graph.json) as SVG: a small
// force-directed layout, nodes coloured by ASW and sized by degree. Deterministic: the same
// graph is laid out the same way every time.
const SVG = 'http://www.w3.org/2000/svg'
// Okabe-Ito: told apart with the common colour-vision deficiencies.
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442']
const SHARED = '#6f777b'
const SHAPES = { Referral: 'square', ASW: 'diamond' }

function element (name, attributes) {
  const node = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value))
  return node
}

function seeded (seed) {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 4294967296
  }
}

export function layout (nodes, edges, size) {
  const random = seeded(nodes.length * 7919 + edges.length)
  const index = new Map(nodes.map((node, i) => [node.id, i]))
  const x = nodes.map(() => random() * size)
  const y = nodes.map(() => random() * size)
  const links = edges.map((edge) => [index.get(edge.from), index.get(edge.to)])
    .filter(([a, b]) => a !== undefined && b !== undefined)
  const n = nodes.length
  const k = size / Math.sqrt(Math.max(n, 1)) * 0.9
  const iterations = Math.max(15, Math.min(300, Math.floor(2e7 / Math.max(n * n, 1))))
  let temperature = size / 8
  for (let step = 0; step < iterations; step++) {
    const dx = new Float64Array(n)
    const dy = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let ddx = x[i] - x[j]
        let ddy = y[i] - y[j]
        let distance = Math.hypot(ddx, ddy)
        if (distance < 0.01) { ddx = 0.01; ddy = 0; distance = 0.01 }
        const force = (k * k) / distance
        dx[i] += ddx / distance * force; dy[i] += ddy / distance * force
        dx[j] -= ddx / distance * force; dy[j] -= ddy / distance * force
      }
    }
    for (const [a, b] of links) {
      const ddx = x[a] - x[b]
      const ddy = y[a] - y[b]
      const distance = Math.max(Math.hypot(ddx, ddy), 0.01)
      const force = (distance * distance) / k
      dx[a] -= ddx / distance * force; dy[a] -= ddy / distance * force
      dx[b] += ddx / distance * force; dy[b] += ddy / distance * force
    }
    for (let i = 0; i < n; i++) {
      const length = Math.max(Math.hypot(dx[i], dy[i]), 0.01)
      x[i] += dx[i] / length * Math.min(length, temperature)
      y[i] += dy[i] / length * Math.min(length, temperature)
      // Gravity keeps separate components on the canvas.
      x[i] += (size / 2 - x[i]) * 0.01
      y[i] += (size / 2 - y[i]) * 0.01
    }
    temperature *= 0.97
  }
  return nodes.map((node, i) => ({ ...node, x: x[i], y: y[i] }))
}

function fit (placed, size, margin) {
  const xs = placed.map((p) => p.x)
  const ys = placed.map((p) => p.y)
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)]
  const scale = (size - 2 * margin) / Math.max(maxX - minX, maxY - minY, 1)
  return placed.map((p) => ({ ...p, x: margin + (p.x - minX) * scale, y: margin + (p.y - minY) * scale }))
}

function shape (node, colour) {
  const radius = 4 + 2 * Math.sqrt(node.degree)
  const title = element('title', {})
  title.textContent = `${node.type}: ${node.label} (${node.asw}, ${node.degree} links)`
  let drawn
  if (SHAPES[node.type] === 'square') {
    drawn = element('rect', { x: node.x - radius, y: node.y - radius, width: 2 * radius, height: 2 * radius, fill: colour })
  } else if (SHAPES[node.type] === 'diamond') {
    const r = radius + 4
    drawn = element('polygon', { points: `${node.x},${node.y - r} ${node.x + r},${node.y} ${node.x},${node.y + r} ${node.x - r},${node.y}`, fill: colour })
  } else {
    drawn = element('circle', { cx: node.x, cy: node.y, r: radius, fill: colour })
  }
  drawn.setAttribute('data-type', node.type)
  drawn.appendChild(title)
  return drawn
}

export async function drawGraph (container) {
  const status = document.getElementById('graph-status')
  const response = await fetch(container.dataset.src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
  if (!response.ok) {
    status.textContent = 'The network could not be loaded.'
    return
  }
  const graph = await response.json()
  if (graph.summarised) {
    status.textContent = `This cluster holds ${graph.referrals} referrals, more than the ${graph.limit} drawn here.`
    return
  }
  const size = 900
  const placed = fit(layout(graph.nodes, graph.edges, size), size, 30)
  const byId = new Map(placed.map((node) => [node.id, node]))
  const asws = [...new Set(placed.filter((n) => n.type === 'ASW').map((n) => n.asw))].sort()
  const colours = new Map(asws.map((asw, i) => [asw, PALETTE[i % PALETTE.length]]))
  const colourOf = (asw) => colours.get(asw) || SHARED
  const svg = element('svg', {
    viewBox: `0 0 ${size} ${size}`,
    role: 'img',
    'aria-label': `Network of cluster ${graph.cluster_id}: ${placed.length} nodes and ${graph.edges.length} links; the tables on this page list the same referrals.`,
    'data-nodes': placed.length,
    'data-edges': graph.edges.length
  })
  const lines = element('g', {})
  for (const edge of graph.edges) {
    const a = byId.get(edge.from)
    const b = byId.get(edge.to)
    if (a && b) lines.appendChild(element('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y }))
  }
  svg.appendChild(lines)
  const shapes = element('g', {})
  const labels = element('g', {})
  for (const node of placed) {
    shapes.appendChild(shape(node, colourOf(node.asw)))
    if (node.type === 'ASW' || placed.length <= 80) {
      const text = element('text', { x: node.x + 8, y: node.y - 8 })
      text.textContent = node.label.length > 24 ? `${node.label.slice(0, 23)}…` : node.label
      labels.appendChild(text)
    }
  }
  svg.appendChild(shapes)
  svg.appendChild(labels)
  status.textContent = `${placed.length} nodes, ${graph.edges.length} links. Squares are referrals, diamonds ASWs, circles accounts, phone numbers, e-mail addresses and payer names.`
  container.appendChild(svg)
  const legend = document.getElementById('graph-legend')
  for (const [name, colour] of [...colours.entries(), ['seen by several ASWs', SHARED]]) {
    const item = document.createElement('span')
    item.className = 'strive-legend-item govuk-body-s'
    const swatch = element('svg', { width: 14, height: 14, 'aria-hidden': 'true' })
    swatch.appendChild(element('circle', { cx: 7, cy: 7, r: 6, fill: colour }))
    item.appendChild(swatch)
    item.appendChild(document.createTextNode(name))
    legend.appendChild(item)
  }
}
