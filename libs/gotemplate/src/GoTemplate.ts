/**
 * A Go `text/template` subset, compiled once and rendered many times (per event, for Sidekick's outputs and
 * templated fields).
 *
 * Why our own: `@ctrl/golang-template` 2.0.1 (evaluated from its dist source) recognises a fixed list of tag shapes
 * (`{{ .a.b }}`, `{{ if and .a .b }}`, `{{ index .m "k" }}`...) by string prefix. It has no pipelines (`x | printf`),
 * no nested calls (`or (index . "k8s.ns.name") "none"`, the templatedfields example), no `{{-`/`-}}` trimming,
 * no variables, no `eq`/`ne`/`len`/`printf`, no `else if`, and it prints values JS-style (no `<no value>`, no
 * `[a b]`). The subset below is small enough for a hand-written lexer, parser and tree-walking evaluator.
 *
 * Supported: text and `{{ }}` actions; `{{-`/`-}}` trimming; `{{/* comments *\/}}`; `.`, `.A.B`, `$`, `$x.A`,
 * `(pipeline).A`; string ("..", `..`), char, integer, float, bool and nil constants; pipelines with `|`;
 * `$x := pipeline`, `$x = pipeline`; `if`/`else if`/`else with`/`else`/`end`; `range` over lists, maps (sorted keys)
 * and integers with `$v :=` or `$k, $v :=`, `break`, `continue`; `with`; functions `and` `or` (short-circuit) `not`
 * `eq` `ne` `lt` `le` `gt` `ge` `len` `index` `print` `printf` `println` plus caller-supplied functions.
 * Not supported (compile error): `define`, `template`, `block`, method calls.
 *
 * Value model (how JS values stand for Go values):
 * - string: Go string;  number / LosslessNumber: `json.Number` (a Go *string* kind: always truthy, `eq` compares the
 *   literal text, prints verbatim);  bigint: Go int (template integer literals, `len`, range indexes);
 *   `GoFloat`: Go float64 (template float literals);  boolean: bool;  null: nil;  undefined: a missing map key
 *   (Go's invalid value, printed `<no value>`);  arrays: `[]interface{}`;  plain objects: `map[string]interface{}`
 *   (or a struct when built with `goStruct`);  other objects: values printed with their `toString()` (Go Stringer).
 *
 * This module is the public API; the machinery lives under `internal/`: `lexer`, `parser`, `exec` (the evaluator),
 * `builtins` (the predefined functions), `format` (Go `fmt`/`strconv` printing) and `value` (the value model).
 */
import { Either } from "effect"
import * as internal from "./internal/goTemplate.js"
import * as value from "./internal/value.js"

/** A Go float64 produced by a template literal such as `1.5`; prints as Go's `%v` of a float64 (`1e+06`). */
export const GoFloat: typeof value.GoFloat = value.GoFloat
export type GoFloat = value.GoFloat

export interface TemplateResult {
  readonly output: string
  /** the execution error, Go-style; `output` then holds what was written before it (Go keeps the partial output) */
  readonly error: string | undefined
}

export interface GoTemplate {
  /** Execute; on an execution error, the output written so far (Go semantics for partially executed templates). */
  readonly render: (data: unknown) => string
  readonly execute: (data: unknown) => TemplateResult
}

export type TemplateFunction = (...args: Array<unknown>) => unknown

/** Mark an object as a Go struct: accessing a field it does not have is an execution error (maps give `<no value>`). */
export const goStruct: <T extends object>(name: string, fields: T) => T = value.goStruct

/**
 * Compile a Go text/template source once. Left: a one-line reason (`template: line 1: function "foo" not defined`).
 * `funcs` adds functions callable by name (Go `Funcs`), for instance an output's escaping helper.
 */
export const compileTemplate: (
  source: string,
  funcs?: Readonly<Record<string, TemplateFunction>>
) => Either.Either<GoTemplate, string> = internal.compile

/**
 * Compile a template that is part of the program (an output's fixed message), throwing if it does not
 * compile: Go's `template.Must`. A user's template goes through `compileTemplate`, whose reason names the key.
 */
export const mustCompileTemplate = (source: string, funcs?: Readonly<Record<string, TemplateFunction>>): GoTemplate =>
  Either.getOrThrowWith(internal.compile(source, funcs), (reason) => new Error(`built-in template does not compile: ${reason}`))
