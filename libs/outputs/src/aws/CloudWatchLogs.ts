/**
 * AWS CloudWatch Logs (catalog §3.10): one PutLogEvents per event, its message the event's JSON and its
 * timestamp the event's time in milliseconds, through the AWS SDK (AWS JSON 1.1, SigV4) with the shared
 * `aws.*` settings (./Aws.ts). Without `logstream`, the stream `falcosidekick-logstream` is created before
 * the first event (one that already exists is reused), as falcosidekick does.
 *
 * Beyond falcosidekick, each on purpose:
 * - an event CloudWatch refuses inside a successful answer (`rejectedLogEventsInfo`: timestamp more than
 *   2 hours ahead, older than 14 days or than the group's retention) is reported as a permanent failure,
 *   where falcosidekick counted it delivered;
 * - DataAlreadyAcceptedException (the same batch sent twice) counts as delivered;
 * - InvalidSequenceTokenException is retried once at once with the expected token, as falcosidekick does
 *   (it retries without bound); a second one is left to the Dispatcher. CloudWatch has ignored sequence
 *   tokens since 2023, so this only matters for compatible endpoints that still check them.
 */
// types only: the client is loaded by `make`, when the output is enabled
import type { InputLogEvent, PutLogEventsCommandInput, RejectedLogEventsInfo } from "@aws-sdk/client-cloudwatch-logs"
import { Field } from "@sidekick/config"
import { type OutputError, Verdict } from "@sidekick/delivery"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect } from "effect"
import { define } from "../Definition.js"
import { outputSection } from "../OutputConfig.js"
import { awsCall, type AwsShape, AwsShared } from "./Aws.js"

export const CloudWatchLogsConfig = outputSection("aws.cloudwatchlogs", {
  loggroup: Field.string(),
  /** "" = falcosidekick's stream `falcosidekick-logstream`, created when missing */
  logstream: Field.string()
})
export type CloudWatchLogsConfig = typeof CloudWatchLogsConfig.Type

/** the stream falcosidekick creates when `logstream` is empty */
export const defaultLogStream = "falcosidekick-logstream"

/** the log event: J(E′), at the event time in Unix milliseconds (Go's UnixNano()/1e6, truncated toward zero) */
export const cloudWatchLogEvent = (event: FalcoEvent): InputLogEvent => ({
  message: eventJson(event),
  timestamp: Number(event.timeUnixNanos / 1_000_000n)
})

/** why CloudWatch refused the event of a one-event PutLogEvents it answered, or undefined when it took it */
export const refusal = (info: RejectedLogEventsInfo | undefined): string | undefined => {
  if (info === undefined) return undefined
  if (info.tooNewLogEventStartIndex !== undefined && info.tooNewLogEventStartIndex <= 0) return "its timestamp is more than 2 hours in the future"
  if (info.tooOldLogEventEndIndex !== undefined && info.tooOldLogEventEndIndex >= 0) return "its timestamp is more than 14 days old"
  if (info.expiredLogEventEndIndex !== undefined && info.expiredLogEventEndIndex >= 0) return "its timestamp is older than the log group's retention"
  return undefined
}

const errorName = (u: unknown): string | undefined => (u instanceof Error ? u.name : undefined)

/** another writer raced us on a sequence token: worth another attempt, unlike other 400s */
export const cloudWatchLogsClassify = (aws: Pick<AwsShape, "classify">) => (error: OutputError): Verdict =>
  errorName(error.cause) === "InvalidSequenceTokenException" ? Verdict.retry : aws.classify(error)

export const CloudWatchLogs = define({
  config: CloudWatchLogsConfig,
  displayName: "AWSCloudWatchLogs",
  enabled: (c) => c.loggroup !== "",
  shared: AwsShared,
  make: (c, ctx, aws) =>
    Effect.gen(function*() {
      const { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand } = yield* Effect.promise(() =>
        import("@aws-sdk/client-cloudwatch-logs")
      )
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new CloudWatchLogsClient(aws.clientConfig)),
        (client) => Effect.sync(() => client.destroy())
      )
      const call = <A>(run: (abortSignal: AbortSignal) => Promise<A>) => awsCall(ctx, aws, run)
      const logGroupName = c.loggroup
      const logStreamName = c.logstream === "" ? defaultLogStream : c.logstream

      // created (or found) once; a failure fails the attempt and the next one tries again
      let streamReady = c.logstream !== ""
      const ensureStream = Effect.suspend(() =>
        streamReady ? Effect.void : call((abortSignal) =>
          client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }), { abortSignal })
        ).pipe(
          Effect.tap(() => Effect.logInfo(`AWSCloudWatchLogs - log stream ${logStreamName} created in log group ${logGroupName}`)),
          Effect.catchIf((e) => errorName(e.cause) === "ResourceAlreadyExistsException", () => Effect.void),
          Effect.tap(() => Effect.sync(() => (streamReady = true)))
        )
      )

      const put = (input: PutLogEventsCommandInput) =>
        call((abortSignal) => client.send(new PutLogEventsCommand(input), { abortSignal }))

      const send = (event: FalcoEvent) =>
        Effect.gen(function*() {
          yield* ensureStream
          const input: PutLogEventsCommandInput = { logGroupName, logStreamName, logEvents: [cloudWatchLogEvent(event)] }
          const response = yield* put(input).pipe(
            Effect.catchIf(
              (e) => errorName(e.cause) === "InvalidSequenceTokenException",
              (e) => put({ ...input, sequenceToken: (e.cause as { expectedSequenceToken?: string }).expectedSequenceToken })
            ),
            Effect.catchIf((e) => errorName(e.cause) === "DataAlreadyAcceptedException", () => Effect.succeed(undefined))
          )
          const refused = refusal(response?.rejectedLogEventsInfo)
          if (refused !== undefined) {
            return yield* Effect.fail(ctx.error("Rejected", `CloudWatch Logs refused the event: ${refused} (${event.time})`))
          }
        })

      return { kind: "single", classify: cloudWatchLogsClassify(aws), send }
    })
})
