/** `compileTemplate`: lex and parse once, then execute the tree per call. */
import { Either } from "effect"
import type { GoTemplate, TemplateFunction, TemplateResult } from "../GoTemplate.js"
import { ExecError, TemplateError } from "./errors.js"
import { Exec } from "./exec.js"
import { lex } from "./lexer.js"
import { type Node, Parser } from "./parser.js"

/** See `compileTemplate` in `GoTemplate.ts`. */
export const compile = (
  source: string,
  funcs: Readonly<Record<string, TemplateFunction>> = {}
): Either.Either<GoTemplate, string> => {
  let nodes: ReadonlyArray<Node>
  try {
    nodes = new Parser(lex(source), funcs).parseTemplate()
  } catch (e) {
    if (e instanceof TemplateError) return Either.left(e.message)
    throw e
  }
  const execute = (data: unknown): TemplateResult => {
    const exec = new Exec(data, funcs)
    try {
      exec.list(data, nodes)
      return { output: exec.out, error: undefined }
    } catch (e) {
      if (e instanceof ExecError) return { output: exec.out, error: `template: executing ${e.message}` }
      if (e instanceof RangeError) return { output: exec.out, error: `template: ${e.message}` }
      throw e
    }
  }
  // fast path for constant templates ("text only")
  if (nodes.every((n) => n.k === "text")) {
    const text = nodes.map((n) => (n as { text: string }).text).join("")
    return Either.right({ render: () => text, execute: () => ({ output: text, error: undefined }) })
  }
  return Either.right({ render: (data) => execute(data).output, execute })
}
