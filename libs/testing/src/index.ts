export * from "./Receiver.js"
export * from "./Tls.js"
export * from "./fixtures.js"
