export * from "./Receiver.js"
export * from "./Env.js"
export * from "./Tls.js"
export * from "./fixtures.js"
