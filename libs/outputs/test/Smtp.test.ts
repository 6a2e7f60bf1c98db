import { it } from "@effect/vitest"
import { defaultClassify, type OutputError } from "@sidekick/delivery"
import { type Priority, priorities } from "@sidekick/event"
import { eventWith, makeTlsMaterial, referenceEvent, referenceOutput as O, type TlsMaterial } from "@sidekick/testing"
import { Effect, Either, Exit, Scope } from "effect"
import type { AddressInfo } from "node:net"
import { SMTPServer } from "smtp-server"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { saslAuthCommand, Smtp, SmtpConfig, smtpHtmlBody, smtpMessage } from "../src/Smtp.js"
import { config, decode, startSingle } from "./helpers.js"

/** falcosidekick's HTML part for the reference event (rendered from its html/template by hand: `+` escaped as &#43;) */
const referenceHtml = "\n".repeat(12) + `<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<style type="text/css">
    td{font-family:arial,helvetica,sans-serif;}
</style>

<table cellpadding="3" cellspacing="0" style="font-family:arial,helvetica,sans-serif; height:2px; width:700px;">
    <tbody>
        <tr>
            <td><img src="https://raw.githubusercontent.com/cncf/artwork/master/projects/falco/horizontal/color/falco-horizontal-color.png" width="117px" height="47"></td>
            <td></td>
        </tr>
    </tbody>
</table>
<br>
<table cellpadding="3" cellspacing="0" style="font-family:arial,helvetica,sans-serif; height:2px; width:700px;">
    <tbody>
        <tr>
            <td style="background-color:#ff9000; width:700px; text-align:center;"><span style="font-size:12px; color:#fff;"><strong>Critical</strong></span></td>
        </tr>
    </tbody>
</table>
<table cellpadding="5" cellspacing="0" style="font-family:arial,helvetica,sans-serif; width:700px; font-size:13px">
    <tbody>
        <tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Output</strong></span></td>
            <td style="background-color:#d1d6da">${O}</td>
        </tr>
        <tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Rule</strong></span></td>
            <td style="background-color:#d1d6da">Terminal shell in container</td>
        </tr>
        <tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Source</strong></span></td>
            <td style="background-color:#d1d6da">syscall</td>
        </tr>
		<tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Hostname</strong></span></td>
            <td style="background-color:#d1d6da">node-1</td>
        </tr>
        <tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Tags</strong></span></td>
            <td style="background-color:#d1d6da">T1059 container mitre_execution shell </td>
        </tr>
        <tr>
            <td style="background-color:#858585"><span style="font-size:14px;color:#fff;"><strong>Time</strong></span></td>
            <td style="background-color:#d1d6da">2024-05-06 10:20:30.123456789 &#43;0000 UTC</td>
        </tr>
    </tbody>
</table>
<br>

<table cellpadding="3" cellspacing="0" style="font-family:arial,helvetica,sans-serif; height:2px; width:700px; font-size:13px">
    <tbody>
        <tr>
            <td style="background-color: #858585; width:700px; text-align:center;"><span style="font-size:12px; color:#fff;"><strong>Fields</strong></span></td>
        </tr>
    </tbody>
</table>

<table cellpadding="3" cellspacing="0" style="font-family:arial,helvetica,sans-serif; height:2px; width:700px; font-size:13px">
    <tbody>
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>container.id</strong></span></td>
            <td style="background-color:#d1d6da">abc123</td>
        </tr>
    
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>k8s.ns.name</strong></span></td>
            <td style="background-color:#d1d6da">default</td>
        </tr>
    
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>k8s.pod.name</strong></span></td>
            <td style="background-color:#d1d6da">nginx-1</td>
        </tr>
    
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>proc.name</strong></span></td>
            <td style="background-color:#d1d6da">bash</td>
        </tr>
    
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>proc.pid</strong></span></td>
            <td style="background-color:#d1d6da">4242</td>
        </tr>
    
        <tr>
            <td width="1" style="background-color:#858585"><span style="font-size:14px; color:#fff;"><strong>user.name</strong></span></td>
            <td style="background-color:#d1d6da">root</td>
        </tr>
    </tbody>
</table>

--4t74weu9byeSdJTM--`

