// Drive Glint with the official PostHog Node library (posthog-node), unchanged.
//
//   GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=phc_test GLINT_N=50 GLINT_PREFIX=run1 \
//     node tests/clients/posthog_node.mjs
//
// Sends: identify(<prefix>-u1, {birthday, tier}) (a "$identify" event); N x capture
// "Product Viewed" {product_id: "p<i>", price: 10+i} (i = 0..N-1); capture
// "Order Completed" {revenue: 42}; capture "$pageview". Then shutdown().
//
// posthog-node only accepts a real UUID as an event's uuid (anything else is silently
// replaced by a random UUIDv7), so the message id "<prefix>-m<i>" is sent as
// uuid5(NAMESPACE_URL, "<prefix>-m<i>") -- the same value Python's
// uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-m{i}") gives.
//
// gzip is on (the library's default; disableCompression is not set).
// Prints a final line {"sent": N+3} and exits 0 only if the library emitted no 'error'
// and reported (via its 'flush' event) every message as sent.
//
// Optional: GLINT_FLUSH_AT (default 10), GLINT_MAX_RETRIES (fetchRetryCount, library
// default 3), GLINT_RETRY_DELAY_MS (fetchRetryDelay, library default 3000),
// GLINT_TIMEOUT_MS (shutdown budget, default 30000). POSTHOG_CAPTURE_MODE=v1 is read by
// the library itself and switches it to its newer POST /i/v1/analytics/events protocol.
import { createHash } from 'node:crypto'
import { PostHog } from 'posthog-node'

const env = process.env
const url = env.GLINT_URL
const key = env.GLINT_KEY
if (!url || !key) {
  console.error('posthog_node: GLINT_URL and GLINT_KEY are required')
  process.exit(2)
}
const n = Number.parseInt(env.GLINT_N ?? '50', 10)
const prefix = env.GLINT_PREFIX || 'phnode'
const flushAt = Number.parseInt(env.GLINT_FLUSH_AT ?? '10', 10)
const timeout = Number.parseInt(env.GLINT_TIMEOUT_MS ?? '30000', 10)
const distinctId = `${prefix}-u1`

// RFC 4122 name-based UUID, version 5 (SHA-1), namespace URL.
const NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8'
export function uuid5(name, namespace = NAMESPACE_URL) {
  const h = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(Buffer.from(name, 'utf8'))
    .digest()
  h[6] = (h[6] & 0x0f) | 0x50
  h[8] = (h[8] & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`
}

const client = new PostHog(key, {
  host: url,
  flushAt,
  maxBatchSize: flushAt, // else one flush may send up to 100 queued events in one request
  flushInterval: 200,
  ...(env.GLINT_MAX_RETRIES ? { fetchRetryCount: Number.parseInt(env.GLINT_MAX_RETRIES, 10) } : {}),
  ...(env.GLINT_RETRY_DELAY_MS ? { fetchRetryDelay: Number.parseInt(env.GLINT_RETRY_DELAY_MS, 10) } : {}),
})

const errors = []
let flushed = 0
client.on('flush', (messages) => {
  flushed += Array.isArray(messages) ? messages.length : 0
})
client.on('error', (err) => {
  errors.push(err)
  console.error(`posthog_node: delivery error: ${err?.message ?? err}`)
})

let handed = 0
client.identify({ distinctId, properties: { birthday: '1990-05-01', tier: 'gold' } })
handed++
for (let i = 0; i < n; i++) {
  client.capture({
    distinctId,
    event: 'Product Viewed',
    properties: { product_id: `p${i}`, price: 10 + i },
    uuid: uuid5(`${prefix}-m${i}`),
  })
  handed++
}
client.capture({
  distinctId,
  event: 'Order Completed',
  properties: { order_id: `${prefix}-o1`, revenue: 42, currency: 'USD' },
})
handed++
client.capture({ distinctId, event: '$pageview', properties: { $current_url: 'https://shop.example/', $pathname: '/' } })
handed++

await client.shutdown(timeout)

// A shutdown that times out only logs; so also require every message to have been flushed.
if (errors.length || flushed !== handed) {
  if (flushed !== handed) console.error(`posthog_node: ${handed} messages handed over, ${flushed} flushed`)
  console.log(JSON.stringify({ sent: handed, delivery_errors: errors.length, flushed }))
  process.exit(1)
}
console.log(JSON.stringify({ sent: handed }))
