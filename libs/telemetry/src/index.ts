export * as Logging from "./Logging.js"
export * from "./Metrics.js"
export * from "./Tracing.js"
