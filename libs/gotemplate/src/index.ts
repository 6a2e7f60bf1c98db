export {
  compileTemplate,
  GoFloat,
  goStruct,
  type GoTemplate,
  mustCompileTemplate,
  type TemplateFunction,
  type TemplateResult
} from "./GoTemplate.js"
export { compareBytewise, utf8Length } from "./Utf8.js"
