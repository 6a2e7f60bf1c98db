/** The two failures of a template: compiling it (a `Left`) and executing it (`TemplateResult.error`). */

/** A lex or parse error; its message is the one-line reason (`template: line 1: ...`). */
export class TemplateError extends Error {}

/** An execution error; its message is prefixed with `template: executing ` when reported. */
export class ExecError extends Error {}