/** falcosidekick's plain-text part for the reference event: every output field, sorted, `%v` */
const referenceText = `Priority: Critical
Output: ${O}
Rule: Terminal shell in container
Source: syscall
Hostname: node-1
Tags: T1059 container mitre_execution shell 
Time: 2024-05-06 10:20:30.123456789 +0000 UTC

--Fields--
container.id: abc123
k8s.ns.name: default
k8s.pod.name: nginx-1
proc.name: bash
proc.pid: 4242
user.name: root


`

const referenceHeaders = (from: string, to: string) =>
  `Subject: [Critical] ${O}\nFrom: ${from}\nTo: ${to}\nDate: Mon, 06 May 2024 10:20:30 +0000\nMIME-version: 1.0\n`

/** falcosidekick's whole html message for the reference event, LF line ends */
const referenceMessage = (from: string, to: string) =>
  referenceHeaders(from, to) +
  `Content-Type: multipart/alternative; boundary=4t74weu9byeSdJTM\n\n\n--4t74weu9byeSdJTM\n` +
  `Content-Type: text/plain; charset="UTF-8"\n\n` + referenceText +
  `--4t74weu9byeSdJTM\nContent-Type: text/html; charset="UTF-8";\n\n` + referenceHtml

/** what the DATA command carries: CRLF line ends, and the CRLF that precedes the final "." */
const onTheWire = (message: string) => message.replace(/\n/g, "\r\n") + "\r\n"

// ---------------------------------------------------------------------------------------------------------------
// One real SMTP server for the file: STARTTLS with the test CA's certificate, AUTH PLAIN/LOGIN/CRAM-MD5 optional,
// recipients starting with "defer" answered 451 and "unknown" 550.
// ---------------------------------------------------------------------------------------------------------------

interface Received {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly raw: Buffer
  readonly user: string | undefined
  readonly authMethod: string | undefined
  readonly secure: boolean
}

const smtpUser = "alice"
const smtpPassword = "s3cret-Pa55w0rd"
const received: Array<Received> = []
const authMethods = new Map<string, string>()
let server: SMTPServer
let hostport: string
let tls: TlsMaterial
const tlsScope = Effect.runSync(Scope.make())

const replyError = (message: string, responseCode: number) => Object.assign(new Error(message), { responseCode })

