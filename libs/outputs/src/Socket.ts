/** What the outputs over their own sockets share (SMTP, Syslog, Logstash, StatsD): addresses and error text. */

/** `host:port` (falcosidekick requires the port); an IPv6 host may be bracketed */
export const parseHostPort = (hostport: string): { readonly host: string; readonly port: number } | undefined => {
  const m = /^(.*):([0-9]+)$/.exec(hostport)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  const host = m[1]!.startsWith("[") && m[1]!.endsWith("]") ? m[1]!.slice(1, -1) : m[1]!
  return { host, port }
}

/** a socket error as one line: its code (ECONNREFUSED, EPIPE...) before its message when the message lacks it */
export const describeSocketError = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as Error & { code?: string }).code
  return code !== undefined && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message
}
