export {
  compileTemplate,
  GoFloat,
  goStruct,
  type GoTemplate,
  mustCompileTemplate,
  type TemplateFunction,
  type TemplateResult
} from "./GoTemplate.js"
/** Go's `fmt.Sprint(x)` / `%v` of one value of the template value model (numbers keep their digits, null is `<nil>`) */
export { formatV as sprintV } from "./internal/format.js"
export { compareBytewise, utf8Length } from "./Utf8.js"
