/**
 * SMTP: one mail per event (falcosidekick's `smtp` output), sent over a pooled nodemailer transport. The
 * message is falcosidekick's, byte for byte: its headers, its fixed MIME boundary, the plain-text part and
 * (outputformat html) the HTML part, rendered by our Go template engine over the event.
 *
 * Differences from falcosidekick, each on purpose:
 * - a non-ASCII Subject is RFC 2047 encoded (falcosidekick writes raw UTF-8 into the header, which mail
 *   servers without SMTPUTF8 may mangle); an ASCII Subject is exactly falcosidekick's;
 * - a failed AUTH fails the attempt (falcosidekick ignores the AUTH answer and sends anyway, which the
 *   server then refuses or, worse, accepts unauthenticated), except that `plain` without a user and
 *   password sends no AUTH at all, so the default keeps working against unauthenticated relays;
 * - `authmechanism: ""` means no AUTH (falcosidekick panics and sends nothing), `login` and `cram-md5`
 *   are accepted too, and `checkcert` (default true) can turn certificate checking off for STARTTLS.
 */
import { Field } from "@sidekick/config"
import type { OutputError } from "@sidekick/delivery"
import { type FalcoEvent, type Priority, templateData } from "@sidekick/event"
import { mustCompileTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
// types only: nodemailer is loaded by `make`, when the output is enabled
import type { CustomAuthenticationContext } from "nodemailer/lib/smtp-connection"
import { define, type OutputContext } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { parseHostPort } from "./Socket.js"

export const smtpAuthMechanisms = ["plain", "login", "cram-md5", "oauthbearer", "external", "anonymous", "none", ""] as const
export type SmtpAuthMechanism = (typeof smtpAuthMechanisms)[number]

export const SmtpConfig = outputSection("smtp", {
  hostport: Field.string(""),
  /** STARTTLS after a plain connect (falcosidekick's meaning; never implicit TLS) */
  tls: Field.bool(true),
  authmechanism: Field.literal(smtpAuthMechanisms, "plain", { caseInsensitive: true }),
  user: Field.string(""),
  password: Field.secret(),
  token: Field.secret(),
  /** the PLAIN authorization identity, or the EXTERNAL identity */
  identity: Field.string(""),
  /** the ANONYMOUS trace */
  trace: Field.string(""),
  from: Field.string(""),
  /** comma-separated recipients; the To header carries the text as written */
  to: Field.string(""),
  outputformat: Field.literal(["html", "text", ""] as const, "html"),
  /** Sidekick's: false accepts any server certificate on STARTTLS (falcosidekick always checks) */
  checkcert: Field.bool(true)
})
export type SmtpConfig = typeof SmtpConfig.Type

/** the HTML banner colour per priority (falcosidekick's SMTP colours, not Slack's) */
export const smtpBannerColor: Readonly<Record<Priority, string>> = {
  Emergency: "#e20b0b",
  Alert: "#ff5400",
  Critical: "#ff9000",
  Error: "#ffc700",
  Warning: "#ffff00",
  Notice: "#5bffb5",
  Informational: "#68c2ff",
  Debug: "#ccfff2"
}
/** falcosidekick's banner colour for a priority it does not know */
const unknownPriorityColor = "#858585"

/** falcosidekick's fixed multipart boundary */
export const smtpBoundary = "4t74weu9byeSdJTM"

/** Go html/template's escaping of text and quoted attribute values (note `+`, which text/template's `html` keeps) */
const htmlEscapes: Readonly<Record<string, string>> = {
  "\u0000": "\uFFFD",
  "\"": "&#34;",
  "&": "&amp;",
  "'": "&#39;",
  "+": "&#43;",
  "<": "&lt;",
  ">": "&gt;"
}
// eslint-disable-next-line no-control-regex
export const escapeHtml = (text: string): string => text.replace(/[\u0000"&'+<>]/g, (c) => htmlEscapes[c] ?? c)

/** the plain-text part (falcosidekick's layout: the event, then every output field sorted, `%v`) */
const textTemplate = mustCompileTemplate(
  [
    "Priority: {{ .Priority }}",
    "Output: {{ .Output }}",
    "Rule: {{ .Rule }}",
    "Source: {{ .Source }}",
    "Hostname: {{ .Hostname }}",
    "Tags: {{ range .Tags }}{{ . }} {{ end }}",
    "Time: {{ .Time }}",
    "",
    "--Fields--",
    "{{ range $key, $value := .OutputFields }}{{ $key }}: {{ $value }}",
    "{{ end }}",
    "",
    ""
  ].join("\n")
)

/** one row of the event table: a grey label cell and the value cell; `indent` keeps falcosidekick's whitespace */
const eventRow = (label: string, value: string, indent = "        "): string =>
  `${indent}<tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>${label}</strong></span></td>
            <td style="background-color:#d1d6da">${value}</td>
        </tr>
`

const tableStyle = "font-family:arial,helvetica,sans-serif; height:2px; width:700px;"

/**
 * The HTML part. Every value goes through `escapeHtml`, as Go's html/template escapes it. The twelve
 * leading newlines are the blank lines falcosidekick's template leaves where it picks the colour.
 */
const htmlTemplate = mustCompileTemplate(
  "\n".repeat(12) +
    `<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<style type="text/css">
    td{font-family:arial,helvetica,sans-serif;}
</style>

<table cellpadding="3" cellspacing="0" style="${tableStyle}">
    <tbody>
        <tr>
            <td><img src="https://raw.githubusercontent.com/cncf/artwork/master/projects/falco/horizontal/color/falco-horizontal-color.png" width="117px" height="47"></td>
            <td></td>
        </tr>
    </tbody>
</table>
<br>
<table cellpadding="3" cellspacing="0" style="${tableStyle}">
    <tbody>
        <tr>
            <td style="background-color:{{ bannerColor .Priority }}; width:700px; text-align:center;"><span style="font-size:12px; color:#fff;"><strong>{{ escapeHtml .Priority }}</strong></span></td>
        </tr>
    </tbody>
</table>
<table cellpadding="5" cellspacing="0" style="font-family:arial,helvetica,sans-serif; width:700px; font-size:13px">
    <tbody>
` +
    eventRow("Output", "{{ escapeHtml .Output }}") +
    eventRow("Rule", "{{ escapeHtml .Rule }}") +
    eventRow("Source", "{{ escapeHtml .Source }}") +
    eventRow("Hostname", "{{ escapeHtml .Hostname }}", "\t\t") +
    eventRow("Tags", "{{ range .Tags }}{{ escapeHtml . }} {{ end }}") +
    eventRow("Time", "{{ print .Time | escapeHtml }}") +
    `    </tbody>
</table>
<br>

<table cellpadding="3" cellspacing="0" style="${tableStyle} font-size:13px">
    <tbody>
        <tr>
            <td style="background-color: #858585; width:700px; text-align:center;"><span style="font-size:12px; color:#fff;"><strong>Fields</strong></span></td>
        </tr>
    </tbody>
</table>

<table cellpadding="3" cellspacing="0" style="${tableStyle} font-size:13px">
    <tbody>{{ range $key, $value := .OutputFields }}
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>{{ escapeHtml $key }}</strong></span></td>
            <td style="background-color:#d1d6da">{{ print (nilAsEmpty $value) | escapeHtml }}</td>
        </tr>
    {{ end }}</tbody>
</table>

--${smtpBoundary}--`,
  {
    escapeHtml: (value) => escapeHtml(String(value)),
    // html/template prints a null field as nothing, where text/template (the plain-text part) prints <no value>
    nilAsEmpty: (value) => value ?? "",
    bannerColor: (priority) => smtpBannerColor[priority as Priority] ?? unknownPriorityColor
  }
)

/** the plain-text part for an event */
export const smtpTextBody = (event: FalcoEvent): string => textTemplate.render(templateData(event))

/** the HTML part for an event (it ends with the closing boundary, as falcosidekick's does) */
export const smtpHtmlBody = (event: FalcoEvent): string => htmlTemplate.render(templateData(event))

const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/** Go `Format("Mon, 02 Jan 2006 15:04:05 -0700")` of the event time, at the offset the event gave it */
export const smtpDate = (event: FalcoEvent): string => {
  const t = event.time
  const year = Number(t.slice(0, 4))
  const month = Number(t.slice(5, 7))
  const day = Number(t.slice(8, 10))
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay()
  const offset = t.endsWith("Z") ? "+0000" : t.slice(-6, -3) + t.slice(-2)
  return `${weekdays[weekday]}, ${t.slice(8, 10)} ${months[month - 1]} ${t.slice(0, 4)} ${t.slice(11, 19)} ${offset}`
}

/** 42 bytes of UTF-8 are 56 of base64: a 68-character encoded word, so "Subject: " and a word fit in 78 */
const encodedWordBytes = 42

/**
 * The Subject header's value: falcosidekick's `[<Priority>] <output>` unchanged when it is ASCII, else as
 * RFC 2047 base64 words (split between characters, folded onto continuation lines). Line breaks in the
 * output become spaces, so an event can never add a header.
 */
export const smtpSubject = (event: FalcoEvent): string => {
  const subject = `[${event.priority}] ${event.output}`.replace(/\r\n|\r|\n/g, " ")
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(subject)) return subject
  const words: Array<string> = []
  let chunk = ""
  let chunkBytes = 0
  for (const char of subject) {
    const bytes = Buffer.byteLength(char)
    if (chunkBytes + bytes > encodedWordBytes) {
      words.push(chunk)
      chunk = ""
      chunkBytes = 0
    }
    chunk += char
    chunkBytes += bytes
  }
  words.push(chunk)
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString("base64")}?=`).join("\n ")
}

export interface SmtpMessageOptions {
  readonly from: string
  readonly to: string
  readonly outputformat: "html" | "text" | ""
}

/**
 * The whole message, headers and body, with LF line ends (the SMTP DATA writer turns them into CRLF, as
 * falcosidekick's does). Header order and spelling (`MIME-version`) are falcosidekick's.
 */
export const smtpMessage = (event: FalcoEvent, o: SmtpMessageOptions): string => {
  const html = o.outputformat !== "text"
  let message = `Subject: ${smtpSubject(event)}\nFrom: ${o.from}\nTo: ${o.to}\nDate: ${smtpDate(event)}\nMIME-version: 1.0\n`
  if (html) message += `Content-Type: multipart/alternative; boundary=${smtpBoundary}\n\n\n--${smtpBoundary}\n`
  message += `Content-Type: text/plain; charset="UTF-8"\n\n` + smtpTextBody(event)
  if (html) message += `--${smtpBoundary}\nContent-Type: text/html; charset="UTF-8";\n\n` + smtpHtmlBody(event)
  return message
}

/** the envelope recipients: `to` without spaces, split on commas (empty items dropped) */
export const smtpRecipients = (to: string): Array<string> => to.replace(/ /g, "").split(",").filter((r) => r !== "")

const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")

/** what the go-sasl mechanisms falcosidekick uses need */
export interface SaslCredentials {
  readonly user: string
  readonly password: string
  readonly token: string
  readonly identity: string
  readonly trace: string
  readonly host: string
  readonly port: number
}

/**
 * The AUTH command of a go-sasl mechanism (its initial response, base64; `=` for an empty one, as
 * go-smtp sends it). OAUTHBEARER is RFC 7628's GS2 header with host, port and bearer token.
 */
export type SaslMechanism = "PLAIN" | "OAUTHBEARER" | "EXTERNAL" | "ANONYMOUS"

export const saslAuthCommand = (mechanism: SaslMechanism, c: SaslCredentials): string => {
  let initial: string
  switch (mechanism) {
    case "PLAIN":
      initial = `${c.identity}\u0000${c.user}\u0000${c.password}`
      break
    case "OAUTHBEARER":
      initial = `n,${c.user === "" ? "" : "a=" + c.user},` + (c.host === "" ? "" : `\u0001host=${c.host}`) +
        `\u0001port=${c.port}\u0001auth=Bearer ${c.token}\u0001\u0001`
      break
    case "EXTERNAL":
      initial = c.identity
      break
    case "ANONYMOUS":
      initial = c.trace
      break
  }
  return `AUTH ${mechanism} ${initial === "" ? "=" : base64(initial)}`
}

/** nodemailer's handler for a go-sasl mechanism: one AUTH command with its initial response; a challenge is cancelled */
const saslHandler = (mechanism: SaslMechanism, c: SaslCredentials) => async (auth: CustomAuthenticationContext) => {
  const reply = await auth.sendCommand(saslAuthCommand(mechanism, c))
  if (reply.status === 235) return auth.resolve()
  // OAUTHBEARER answers a refused token with a 334 challenge carrying the error; "*" ends the exchange
  const final = reply.status === 334 ? await auth.sendCommand("*") : reply
  const detail = reply.status === 334 ? ` (server challenge ${Buffer.from(reply.text, "base64").toString("utf8")})` : ""
  return auth.reject(new Error(`AUTH ${mechanism} refused: ${final.response}${detail}`))
}

/** the auth part of nodemailer's transport options */
export interface TransportAuth {
  readonly auth?: { type?: string; method: string; user: string; pass: string }
  readonly customAuth?: Record<string, (ctx: CustomAuthenticationContext) => Promise<void>>
}

/**
 * nodemailer's auth options for a mechanism. LOGIN and CRAM-MD5 are nodemailer's own; PLAIN, OAUTHBEARER,
 * EXTERNAL and ANONYMOUS are sent the go-sasl way through custom handlers (nodemailer's PLAIN drops the
 * authorization identity and it has no OAUTHBEARER, EXTERNAL or ANONYMOUS). The pool authenticates only
 * when `user` or `pass` is set, so the custom ones carry a placeholder: their handler reads the config.
 */
export const smtpAuth = (mechanism: SmtpAuthMechanism, c: SaslCredentials): TransportAuth => {
  const custom = (name: SaslMechanism): TransportAuth => ({
    auth: { type: "custom", method: name, user: c.user === "" ? name : c.user, pass: name },
    customAuth: { [name]: saslHandler(name, c) }
  })
  switch (mechanism) {
    case "none":
    case "":
      return {}
    case "plain":
      return c.user === "" && c.password === "" ? {} : custom("PLAIN")
    case "login":
      return { auth: { method: "LOGIN", user: c.user, pass: c.password } }
    case "cram-md5":
      return { auth: { method: "CRAM-MD5", user: c.user, pass: c.password } }
    case "oauthbearer":
      return custom("OAUTHBEARER")
    case "external":
      return custom("EXTERNAL")
    case "anonymous":
      return custom("ANONYMOUS")
  }
}

interface MailerError {
  readonly message?: unknown
  readonly code?: unknown
  readonly responseCode?: unknown
}

/** the text with every secret replaced, for error messages */
const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((t, s) => (s === "" ? t : t.split(s).join("<redacted>").split(base64(s)).join("<redacted>")), text)

/**
 * One attempt's failure: a 5xx reply is permanent (`Rejected`, not retried: mailbox unknown, AUTH
 * refused, message refused), a 4xx reply and anything without a reply (connection, TLS, timeout) is
 * worth another attempt (`Transport`).
 */
export const smtpError = (ctx: Pick<OutputContext, "error">, error: unknown, secrets: ReadonlyArray<string>): OutputError => {
  const e = (typeof error === "object" && error !== null ? error : {}) as MailerError
  const text = scrub(typeof e.message === "string" ? e.message : String(error), secrets)
  const code = typeof e.code === "string" ? `${e.code}: ` : ""
  const status = typeof e.responseCode === "number" ? e.responseCode : undefined
  const message = `${code}${text}`
  if (status !== undefined && status >= 500) return ctx.error("Rejected", message, { status })
  return ctx.error("Transport", message, status === undefined ? {} : { status })
}

export const Smtp = define({
  config: SmtpConfig,
  displayName: "SMTP",
  enabled: (c) => c.hostport !== "" && c.from !== "" && c.to !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const address = parseHostPort(c.hostport)
      if (address === undefined) {
        return yield* Effect.fail(ctx.initError(`smtp.hostport must be host:port, got ${JSON.stringify(c.hostport)}`, { key: "hostport" }))
      }
      const recipients = smtpRecipients(c.to)
      if (recipients.length === 0) return yield* Effect.fail(ctx.initError("smtp.to names no recipient", { key: "to" }))
      const password = Redacted.value(c.password)
      const token = Redacted.value(c.token)
      const secrets = [password, token]
      const auth = smtpAuth(c.authmechanism, { user: c.user, password, token, identity: c.identity, trace: c.trace, ...address })
      // nodemailer is loaded here, when the output is enabled, not with the registry (a failure to load is a defect)
      const { default: nodemailer } = yield* Effect.promise(() => import("nodemailer"))
      const transport = yield* Effect.acquireRelease(
        Effect.sync(() =>
          nodemailer.createTransport({
            pool: true,
            // a pooled connection the server dropped mid-send is retried once on a new one; the Dispatcher does the rest
            maxRequeues: 1,
            host: address.host,
            port: address.port,
            secure: false,
            requireTLS: c.tls,
            ignoreTLS: !c.tls,
            tls: { rejectUnauthorized: c.checkcert, minVersion: "TLSv1.2" },
            ...auth
          })
        ),
        (t) => Effect.sync(() => t.close())
      )
      const options: SmtpMessageOptions = { from: c.from, to: c.to, outputformat: c.outputformat }
      return {
        kind: "single",
        // nodemailer has its own socket timeouts (minutes long): the Dispatcher enforces delivery.timeout by
        // interrupting the send, which aborts the message through its signal
        enforcesTimeout: false,
        send: (event) =>
          Effect.async<void, OutputError>((resume, signal) => {
            transport.sendMail({ envelope: { from: c.from, to: recipients }, raw: smtpMessage(event, options), signal }, (error, info) => {
              if (error !== null) return resume(Effect.fail(smtpError(ctx, error, secrets)))
              // some recipients got it: sending again would duplicate it for them, so the rest are reported, not retried
              const refused = info.rejected.map(String)
              if (refused.length > 0) {
                const rejectedErrors: ReadonlyArray<MailerError> = (info as { rejectedErrors?: Array<MailerError> }).rejectedErrors ?? []
                const replies = rejectedErrors.map((e) => scrub(String(e.message), secrets))
                return resume(Effect.fail(
                  ctx.error("Rejected", `delivered to ${recipients.length - refused.length} of ${recipients.length} recipients; refused ${refused.join(", ")}: ${replies.join("; ")}`)
                ))
              }
              resume(Effect.void)
            })
          })
      }
    })
})
