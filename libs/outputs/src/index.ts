/**
 * The outputs: their registry, and the kit to declare one. Each output's payload builders are its own
 * module's business (tests import them from the module).
 */
export * from "./Definition.js"
export * from "./OutputConfig.js"
export { outputs } from "./registry.js"
