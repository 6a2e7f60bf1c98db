export * from "./Receiver.js"
export * from "./Tls.js"
