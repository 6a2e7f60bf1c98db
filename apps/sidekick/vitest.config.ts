import { defineConfig, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

// the process tests wait for whole node processes to start (see test/processes.ts `waitUntil`)
export default mergeConfig(shared, defineConfig({ test: { testTimeout: 90_000 } }))
