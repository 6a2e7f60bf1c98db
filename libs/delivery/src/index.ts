export * as CircuitBreaker from "./CircuitBreaker.js"
export * from "./Dispatcher.js"
export * from "./HttpTransport.js"
export * from "./Output.js"
