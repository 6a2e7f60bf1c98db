/**
 * `processes` > 1: a primary process forks that many Sidekick processes sharing the listening port
 * (node:cluster), which is how one Node service uses several cores. Each process has its own queues,
 * breakers and workers. The primary only supervises: it forwards SIGTERM and waits for every process to
 * drain, stops everything when a process fails to start, restarts one that dies later, and answers the
 * processes' requests for the service-wide /metrics and /debug/vars.
 */
import cluster, { type Worker } from "node:cluster"
import { randomUUID } from "node:crypto"
import { Data, Effect, Runtime } from "effect"
import * as Prom from "prom-client"

export class ClusterError extends Data.TaggedError("ClusterError")<{ readonly message: string }> {}

type Topic = "metrics" | "vars"

interface Ask {
  readonly type: "sidekick:ask"
  readonly topic: Topic
  readonly id: string
}
interface Answer {
  readonly type: "sidekick:answer"
  readonly id: string
  readonly value?: unknown
  readonly error?: string
}
interface VarsRequest {
  readonly type: "sidekick:vars?"
  readonly id: string
}
interface VarsReply {
  readonly type: "sidekick:vars!"
  readonly id: string
  readonly vars: Record<string, unknown>
}
const ready = { type: "sidekick:ready" } as const

const isMessage = <T extends { type: string }>(type: T["type"]) => (m: unknown): m is T =>
  typeof m === "object" && m !== null && (m as { type?: unknown }).type === type

// ---- in a process of the cluster -------------------------------------------------------------------

/** ask the primary for the service-wide /metrics text or /debug/vars object */
export const askPrimary = (topic: Topic) =>
  Effect.async<unknown>((resume) => {
    const id = randomUUID()
    const onMessage = (m: unknown) => {
      if (!isMessage<Answer>("sidekick:answer")(m) || m.id !== id) return
      process.off("message", onMessage)
      resume(m.error === undefined ? Effect.succeed(m.value) : Effect.die(new Error(m.error)))
    }
    process.on("message", onMessage)
    process.send!({ type: "sidekick:ask", topic, id } satisfies Ask)
    return Effect.sync(() => process.off("message", onMessage))
  })

/** answer the primary's requests for this process's /debug/vars */
export const answerVarsRequests = (vars: () => Record<string, unknown>) => {
  process.on("message", (m: unknown) => {
    if (isMessage<VarsRequest>("sidekick:vars?")(m)) process.send!({ type: "sidekick:vars!", id: m.id, vars: vars() } satisfies VarsReply)
  })
}

/** tell the primary this process is serving */
export const signalReady = Effect.sync(() => {
  if (cluster.isWorker) process.send!(ready)
})

// ---- in the primary ----------------------------------------------------------------------------------

/** numbers add up, objects merge key by key, anything else keeps the first value */
const sum = (a: unknown, b: unknown): unknown => {
  if (typeof a === "number" && typeof b === "number") return a + b
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) }
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? sum(out[k], v) : v
    return out
  }
  return a ?? b
}

const startFailure = new ClusterError({ message: "a Sidekick process failed to start (see its error above); stopped the others" })

const living = (): Array<Worker> => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())

/** the /debug/vars of every process, summed */
const gatherVars = (): Promise<Record<string, unknown>> =>
  new Promise((resolve) => {
    const workers = living()
    const id = randomUUID()
    let merged: unknown = {}
    let pending = workers.length
    if (pending === 0) return resolve({})
    const timer = setTimeout(finish, 5000)
    function finish() {
      clearTimeout(timer)
      cluster.off("message", onMessage)
      resolve(merged as Record<string, unknown>)
    }
    function onMessage(_: Worker, m: unknown) {
      if (!isMessage<VarsReply>("sidekick:vars!")(m) || m.id !== id) return
      merged = sum(merged, m.vars)
      if (--pending === 0) finish()
    }
    cluster.on("message", onMessage)
    for (const w of workers) w.send({ type: "sidekick:vars?", id } satisfies VarsRequest)
  })

/**
 * Run `processes` Sidekick processes until interrupted (SIGTERM/SIGINT), then stop them and wait for
 * each to drain. Fails when a process exits before it served, which is a start-up error it has logged.
 */
export const runPrimary = (processes: number): Effect.Effect<void, ClusterError> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
  Effect.async<void, ClusterError>((resume) => {
    const log = Runtime.runFork(runtime)
    const aggregator = new Prom.AggregatorRegistry()
    const serving = new Set<number>()
    const alive = new Set<number>()
    // each process keeps its index across restarts, so it gets its own spool directory back
    const indexOf = new Map<number, number>()
    const fork = (index: number) => {
      const worker = cluster.fork({ SIDEKICK_PROCESS_INDEX: String(index) })
      indexOf.set(worker.id, index)
      alive.add(worker.id)
    }
    let stopping = false
    let onAllExited: (() => void) | undefined

    // One SIGTERM per process: a second one would kill it before it drained (Node's default action,
    // once Effect's runMain has taken its handler off after the first)
    const signalled = new Set<number>()
    const stopAll = () => {
      stopping = true
      for (const w of living()) {
        if (signalled.has(w.id)) continue
        signalled.add(w.id)
        w.process.kill("SIGTERM")
      }
    }
    const onMessage = (worker: Worker, m: unknown) => {
      if (isMessage<typeof ready>("sidekick:ready")(m)) serving.add(worker.id)
      if (!isMessage<Ask>("sidekick:ask")(m)) return
      const answer = (value: Promise<unknown>) =>
        value.then(
          (v) => worker.send({ type: "sidekick:answer", id: m.id, value: v } satisfies Answer),
          (e: Error) => worker.send({ type: "sidekick:answer", id: m.id, error: e.message } satisfies Answer)
        )
      void answer(m.topic === "metrics" ? aggregator.clusterMetrics() : gatherVars())
    }
    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      alive.delete(worker.id)
      if (stopping) {
        if (alive.size === 0) {
          cluster.off("message", onMessage)
          cluster.off("exit", onExit)
          if (onAllExited) onAllExited()
          else resume(Effect.fail(startFailure))
        }
        return
      }
      if (!serving.has(worker.id)) {
        stopAll()
        if (alive.size === 0) resume(Effect.fail(startFailure))
        return
      }
      serving.delete(worker.id)
      log(Effect.logError(`process ${worker.process.pid} exited (${signal ?? code}); starting another`))
      fork(indexOf.get(worker.id) ?? 0)
    }
    cluster.on("message", onMessage)
    cluster.on("exit", onExit)
    for (let i = 0; i < processes; i++) fork(i)

    // interrupted (SIGTERM): stop every process, and wait until each has drained and exited
    return Effect.async<void>((done) => {
      onAllExited = () => done(Effect.void)
      stopAll()
      if (alive.size === 0) done(Effect.void)
    })
  }))
