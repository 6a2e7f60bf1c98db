export * from "./HttpTransport.js"
export * from "./Output.js"
