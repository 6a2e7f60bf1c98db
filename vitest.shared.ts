import { defineConfig } from "vitest/config"

// Shared by every project's vitest.config.ts. The custom condition makes "@sidekick/*"
// resolve to each lib's src/index.ts, so tests run without a build step.
export default defineConfig({
  resolve: { conditions: ["@sidekick/source"] },
  ssr: { resolve: { conditions: ["@sidekick/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
