/**
 * The dead-letter API, under the reserved `/api/` prefix:
 *   GET  /api/v1/deadletters?output=&limit=   the newest first (limit 1-10000, default 100), all outputs or one
 *   POST /api/v1/deadletters/replay?output=   put that output's dead letters back in its queue
 * An event is written as its JSON exactly as the outputs send it (int64 fields such as evt.time keep their
 * digits); errors name a peer by its origin only, so no URL path or token reaches the page. A summary (what
 * a full spool dropped for an output) has `events`, the count, instead of an event.
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { type DeadLetter, Dispatcher } from "@sidekick/delivery"
import { eventJson } from "@sidekick/event"
import { Effect } from "effect"

const json = (body: string, status = 200) => HttpServerResponse.text(body, { status, contentType: "application/json" })

const problem = (status: number, message: string) => json(JSON.stringify({ error: message }) + "\n", status)

/** one dead letter as JSON text; the event is spliced in as written, not re-encoded */
export const deadLetterJson = (l: DeadLetter): string =>
  `{"id":${l.id},"output":${JSON.stringify(l.output)},"reason":${JSON.stringify(l.reason)},` +
  `"at":${JSON.stringify(new Date(l.at).toISOString())},` +
  (l.status === undefined ? "" : `"status":${l.status},`) +
  `"error":${JSON.stringify(l.error)},"attempts":${l.attempts},` +
  (l.envelope === undefined
    ? `"events":${l.summary?.events ?? 0}}`
    : `"acceptedat":${JSON.stringify(new Date(l.envelope.acceptedAt).toISOString())},` +
      `"event":${eventJson(l.envelope.event)}}`)

const query = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://sidekick").searchParams

/** the `output` parameter: an enabled output's name, or a reason to refuse the request */
const outputParam = (dispatcher: Dispatcher["Type"], value: string | null) =>
  value === null || value === "" || dispatcher.outputs.includes(value)
    ? { ok: true as const, output: value === null || value === "" ? undefined : value }
    : { ok: false as const, message: `unknown output "${value}": expected one of ${dispatcher.outputs.join(", ") || "(none enabled)"}` }

export const list = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const dispatcher = yield* Dispatcher
  if (request.method !== "GET") return problem(405, "use GET")
  const params = query(request)
  const output = outputParam(dispatcher, params.get("output"))
  if (!output.ok) return problem(400, output.message)
  const limitText = params.get("limit")
  const limit = limitText === null ? 100 : /^\d{1,5}$/.test(limitText) ? Number(limitText) : NaN
  if (!(limit >= 1 && limit <= 10_000)) return problem(400, `limit must be an integer from 1 to 10000, not ${JSON.stringify(limitText)}`)
  const letters = dispatcher.deadLetters.list({ output: output.output, limit })
  return json(`{"total":${dispatcher.deadLetters.size()},"deadletters":[${letters.map(deadLetterJson).join(",")}]}\n`)
})

export const replay = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const dispatcher = yield* Dispatcher
  if (request.method !== "POST") return problem(405, "use POST")
  const output = outputParam(dispatcher, query(request).get("output"))
  if (!output.ok) return problem(400, output.message)
  if (output.output === undefined) return problem(400, "output is required: the output whose dead letters go back in its queue")
  const result = dispatcher.replay(output.output)!
  return json(`{"replayed":${result.replayed},"left":${result.left}}\n`)
})
