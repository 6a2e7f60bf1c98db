import { makeSource } from "@sidekick/config"
import { Effect, Layer } from "effect"
import { appLayer } from "../src/App.js"
import { readAppConfig } from "../src/AppConfig.js"
import { ServerAddress } from "../src/Server.js"

/** Start the whole app on 127.0.0.1:<random> from a YAML-like tree and an environment; closed with the scope. */
export const startApp = (options: { tree?: Record<string, unknown>; env?: Record<string, string> } = {}) =>
  Effect.gen(function*() {
    const source = makeSource({ tree: options.tree ?? {}, env: options.env ?? {} })
    const config = yield* readAppConfig(source)
    const context = yield* Layer.build(appLayer(config, { port: 0, plainPort: 0, host: "127.0.0.1", defaultMetrics: false }))
    return { address: context.pipe((c) => c.unsafeMap.get(ServerAddress.key) as ServerAddress["Type"]), context }
  })

export interface Reply {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** a plain fetch, so the tests see exactly what Falco or curl would */
export const request = (url: string, init: RequestInit = {}) =>
  Effect.promise(async (): Promise<Reply> => {
    const res = await fetch(url, init)
    return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: await res.text() }
  })

export const post = (url: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  request(url, { method: "POST", body, headers })

/** a realistic event as Falco's http_output posts it (with json_output: true) */
export const falcoEvent =
  `{"hostname":"node-1","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (user=root process=bash k8s_ns=default k8s_pod_name=nginx-7c)","output_fields":{"evt.time":1700000000408091526,"k8s.ns.name":"default","k8s.pod.name":"nginx-7c","proc.aname[2]":"containerd-shim","proc.name":"bash","proc.tty":34816,"user.name":"root"},"priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"2023-11-14T22:13:20.408091526Z"}`
