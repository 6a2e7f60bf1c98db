import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { LosslessNumber, parse } from "lossless-json"
import { compileTemplate, goStruct, mustCompileTemplate, type TemplateFunction } from "../src/index.js"

/**
 * JSON decoded the way Sidekick decodes Falco events: a number literal that survives a round trip through a JS number
 * is a number, any other (`1700000000408091526`) a `LosslessNumber` keeping its exact text.
 */
const parseJson = (text: string): unknown =>
  parse(text, null, (literal) => String(Number(literal)) === literal ? Number(literal) : new LosslessNumber(literal))

const fields = parseJson(
  `{"evt.time":1700000000408091526,"k8s.ns.name":"default","proc.tty":34816,"z":null,"list":["a",1,null],"m":{"b":2,"a":"x"},"t":true,"f":false,"empty":""}`
)
const data = {
  Rule: "Terminal shell",
  Output: "out <NA>",
  OutputFields: fields,
  Tags: ["container", "shell"],
  NoTags: [],
  A: { B: { C: "deep" } }
}

const render = (source: string, d: unknown = data, funcs?: Record<string, TemplateFunction>): string => {
  const t = compileTemplate(source, funcs)
  if (Either.isLeft(t)) throw new Error(t.left)
  const r = t.right.execute(d)
  if (r.error !== undefined) throw new Error(r.error)
  return r.output
}
const compileError = (source: string): string => {
  const t = compileTemplate(source)
  if (Either.isRight(t)) throw new Error("compiled")
  return t.left
}
const execError = (source: string, d: unknown = data): { output: string; error: string | undefined } => {
  const t = compileTemplate(source)
  if (Either.isLeft(t)) throw new Error(t.left)
  return t.right.execute(d)
}