beforeAll(async () => {
  tls = await Effect.runPromise(Scope.extend(makeTlsMaterial, tlsScope))
  server = new SMTPServer({
    key: tls.serverKey,
    cert: tls.serverCert,
    authMethods: ["PLAIN", "LOGIN", "CRAM-MD5"],
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    closeTimeout: 100,
    logger: false,
    onAuth: (auth, session, callback) => {
      authMethods.set(session.id, auth.method)
      // CRAM-MD5 sends no password, only a digest the server checks against the password it knows
      const passwordMatches = auth.method === "CRAM-MD5" ? auth.validatePassword(smtpPassword) : auth.password === smtpPassword
      if (auth.username === smtpUser && passwordMatches) return callback(null, { user: auth.username })
      callback(replyError("Authentication credentials invalid", 535))
    },
    onRcptTo: (address, _session, callback) => {
      if (address.address.startsWith("defer")) return callback(replyError("Mailbox busy, try later", 451))
      if (address.address.startsWith("unknown")) return callback(replyError("Mailbox unavailable", 550))
      callback()
    },
    onData: (stream, session, callback) => {
      const chunks: Array<Buffer> = []
      stream.on("data", (chunk: Buffer) => chunks.push(chunk))
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          user: session.user as string | undefined,
          authMethod: authMethods.get(session.id),
          secure: session.secure
        })
        callback()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  hostport = `127.0.0.1:${(server.server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await Effect.runPromise(Scope.close(tlsScope, Exit.void))
})

/** the one message sent from `from` (each test sends from its own address) */
const receivedFrom = (from: string): Received => {
  const found = received.filter((r) => r.from === from)
  expect(found).toHaveLength(1)
  return found[0]!
}

/** a plaintext, unauthenticated output sending from `from` */
const smtpConfig = (from: string, extra: Record<string, unknown> = {}) =>
  config(SmtpConfig, { hostport, from, to: "ops@example.com", tls: false, authmechanism: "none", ...extra })

// ---------------------------------------------------------------------------------------------------------------
// Enough MIME reading for the assertions (no mail parser is installed)
// ---------------------------------------------------------------------------------------------------------------

const splitHead = (text: string) => {
  const at = text.indexOf("\r\n\r\n")
  return { head: text.slice(0, at), body: text.slice(at + 4) }
}

/** a header's value, continuation lines unfolded */
const header = (head: string, name: string): string | undefined => {
  const unfolded = head.replace(/\r\n[ \t]/g, " ")
  const line = unfolded.split("\r\n").find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"))
  return line?.slice(name.length + 1).trim()
}

/** RFC 2047 B words decoded; the whitespace between two adjacent words dropped */
const decodeWords = (value: string): string =>
  value.replace(/\?=\s+=\?/g, "?==?").replace(/=\?UTF-8\?B\?([^?]*)\?=/gi, (_, b64: string) => Buffer.from(b64, "base64").toString("utf8"))

/** the parts of a multipart/alternative message: content type and content (the CRLF before each boundary removed) */
const mimeParts = (raw: string): Array<{ readonly contentType: string; readonly content: string }> => {
  const { head, body } = splitHead(raw)
  const boundary = /boundary=([^;\s]+)/.exec(header(head, "Content-Type") ?? "")![1]!
  const sections = body.split(`--${boundary}`)
  expect(sections.at(-1)).toBe("--\r\n")
  return sections.slice(1, -1).map((section) => {
    const part = splitHead(section.replace(/^\r\n/, ""))
    return { contentType: header(part.head, "Content-Type")!, content: part.body.replace(/\r\n$/, "") }
  })
}

const failure = <A>(effect: Effect.Effect<A, OutputError>) => Effect.flip(effect)

describe("SMTP", () => {
  it("message: falcosidekick's headers, plain-text part and HTML part for the reference event", () => {
    const to = "alice@example.com, bob@example.com"
    expect(smtpMessage(referenceEvent, { from: "falco@example.com", to, outputformat: "html" })).toBe(referenceMessage("falco@example.com", to))
  })

  it("message: outputformat text is a single text/plain message", () => {
    expect(smtpMessage(referenceEvent, { from: "falco@example.com", to: "ops@example.com", outputformat: "text" })).toBe(
      referenceHeaders("falco@example.com", "ops@example.com") + `Content-Type: text/plain; charset="UTF-8"\n\n` + referenceText
    )
  })

  it("html: the banner colour of each of the eight priorities, and values escaped as html/template does", () => {
    const expected: Record<Priority, string> = {
      Emergency: "#e20b0b",
      Alert: "#ff5400",
      Critical: "#ff9000",
      Error: "#ffc700",
      Warning: "#ffff00",
      Notice: "#5bffb5",
      Informational: "#68c2ff",
      Debug: "#ccfff2"
    }
    expect(priorities).toHaveLength(8)
    for (const priority of priorities) {
      const html = smtpHtmlBody(eventWith({ priority }))
      expect(html).toContain(
        `<td style="background-color:${expected[priority]}; width:700px; text-align:center;"><span style="font-size:12px; color:#fff;"><strong>${priority}</strong></span></td>`
      )
    }
    const html = smtpHtmlBody(eventWith({ output: `<b>"a" & 'b' + c</b>`, output_fields: { "x<y": "1+1", "n": null } }))
    expect(html).toContain(`<td style="background-color:#d1d6da">&lt;b&gt;&#34;a&#34; &amp; &#39;b&#39; &#43; c&lt;/b&gt;</td>`)
    expect(html).toContain(`<strong>x&lt;y</strong></span></td>\n            <td style="background-color:#d1d6da">1&#43;1</td>`)
    // a null field: html/template prints nothing, text/template (the plain-text part) <no value>
    expect(html).toContain(`<strong>n</strong></span></td>\n            <td style="background-color:#d1d6da"></td>`)
    const text = smtpMessage(eventWith({ output_fields: { "n": null, "b": false, "z": 0 } }), { from: "f@x", to: "t@x", outputformat: "text" })
    expect(text).toContain("\n--Fields--\nb: false\nn: <no value>\nz: 0\n\n\n")
  })

  it("message: the Date header is the event time at the event's own offset", () => {
    const message = smtpMessage(eventWith({ time: "2024-05-05T23:59:59.5+02:00" }), { from: "f@x", to: "t@x", outputformat: "text" })
    expect(message).toContain("\nDate: Sun, 05 May 2024 23:59:59 +0200\n")
  })

  it("sasl: the AUTH commands of falcosidekick's go-sasl mechanisms", () => {
    const c = { user: "alice", password: "pw", token: "tok", identity: "admin", trace: "", host: "mail.example.com", port: 587 }
    const b64 = (s: string) => Buffer.from(s).toString("base64")
    expect(saslAuthCommand("PLAIN", c)).toBe(`AUTH PLAIN ${b64("admin\u0000alice\u0000pw")}`)
    expect(saslAuthCommand("PLAIN", { ...c, identity: "" })).toBe(`AUTH PLAIN ${b64("\u0000alice\u0000pw")}`)
    expect(saslAuthCommand("OAUTHBEARER", c)).toBe(
      `AUTH OAUTHBEARER ${b64("n,a=alice,\u0001host=mail.example.com\u0001port=587\u0001auth=Bearer tok\u0001\u0001")}`
    )
    expect(saslAuthCommand("OAUTHBEARER", { ...c, user: "" })).toBe(
      `AUTH OAUTHBEARER ${b64("n,,\u0001host=mail.example.com\u0001port=587\u0001auth=Bearer tok\u0001\u0001")}`
    )
    expect(saslAuthCommand("EXTERNAL", c)).toBe(`AUTH EXTERNAL ${b64("admin")}`)
    expect(saslAuthCommand("EXTERNAL", { ...c, identity: "" })).toBe("AUTH EXTERNAL =")
    expect(saslAuthCommand("ANONYMOUS", c)).toBe("AUTH ANONYMOUS =")
    expect(saslAuthCommand("ANONYMOUS", { ...c, trace: "falco" })).toBe(`AUTH ANONYMOUS ${b64("falco")}`)
  })

  it("config: defaults, enabled only with hostport, from and to, secrets redacted, bad values refused", () => {
    const c = config(SmtpConfig, {})
    expect(c.tls).toBe(true)
    expect(c.authmechanism).toBe("plain")
    expect(c.outputformat).toBe("html")
    expect(c.checkcert).toBe(true)
    expect(c.user).toBe("")
    expect(Smtp.enabled(c)).toBe(false)
    expect(Smtp.enabled(config(SmtpConfig, { hostport: "mail:25", from: "f@x" }))).toBe(false)
    expect(Smtp.enabled(config(SmtpConfig, { hostport: "mail:25", to: "t@x" }))).toBe(false)
    expect(Smtp.enabled(config(SmtpConfig, { from: "f@x", to: "t@x" }))).toBe(false)
    expect(Smtp.enabled(config(SmtpConfig, { hostport: "mail:25", from: "f@x", to: "t@x" }))).toBe(true)
    expect(config(SmtpConfig, {}, { SMTP_AUTHMECHANISM: "LOGIN" }).authmechanism).toBe("login")
    expect(String(config(SmtpConfig, { password: smtpPassword }).password)).not.toContain(smtpPassword)
    const bad = decode(SmtpConfig, { authmechanism: "gssapi", password: smtpPassword })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("smtp.authmechanism")
      expect(bad.left.message).not.toContain(smtpPassword)
    }
  })

  it.scoped("a hostport without a port refuses start-up naming smtp.hostport", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Smtp, config(SmtpConfig, { hostport: "mail.example.com", from: "f@x", to: "t@x" })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("smtp.hostport")
    }))

  it.scoped("delivers falcosidekick's message to every recipient, without STARTTLS when tls is false", () =>
    Effect.gen(function*() {
      const from = "reference@example.com"
      const to = "alice@example.com, bob@example.com,carol@example.com"
      const output = yield* startSingle(Smtp, smtpConfig(from, { to }))
      expect(output.enforcesTimeout).toBe(false)
      expect(output.testRuleBypass).toBe(true)
      yield* output.send(referenceEvent)
      const mail = receivedFrom(from)
      expect(mail.to).toEqual(["alice@example.com", "bob@example.com", "carol@example.com"])
      expect(mail.raw.toString("utf8")).toBe(onTheWire(referenceMessage(from, to)))
      expect(mail.secure).toBe(false)
      expect(mail.user).toBeUndefined()
      const { head } = splitHead(mail.raw.toString("utf8"))
      expect(header(head, "From")).toBe(from)
      expect(header(head, "To")).toBe(to)
      expect(header(head, "Subject")).toBe(`[Critical] ${O}`)
      const parts = mimeParts(mail.raw.toString("utf8"))
      expect(parts.map((p) => p.contentType)).toEqual([`text/plain; charset="UTF-8"`, `text/html; charset="UTF-8";`])
      expect(parts[0]!.content).toBe(referenceText.replace(/\n/g, "\r\n").replace(/\r\n$/, ""))
      expect(parts[1]!.content).toBe(referenceHtml.replace(/\n--4t74weu9byeSdJTM--$/, "").replace(/\n/g, "\r\n"))
    }))

  it.scoped("outputformat text sends only the plain-text part", () =>
    Effect.gen(function*() {
      const from = "text@example.com"
      const output = yield* startSingle(Smtp, smtpConfig(from, { outputformat: "text" }))
      yield* output.send(referenceEvent)
      const raw = receivedFrom(from).raw.toString("utf8")
      const { head, body } = splitHead(raw)
      expect(header(head, "Content-Type")).toBe(`text/plain; charset="UTF-8"`)
      expect(raw).not.toContain("multipart")
      expect(raw).not.toContain("text/html")
      expect(body).toBe(referenceText.replace(/\n/g, "\r\n"))
    }))

  it.scoped("a non-ASCII rule and output: Subject RFC 2047 encoded, bodies in UTF-8", () =>
    Effect.gen(function*() {
      const from = "utf8@example.com"
      const output = "10:20:30: Warning Écriture sous /etc — fichier « passwd » modifié par 用户 🚨 (user=root)"
      const rule = "Écriture sous /etc 🚨"
      const output_ = yield* startSingle(Smtp, smtpConfig(from))
      yield* output_.send(eventWith({ priority: "Warning", rule, output }))
      const raw = receivedFrom(from).raw.toString("utf8")
      const { head } = splitHead(raw)
      // the Subject line and its continuation lines (the next header, From, starts a line of its own)
      const subjectLines = head.slice(0, head.indexOf("\r\nFrom:")).split("\r\n")
      expect(subjectLines[0]).toMatch(/^Subject: =\?UTF-8\?B\?/)
      expect(subjectLines.length).toBeGreaterThan(1)
      for (const line of subjectLines) {
        expect(line).toMatch(/^[\x20-\x7e]+$/)
        expect(line.length).toBeLessThanOrEqual(78)
      }
      expect(decodeWords(header(head, "Subject")!)).toBe(`[Warning] ${output}`)
      const [text, html] = mimeParts(raw)
      expect(text!.content).toContain(`Output: ${output}\r\nRule: ${rule}\r\n`)
      expect(html!.content).toContain(`<td style="background-color:#d1d6da">${output}</td>`)
      expect(html!.content).toContain(`<td style="background-color:#d1d6da">${rule}</td>`)
      expect(html!.content).toContain(`background-color:#ffff00;`)
    }))

  it.scoped("AUTH PLAIN, LOGIN and CRAM-MD5 with the password the server checks", () =>
    Effect.gen(function*() {
      for (const authmechanism of ["plain", "login", "cram-md5"] as const) {
        const from = `auth-${authmechanism}@example.com`
        const output = yield* startSingle(Smtp, smtpConfig(from, { authmechanism, user: smtpUser, password: smtpPassword }))
        yield* output.send(referenceEvent)
        const mail = receivedFrom(from)
        expect(mail.user).toBe(smtpUser)
        expect(mail.authMethod).toBe(authmechanism.toUpperCase())
      }
    }))

  it.scoped("plain without credentials sends no AUTH (falcosidekick's default against an open relay)", () =>
    Effect.gen(function*() {
      const from = "noauth@example.com"
      const output = yield* startSingle(Smtp, smtpConfig(from, { authmechanism: "plain" }))
      yield* output.send(referenceEvent)
      expect(receivedFrom(from).user).toBeUndefined()
      expect(receivedFrom(from).authMethod).toBeUndefined()
    }))

  it.scoped("a wrong password is a permanent failure whose message holds no secret", () =>
    Effect.gen(function*() {
      for (const authmechanism of ["plain", "login", "cram-md5"] as const) {
        const wrong = `wrong-${smtpPassword}`
        const from = `badauth-${authmechanism}@example.com`
        const output = yield* startSingle(Smtp, smtpConfig(from, { authmechanism, user: smtpUser, password: wrong }))
        const error = yield* failure(output.send(referenceEvent))
        expect(error.reason).toBe("Rejected")
        expect(error.status).toBe(535)
        expect(error.retryable).toBe(false)
        expect(defaultClassify(error)._tag).toBe("Drop")
        expect(error.message).toContain("535")
        expect(error.message).not.toContain(wrong)
        expect(error.message).not.toContain(Buffer.from(`\u0000${smtpUser}\u0000${wrong}`).toString("base64"))
        expect(error.message).not.toContain(Buffer.from(wrong).toString("base64"))
        expect(received.some((r) => r.from === from)).toBe(false)
      }
    }))

  it.scoped("a mechanism the server does not offer is refused permanently, the token kept out of the message", () =>
    Effect.gen(function*() {
      const token = "ya29.secret-bearer-token"
      for (const authmechanism of ["external", "oauthbearer"] as const) {
        const output = yield* startSingle(Smtp, smtpConfig(`${authmechanism}@example.com`, { authmechanism, identity: "falco", user: smtpUser, token }))
        const error = yield* failure(output.send(referenceEvent))
        expect(error.reason).toBe("Rejected")
        expect(error.message).toContain(`AUTH ${authmechanism.toUpperCase()}`)
        expect(error.status).toBeGreaterThanOrEqual(500)
        expect(error.retryable).toBe(false)
        expect(error.message).not.toContain(token)
      }
    }))

  it.scoped("STARTTLS: checkcert true refuses the test CA's certificate (retryable), checkcert false delivers over TLS", () =>
    Effect.gen(function*() {
      const checked = yield* startSingle(Smtp, smtpConfig("tls-checked@example.com", { tls: true }))
      const error = yield* failure(checked.send(referenceEvent))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.message.toLowerCase()).toMatch(/certificate/)
      expect(received.some((r) => r.from === "tls-checked@example.com")).toBe(false)

      const from = "tls-unchecked@example.com"
      const unchecked = yield* startSingle(Smtp, smtpConfig(from, { tls: true, checkcert: false, authmechanism: "plain", user: smtpUser, password: smtpPassword }))
      yield* unchecked.send(referenceEvent)
      const mail = receivedFrom(from)
      expect(mail.secure).toBe(true)
      expect(mail.user).toBe(smtpUser)
      expect(mail.raw.toString("utf8")).toBe(onTheWire(referenceMessage(from, "ops@example.com")))
    }))

  it.scoped("a 451 to RCPT is retryable, a 550 permanent", () =>
    Effect.gen(function*() {
      const deferred = yield* startSingle(Smtp, smtpConfig("rcpt451@example.com", { to: "defer@example.com" }))
      const retry = yield* failure(deferred.send(referenceEvent))
      expect(retry.reason).toBe("Transport")
      expect(retry.status).toBe(451)
      expect(retry.retryable).toBe(true)
      expect(defaultClassify(retry)._tag).toBe("Retry")

      const unknown = yield* startSingle(Smtp, smtpConfig("rcpt550@example.com", { to: "unknown@example.com" }))
      const drop = yield* failure(unknown.send(referenceEvent))
      expect(drop.reason).toBe("Rejected")
      expect(drop.status).toBe(550)
      expect(drop.retryable).toBe(false)
      expect(defaultClassify(drop)._tag).toBe("Drop")
      expect(received.some((r) => r.from === "rcpt451@example.com" || r.from === "rcpt550@example.com")).toBe(false)
    }))

  it.scoped("one refused recipient among several: the others get the mail, the refusal is reported and not retried", () =>
    Effect.gen(function*() {
      const from = "partial@example.com"
      const output = yield* startSingle(Smtp, smtpConfig(from, { to: "ops@example.com, unknown@example.com" }))
      const error = yield* failure(output.send(referenceEvent))
      expect(error.reason).toBe("Rejected")
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("unknown@example.com")
      expect(error.message).toContain("550")
      expect(receivedFrom(from).to).toEqual(["ops@example.com"])
    }))

  it.scoped("a refused connection is retryable", () =>
    Effect.gen(function*() {
      const output = yield* startSingle(Smtp, config(SmtpConfig, { hostport: "127.0.0.1:1", from: "f@x", to: "t@x", tls: false }))
      const error = yield* failure(output.send(referenceEvent))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.status).toBeUndefined()
    }))
})
