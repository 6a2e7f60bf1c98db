/**
 * The reference event every output test uses: what ingestion makes of Falco's example post,
 * with a fixed uuid. Its expected encodings, taken from falcosidekick's outputs, are in the outputs' tests.
 */
import type { FalcoEvent } from "@sidekick/event"

export const referenceOutput =
  "10:20:30.123456789: Critical A shell was spawned in a container (user=root shell=bash container=abc123)"

export const referenceEvent: FalcoEvent = {
  uuid: "3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60",
  output: referenceOutput,
  priority: "Critical",
  rule: "Terminal shell in container",
  time: "2024-05-06T10:20:30.123456789Z",
  timeUnixNanos: 1714990830123456789n,
  output_fields: {
    "container.id": "abc123",
    "k8s.ns.name": "default",
    "k8s.pod.name": "nginx-1",
    "proc.name": "bash",
    "proc.pid": 4242,
    "user.name": "root"
  },
  source: "syscall",
  tags: ["T1059", "container", "mitre_execution", "shell"],
  hostname: "node-1"
}

/** J(E′): Go json.Marshal of the reference event */
export const referenceEventJson =
  `{"uuid":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","output":"${referenceOutput}","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"container.id":"abc123","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"},"source":"syscall","tags":["T1059","container","mitre_execution","shell"],"hostname":"node-1"}`

/** the reference event with some fields replaced */
export const eventWith = (patch: Partial<FalcoEvent>): FalcoEvent => ({ ...referenceEvent, ...patch })
