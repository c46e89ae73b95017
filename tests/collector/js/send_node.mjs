// Sends one person's calls with the real @segment/analytics-node client to the collector at
// argv[2] and prints the messageIds the client delivered, as JSON.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 3, flushInterval: 200 })
const delivered = []
const failed = []
const done = (err, ctx) => (err ? failed.push(String(err)) : delivered.push(ctx.event.messageId))
const anonymousId = 'node-anon-1'
const userId = 'u-node-1'
const context = { ip: '198.51.100.20' }

analytics.page({ anonymousId, name: 'Home', properties: { path: '/' }, context }, done)
analytics.track({ anonymousId, event: 'Product Viewed', properties: { product_id: 'sku-1' }, context }, done)
analytics.identify({ anonymousId, userId, traits: { plan: 'pro' }, context }, done)
analytics.alias({ previousId: anonymousId, userId }, done)
analytics.group({ userId, groupId: 'acme', traits: { name: 'Acme' } }, done)
analytics.track({ userId, event: 'Order Completed', properties: { revenue: 42.5 }, context }, done)
await analytics.closeAndFlush({ timeout: 20000 })
console.log(JSON.stringify({ delivered, failed }))
