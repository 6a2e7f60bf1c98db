export * as SegmentLog from "./SegmentLog.js"
