// Drive Glint with the official Segment Node library (@segment/analytics-node), unchanged.
//
//   GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=wk_test GLINT_N=50 GLINT_PREFIX=run1 \
//     node tests/clients/segment_node.mjs
//
// Sends: identify(<prefix>-u1, {birthday, tier}); N x track "Product Viewed"
// {product_id: "p<i>", price: 10+i} with messageId "<prefix>-m<i>" (i = 0..N-1);
// track "Order Completed" {revenue: 42}; page "Home". Then closeAndFlush().
// Prints a final line {"sent": N+3} and exits 0 only if the library reported no
// delivery error. (analytics-node has no gzip option: bodies are plain JSON.)
//
// Optional: GLINT_FLUSH_AT (batch size, default 10), GLINT_MAX_RETRIES (library
// default 10), GLINT_TIMEOUT_MS (closeAndFlush budget, default 30000).
import { Analytics } from '@segment/analytics-node'

const env = process.env
const url = env.GLINT_URL
const key = env.GLINT_KEY
if (!url || !key) {
  console.error('segment_node: GLINT_URL and GLINT_KEY are required')
  process.exit(2)
}
const n = Number.parseInt(env.GLINT_N ?? '50', 10)
const prefix = env.GLINT_PREFIX || 'segnode'
const flushAt = Number.parseInt(env.GLINT_FLUSH_AT ?? '10', 10)
const timeout = Number.parseInt(env.GLINT_TIMEOUT_MS ?? '30000', 10)
const userId = `${prefix}-u1`

const analytics = new Analytics({
  writeKey: key,
  host: url, // path defaults to /v1/batch
  flushAt,
  flushInterval: 200,
  ...(env.GLINT_MAX_RETRIES ? { maxRetries: Number.parseInt(env.GLINT_MAX_RETRIES, 10) } : {}),
})

const errors = []
analytics.on('error', (err) => {
  errors.push(err)
  console.error(`segment_node: delivery error: ${err?.code ?? ''} ${err?.reason?.message ?? err?.reason ?? err}`)
})

let handed = 0
let completed = 0
let failedCallbacks = 0
const cb = (err) => {
  completed++
  if (err) failedCallbacks++
}

analytics.identify({ userId, traits: { birthday: '1990-05-01', tier: 'gold' } }, cb)
handed++
for (let i = 0; i < n; i++) {
  analytics.track(
    {
      userId,
      event: 'Product Viewed',
      properties: { product_id: `p${i}`, price: 10 + i },
      messageId: `${prefix}-m${i}`,
    },
    cb,
  )
  handed++
}
analytics.track(
  { userId, event: 'Order Completed', properties: { order_id: `${prefix}-o1`, revenue: 42, currency: 'USD' } },
  cb,
)
handed++
analytics.page({ userId, name: 'Home', properties: { path: '/', url: 'https://shop.example/' } }, cb)
handed++

await analytics.closeAndFlush({ timeout })
// On timeout closeAndFlush() aborts the in-flight retries and returns at once; the
// failures reach the callbacks a moment later. Wait for every callback (bounded).
const graceEnd = Date.now() + 5000
while (completed < handed && Date.now() < graceEnd) await new Promise((r) => setTimeout(r, 20))

const undelivered = Math.max(errors.length, failedCallbacks) + (handed - completed)
if (undelivered) {
  if (completed < handed) console.error(`segment_node: ${handed - completed} messages never completed`)
  console.log(JSON.stringify({ sent: handed, delivery_errors: undelivered }))
  process.exit(1)
}
console.log(JSON.stringify({ sent: handed }))