describe("GoTemplate", () => {
  it("mustCompileTemplate: a built-in template compiles or throws with the reason (Go's template.Must)", () => {
    expect(mustCompileTemplate("{{ shout . }}", { shout: (s) => `${String(s)}!` }).render("hi")).toBe("hi!")
    expect(() => mustCompileTemplate("{{ .Rule ")).toThrow(/built-in template does not compile: template: /)
  })

  it("prints fields and nested fields", () => {
    expect(render("Rule: {{ .Rule }} / {{.Output}} / {{ .A.B.C }}")).toBe("Rule: Terminal shell / out <NA> / deep")
  })

  it("prints missing map keys as <no value>", () => {
    expect(render("{{ .Missing }}|{{ .A.Missing.Deeper }}|{{ index .OutputFields \"nope\" }}|{{ .OutputFields.z }}")).toBe(
      "<no value>|<no value>|<no value>|<no value>"
    )
  })

  it("index reads map keys with dots, json numbers print verbatim", () => {
    expect(render("{{ index .OutputFields \"k8s.ns.name\" }} {{ index .OutputFields \"evt.time\" }}")).toBe(
      "default 1700000000408091526"
    )
    expect(render("{{ index .Tags 1 }} {{ index .OutputFields \"m\" \"a\" }}")).toBe("shell x")
  })

  it("the templatedfields example: or + index over the output_fields map", () => {
    expect(render("{{ or (index . \"k8s.ns.name\") \"none\" }}", fields)).toBe("default")
    expect(render("{{ or (index . \"k8s.pod.name\") \"none\" }}", fields)).toBe("none")
  })

  it("prints values as Go's fmt does", () => {
    expect(render("{{ .OutputFields.list }} {{ .OutputFields.m }} {{ .OutputFields.t }} {{ .Tags }} {{ .NoTags }}")).toBe(
      "[a 1 <nil>] map[a:x b:2] true [container shell] []"
    )
    expect(render("{{ 42 }} {{ -7 }} {{ 1.5 }} {{ 1e6 }} {{ 'a' }} {{ \"q\" }} {{ `raw` }} {{ true }}")).toBe(
      "42 -7 1.5 1e+06 97 q raw true"
    )
  })

  it("and, or, not (short-circuit, returning operands)", () => {
    expect(render("{{ and .Rule .Output }}|{{ and .OutputFields.empty .Rule }}|{{ or .OutputFields.empty .Missing \"x\" }}")).toBe(
      "out <NA>||x"
    )
    expect(render("{{ not .OutputFields.t }} {{ not .OutputFields.f }} {{ not .Missing }}")).toBe("false true true")
    // a json.Number is a string to Go: always true, even 0
    expect(render("{{ if index . \"n\" }}yes{{ end }}", parseJson(`{"n":0}`))).toBe("yes")
  })

  it("eq, ne, lt, le, gt, ge", () => {
    expect(render("{{ eq .Rule \"Terminal shell\" }} {{ eq .Rule \"a\" \"Terminal shell\" }} {{ ne .Rule \"x\" }}")).toBe(
      "true true true"
    )
    // json.Number compares as its literal text
    expect(render("{{ eq (index .OutputFields \"proc.tty\") \"34816\" }}")).toBe("true")
    expect(render("{{ eq .Missing \"x\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 3 }}")).toBe(
      "false true true true false"
    )
    expect(execError("{{ eq 1 \"a\" }}").error).toBe(
      "template: executing {{ eq 1 \"a\" }}: error calling eq: incompatible types for comparison"
    )
  })

  it("len", () => {
    expect(render("{{ len .Tags }} {{ len .OutputFields.m }} {{ len \"héllo\" }} {{ len (index .OutputFields \"proc.tty\") }}")).toBe(
      "2 2 6 5"
    )
  })

  it("len of a string counts its UTF-8 bytes, 4 for a character above U+FFFF", () => {
    expect(render("{{ len \"😀\" }} {{ len \"a😀é\" }}")).toBe("4 7")
  })

  it("printf %s %v %d %q and friends", () => {
    expect(render("{{ printf \"%s|%v|%d|%q|%5s|%-3s|%03d|%%|%t\" .Rule .Tags 42 .Output \"ab\" \"c\" 7 true }}")).toBe(
      "Terminal shell|[container shell]|42|\"out <NA>\"|   ab|c  |007|%|true"
    )
    expect(render("{{ printf \"%d %s\" \"x\" }}|{{ printf \"x\" 1 }}|{{ printf \"%v %s\" .Missing nil }}")).toBe(
      "%!d(string=x) %!s(MISSING)|x%!(EXTRA int=1)|<nil> %!s(<nil>)"
    )
    expect(render("{{ printf \"%q\" \"a\\tb\\\"\" }}")).toBe("\"a\\tb\\\"\"")
  })

  it("pipes", () => {
    expect(render("{{ .Rule | printf \"%s!\" }} {{ .Rule | printf \"%s-%s\" \"x\" }} {{ .Tags | len }}")).toBe(
      "Terminal shell! x-Terminal shell 2"
    )
  })

  it("if / else if / else / end", () => {
    const t = "{{ if eq .Rule \"a\" }}A{{ else if eq .Rule \"Terminal shell\" }}T{{ else }}E{{ end }}"
    expect(render(t)).toBe("T")
    expect(render(t, { Rule: "a" })).toBe("A")
    expect(render(t, { Rule: "z" })).toBe("E")
    expect(render("{{ if .Missing }}x{{ end }}|{{ if .NoTags }}x{{ else }}none{{ end }}")).toBe("|none")
  })

  it("range over lists and maps (sorted keys), with else, break and continue", () => {
    expect(render("{{ range .Tags }}[{{ . }}]{{ end }}")).toBe("[container][shell]")
    expect(render("{{ range $i, $t := .Tags }}{{ $i }}={{ $t }} {{ end }}")).toBe("0=container 1=shell ")
    expect(render("{{ range $t := .Tags }}{{ $t }};{{ end }}")).toBe("container;shell;")
    expect(render("{{ range $k, $v := .OutputFields.m }}{{ $k }}:{{ $v }} {{ end }}")).toBe("a:x b:2 ")
    expect(render("{{ range $k, $v := . }}{{ $k }},{{ end }}", { b: 1, "10": 2, a: 3, "2": 4 })).toBe("10,2,a,b,")
    expect(render("{{ range .NoTags }}x{{ else }}no tags{{ end }}")).toBe("no tags")
    expect(render("{{ range .Missing }}x{{ else }}nil{{ end }}")).toBe("nil")
    expect(render("{{ range .OutputFields.list }}{{ if eq . \"a\" }}{{ continue }}{{ end }}{{ . }};{{ end }}")).toBe("1;<no value>;")
    expect(render("{{ range .Tags }}{{ . }}{{ break }}{{ end }}")).toBe("container")
    expect(render("{{ range $i, $t := .Tags }}{{ $.Rule }}{{ end }}")).toBe("Terminal shellTerminal shell")
  })

  it("with / else", () => {
    expect(render("{{ with .A.B }}{{ .C }}{{ end }}|{{ with .Missing }}x{{ else }}none{{ end }}")).toBe("deep|none")
    expect(render("{{ with $x := .Rule }}{{ $x }}{{ end }}")).toBe("Terminal shell")
  })

  it("variables: declare, assign, scope", () => {
    expect(render("{{ $r := .Rule }}{{ $r }} {{ $r = \"changed\" }}{{ $r }}")).toBe("Terminal shell changed")
    expect(render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}")).toBe("32")
    expect(compileError("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}")).toBe("template: line 1: undefined variable \"$y\"")
  })

  it("trims with {{- and -}} and ignores comments", () => {
    expect(render("a  \n {{- .Rule -}} \n  b")).toBe("aTerminal shellb")
    expect(render("a {{/* a comment */}} b {{- /* trimmed */ -}} c")).toBe("a  bc")
    expect(render("{{-3}}")).toBe("-3")
  })

  it("calls caller-supplied functions", () => {
    expect(render("{{ shout .Rule }}", data, { shout: (s) => String(s).toUpperCase() })).toBe("TERMINAL SHELL")
  })

  it("structs refuse unknown fields, maps do not", () => {
    const s = goStruct("types.FalcoPayload", { Rule: "r" })
    expect(render("{{ .Rule }}", s)).toBe("r")
    expect(execError("x{{ .Foo }}", s)).toEqual({
      output: "x",
      error: "template: executing {{ .Foo }}: can't evaluate field Foo in type types.FalcoPayload"
    })
  })

  it("keeps the partial output on execution errors", () => {
    expect(execError("before {{ .OutputFields.z.x }} after")).toEqual({
      output: "before ",
      error: "template: executing {{ .OutputFields.z.x }}: nil pointer evaluating interface {}.x"
    })
    expect(execError("{{ index .Tags 5 }}").error).toBe(
      "template: executing {{ index .Tags 5 }}: error calling index: index out of range: 5"
    )
  })

  it.each([
    ["{{ foo }}", "template: line 1: function \"foo\" not defined"],
    ["{{ if .A }}x", "template: line 1: unexpected EOF"],
    ["x\n{{ end }}", "template: line 2: unexpected {{end}}"],
    ["{{ else }}", "template: line 1: unexpected {{else}}"],
    ["{{ .A", "template: line 1: unclosed action"],
    ["{{ }}", "template: line 1: missing value for command"],
    ["{{ if }}{{ end }}", "template: line 1: missing value for if"],
    ["{{ $x }}", "template: line 1: undefined variable \"$x\""],
    ["{{ break }}", "template: line 1: {{break}} outside {{range}}"],
    ["{{ \"unterminated }}", "template: line 1: unterminated quoted string"],
    ["{{ template \"x\" }}", "template: line 1: {{template}} is not supported"],
    ["{{ nil }}", "template: line 1: nil is not a command"],
    ["{{/* open", "template: line 1: unclosed comment"]
  ])("compile error for %j", (source, reason) => {
    expect(compileError(source)).toBe(reason)
  })
})
